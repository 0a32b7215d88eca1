//! JSON files: JSON has none of YAML's ambiguity, so they are parsed,
//! changed and written back whole, pretty-printed with the key order kept.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize as _, Serialize};
use serde_json::Value;

use imagestream_core::manifest::yaml::DocHead;

use crate::store::directory::error::{WriteError, not_found, unsupported};

pub(super) fn parse_json(text: &str, path: &Path) -> Result<Value, WriteError> {
    serde_json::from_str(text).map_err(|e| {
        unsupported(
            path,
            format!("{} does not parse as JSON: {e}", path.display()),
        )
    })
}

pub(super) fn pretty_json(value: &Value) -> Result<String, WriteError> {
    let mut out =
        serde_json::to_string_pretty(value).map_err(|e| WriteError::Serialize(e.to_string()))?;
    out.push('\n');
    Ok(out)
}

pub(super) fn list_items_mut(value: &mut Value) -> Option<&mut Vec<Value>> {
    let map = value.as_object_mut()?;
    if map.get("kind").and_then(Value::as_str) != Some("List") {
        return None;
    }
    map.get_mut("items")?.as_array_mut()
}

/// Where the stream is: the item indexes through nested `List`s, empty for
/// the top-level object.
pub(super) fn find_json_stream(
    root: &Value,
    namespace: &str,
    name: &str,
    path: &Path,
) -> Result<Vec<usize>, WriteError> {
    one_trail(
        &index_streams(std::slice::from_ref(root)),
        namespace,
        name,
        path,
    )
}

/// [`find_json_stream`] in an index of the one document made beforehand:
/// a batch of edits indexes the file once.
pub(super) fn one_trail(
    index: &StreamIndex,
    namespace: &str,
    name: &str,
    path: &Path,
) -> Result<Vec<usize>, WriteError> {
    let mut hits: Vec<Vec<usize>> = index
        .get(&(namespace.to_owned(), name.to_owned()))
        .into_iter()
        .flatten()
        .map(|(_, trail)| trail.clone())
        .collect();
    match hits.len() {
        0 => Err(not_found(path, namespace, name)),
        1 => Ok(hits.swap_remove(0)),
        _ => Err(unsupported(
            path,
            format!(
                "ImageStream {namespace}/{name} appears more than once in {}; remove the duplicate",
                path.display()
            ),
        )),
    }
}

/// Where each stream of a file's documents is: (document, item indexes
/// through nested `List`s) under its effective (namespace, name), found in
/// one pass so that a batch of edits does not scan the file once per stream.
pub(super) type StreamIndex = HashMap<(String, String), Vec<(usize, Vec<usize>)>>;

pub(super) fn index_streams(docs: &[Value]) -> StreamIndex {
    fn walk(value: &Value, doc: usize, trail: &mut Vec<usize>, out: &mut StreamIndex) {
        let Some(map) = value.as_object() else {
            return;
        };
        if map.get("kind").and_then(Value::as_str) == Some("List") {
            if let Some(Value::Array(items)) = map.get("items") {
                for (i, item) in items.iter().enumerate() {
                    trail.push(i);
                    walk(item, doc, trail, out);
                    trail.pop();
                }
            }
            return;
        }
        let Ok(head) = DocHead::deserialize(value) else {
            return;
        };
        let ns = head
            .metadata
            .as_ref()
            .and_then(|m| m.namespace.as_deref())
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_owned();
        if let Some(name) = head.name().filter(|n| head.is_stream(&ns, n)) {
            out.entry((ns, name.to_owned()))
                .or_default()
                .push((doc, trail.clone()));
        }
    }
    let mut out = StreamIndex::new();
    for (i, doc) in docs.iter().enumerate() {
        walk(doc, i, &mut Vec::new(), &mut out);
    }
    out
}

pub(super) fn json_at_mut<'v>(root: &'v mut Value, trail: &[usize]) -> Option<&'v mut Value> {
    let mut value = root;
    for &i in trail {
        value = value.get_mut("items")?.get_mut(i)?;
    }
    Some(value)
}

pub(super) fn set_in_json<T: Serialize>(
    text: &str,
    namespace: &str,
    name: &str,
    key: &str,
    value: &T,
    path: &Path,
) -> Result<String, WriteError> {
    let mut root = parse_json(text, path)?;
    let trail = find_json_stream(&root, namespace, name, path)?;
    let new = serde_json::to_value(value).map_err(|e| WriteError::Serialize(e.to_string()))?;
    let object = json_at_mut(&mut root, &trail)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| not_found(path, namespace, name))?;
    // With `preserve_order`, replacing a key keeps its place; a new key goes last.
    object.insert(key.to_owned(), new);
    pretty_json(&root)
}
