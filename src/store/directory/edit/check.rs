//! The check around every YAML edit: the new text, read by serde-saphyr as
//! the directory store reads files, must be the old text's reading with
//! exactly the intended operations applied, and every status written must
//! read back typed as the status meant. oneyaml is trusted to keep bytes;
//! this is what makes sure it kept meaning.

use serde_json::Value;

use imagestream_core::manifest::{Manifest, documents_preserving_lists, parse_file};
use imagestream_core::stream::ImageStreamStatus;

use super::json::{StreamIndex, index_streams};
use super::names::is_named;

/// One stream's intended change: operations relative to the stream object.
pub(super) struct Intended<'a> {
    pub(super) namespace: &'a str,
    pub(super) name: &'a str,
    pub(super) ops: Vec<Value>,
    pub(super) status: Option<&'a ImageStreamStatus>,
}

/// `Err` says how `new` is not `old` plus `changes`.
pub(super) fn reads_as_intended(
    old: &str,
    new: &str,
    changes: &[Intended<'_>],
) -> Result<(), String> {
    let after = documents_preserving_lists(new, false)
        .map_err(|e| format!("the edited file would not parse ({e})"))?;
    // A file whose untyped reading fails (a value JSON cannot hold, such as
    // `.nan`) is checked by the typed reading below only.
    if let Ok(mut expected) = documents_preserving_lists(old, false) {
        let index = index_streams(&expected);
        for change in changes {
            apply(&mut expected, &index, change)?;
        }
        if expected != after {
            return Err("its other fields would change".into());
        }
    }
    if changes.iter().all(|c| c.status.is_none()) {
        return Ok(());
    }
    let typed =
        parse_file(new, false).map_err(|e| format!("the edited file would not parse ({e})"))?;
    for change in changes {
        let Some(status) = change.status else {
            continue;
        };
        let back = typed.iter().find_map(|m| match m {
            Manifest::Stream(is) if is_named(is, change.namespace, change.name) => {
                Some(is.status.clone().unwrap_or_default())
            }
            _ => None,
        });
        if back.as_ref() != Some(status) {
            return Err("the new status would not read back as written".into());
        }
    }
    Ok(())
}

fn apply(docs: &mut [Value], index: &StreamIndex, change: &Intended<'_>) -> Result<(), String> {
    let key = (change.namespace.to_owned(), change.name.to_owned());
    let Some([(i, trail)]) = index.get(&key).map(Vec::as_slice) else {
        return Err("the stream is not found once in the file's untyped reading".into());
    };
    let i = *i;
    let base: String = trail.iter().map(|n| format!("/items/{n}")).collect();
    let ops: Vec<Value> = change
        .ops
        .iter()
        .map(|op| {
            let mut op = op.clone();
            if let Some(p) = op.get("path").and_then(Value::as_str) {
                op["path"] = Value::String(format!("{base}{p}"));
            }
            op
        })
        .collect();
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(ops)).map_err(|e| e.to_string())?;
    json_patch::patch(&mut docs[i], &patch).map_err(|e| e.to_string())
}

/// `Err` says how `new` is not `old` without the stream NS/NAME.
pub(super) fn reads_as_removed(
    old: &str,
    new: &str,
    namespace: &str,
    name: &str,
) -> Result<(), String> {
    let mut expected = documents_preserving_lists(old, false).map_err(|e| e.to_string())?;
    let after = documents_preserving_lists(new, false)
        .map_err(|e| format!("the edited file would not parse ({e})"))?;
    let hits = index_streams(&expected)
        .remove(&(namespace.to_owned(), name.to_owned()))
        .unwrap_or_default();
    let [(i, trail)] = hits.as_slice() else {
        return Err("the stream is not found once in the file's untyped reading".into());
    };
    let i = *i;
    match trail.split_last() {
        None => {
            expected.remove(i);
        }
        Some((last, parent)) => {
            let mut list = &mut expected[i];
            for n in parent {
                list = list
                    .get_mut("items")
                    .and_then(|items| items.get_mut(*n))
                    .ok_or("the List changed shape")?;
            }
            list.get_mut("items")
                .and_then(Value::as_array_mut)
                .filter(|items| *last < items.len())
                .ok_or("the List changed shape")?
                .remove(*last);
        }
    }
    if expected != after {
        return Err("the other documents would change".into());
    }
    Ok(())
}
