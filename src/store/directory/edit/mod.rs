//! The editor: a stream's top-level key (`status`, `spec`) set in a file's
//! text, every other byte kept. Text in, text out: may use the core and
//! `error`, no file I/O.
//!
//! # Why oneyaml
//!
//! Re-serializing a file through an untyped YAML value would drop the user's
//! comments and formatting and change what the file means (an untyped parse
//! reads a tag named `1.10` as the number 1.1). YAML files are therefore
//! edited by oneyaml, a maintained format-preserving editor: it applies RFC
//! 6902 operations to one document of a multi-document file and keeps every
//! byte outside what they replace, comments included. It replaced a
//! hand-written line editor (1,300 lines) that refused `kind: List` files,
//! which is what `oc get is -o yaml` exports; oneyaml edits a stream inside a
//! List as well (issue 17, evaluated on 28 edit cases against four crates).
//! Its YAML 1.1 settings quote `on`, `yes`, `12:30` and `1_000` so that they
//! stay strings for every reader.
//!
//! # What is checked around it
//!
//! Every edit is read back (`check`): serde-saphyr, reading as the directory
//! store does, must find the old file plus exactly the intended operations,
//! and a written status must read back typed as meant; anything else is a
//! [`WriteError::UnsupportedLayout`] and the file is not written. A status
//! write changes only the tags that changed (`status`); if that reads back
//! wrong, the whole status is written instead. The status precondition
//! (`Changed`) and the atomic write live in `write` and `atomic`.
//!
//! # JSON
//!
//! JSON has none of YAML's ambiguity, so JSON files are parsed, changed and
//! written back whole, pretty-printed with the key order kept.

mod check;
mod json;
mod names;
mod status;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use imagestream_core::manifest::{Manifest, documents_preserving_lists, parse_file};
use imagestream_core::stream::{ImageStream, ImageStreamStatus};

use crate::store::directory::error::{WriteError, not_found, unsupported};
use check::{Intended, reads_as_intended};
use json::*;
use names::{effective_namespace, is_named};
pub(super) use status::Detail;
use yaml::Yaml;

fn split_bom(text: &str) -> (&str, &str) {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    }
}

fn line_ending(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// The stream NS/NAME as the directory store reads it.
pub(super) fn stored_stream(
    text: &str,
    json: bool,
    namespace: &str,
    name: &str,
    path: &Path,
) -> Result<Arc<ImageStream>, WriteError> {
    let namespace = effective_namespace(namespace);
    let (_, body) = split_bom(text);
    let objects = parse_file(body, json)
        .map_err(|e| unsupported(path, format!("{}: {e}", path.display())))?;
    let mut found = objects.into_iter().filter_map(|m| match m {
        Manifest::Stream(is) if is_named(&is, namespace, name) => Some(is),
        _ => None,
    });
    match (found.next(), found.next()) {
        (Some(is), None) => Ok(is),
        (None, _) => Err(not_found(path, namespace, name)),
        (Some(_), Some(_)) => Err(unsupported(
            path,
            format!(
                "ImageStream {namespace}/{name} appears more than once in {}; remove the duplicate",
                path.display()
            ),
        )),
    }
}

/// Every stream of a file, as the directory store reads them.
pub(super) fn all_streams(
    text: &str,
    json: bool,
    path: &Path,
) -> Result<Vec<Arc<ImageStream>>, WriteError> {
    let (_, body) = split_bom(text);
    let objects = parse_file(body, json)
        .map_err(|e| unsupported(path, format!("{}: {e}", path.display())))?;
    Ok(objects
        .into_iter()
        .filter_map(|m| match m {
            Manifest::Stream(is) => Some(is),
            _ => None,
        })
        .collect())
}

/// Sets the status of every listed stream in one pass over the text.
pub(super) fn set_statuses(
    text: &str,
    json: bool,
    statuses: &[(&str, &str, &ImageStreamStatus)],
    path: &Path,
) -> Result<String, WriteError> {
    let to_value = |s: &ImageStreamStatus| {
        serde_json::to_value(s).map_err(|e| WriteError::Serialize(e.to_string()))
    };
    if statuses.is_empty() {
        return Ok(text.to_owned());
    }
    if json {
        // Parsed and printed once, however many streams change.
        let mut root = parse_json(text, path)?;
        // Writing statuses moves no stream: the index made once serves all.
        let index = index_streams(std::slice::from_ref(&root));
        for (namespace, name, status) in statuses {
            let namespace = effective_namespace(namespace);
            let trail = one_trail(&index, namespace, name, path)?;
            let object = json_at_mut(&mut root, &trail)
                .and_then(Value::as_object_mut)
                .ok_or_else(|| not_found(path, namespace, name))?;
            object.insert("status".to_owned(), to_value(status)?);
        }
        return pretty_json(&root);
    }
    let changes = statuses
        .iter()
        .map(|(namespace, name, status)| {
            Ok(Change {
                namespace: effective_namespace(namespace),
                name,
                key: "status",
                value: to_value(status)?,
            })
        })
        .collect::<Result<Vec<_>, WriteError>>()?;
    set_in_yaml(text, &changes, path)
}

/// One top-level key of one stream, to be set.
pub(super) struct Change<'a> {
    pub(super) namespace: &'a str,
    pub(super) name: &'a str,
    pub(super) key: &'a str,
    pub(super) value: Value,
}

pub(super) fn set_field<T: Serialize>(
    text: &str,
    json: bool,
    namespace: &str,
    name: &str,
    key: &str,
    value: &T,
    path: &Path,
) -> Result<String, WriteError> {
    check_key(key)?;
    let namespace = effective_namespace(namespace);
    if json {
        return set_in_json(text, namespace, name, key, value, path);
    }
    let value = serde_json::to_value(value).map_err(|e| WriteError::Serialize(e.to_string()))?;
    set_in_yaml(
        text,
        &[Change {
            namespace,
            name,
            key,
            value,
        }],
        path,
    )
}

/// Sets every change in one pass over the text: the file is parsed, edited
/// and checked once however many streams change.
pub(super) fn set_in_yaml(
    text: &str,
    changes: &[Change<'_>],
    path: &Path,
) -> Result<String, WriteError> {
    // From the finest edit to the coarsest: a tag's changed keys, a changed
    // tag whole, the whole status. oneyaml refuses an edit that would give a
    // comment to another owner; the check refuses one that reads wrong.
    let mut last = None;
    for detail in [Detail::Keys, Detail::Tags, Detail::Whole] {
        match edit_yaml(text, changes, detail, path) {
            Err(e @ WriteError::UnsupportedLayout { .. }) => last = Some(e),
            done => return done,
        }
    }
    Err(last.unwrap_or_else(|| unsupported(path, format!("{} cannot be updated", path.display()))))
}

/// `value` as a stream status, if that is all it is: what a status write
/// changes can then be told apart from what it keeps.
fn as_status(value: &Value) -> Option<ImageStreamStatus> {
    let status = ImageStreamStatus::deserialize(value).ok()?;
    (serde_json::to_value(&status).ok()? == *value).then_some(status)
}

fn edit_yaml(
    text: &str,
    changes: &[Change<'_>],
    detail: Detail,
    path: &Path,
) -> Result<String, WriteError> {
    let (bom, body) = split_bom(text);
    let mut yaml = Yaml::parse(body, path)?;
    let old_docs = documents_preserving_lists(body, false).ok();
    let untyped_index = old_docs.as_deref().map(index_streams);
    let typed = parse_file(body, false).ok();
    // Every lookup below is in maps made in one pass: a batch of edits to a
    // file of thousands of streams never scans the file once per stream.
    let typed_status: HashMap<(String, String), Option<ImageStreamStatus>> = typed
        .iter()
        .flatten()
        .filter_map(|m| match m {
            Manifest::Stream(is) => Some((
                (
                    effective_namespace(is.metadata.namespace.as_deref().unwrap_or_default())
                        .to_owned(),
                    is.metadata.name.clone()?,
                ),
                is.status.clone(),
            )),
            _ => None,
        })
        .collect();
    let places = yaml.places();
    let statuses: Vec<Option<ImageStreamStatus>> = changes
        .iter()
        .map(|c| (c.key == "status").then(|| as_status(&c.value)).flatten())
        .collect();
    let mut intended = Vec::with_capacity(changes.len());
    for (change, new_status) in changes.iter().zip(&statuses) {
        check_key(change.key)?;
        let namespace = effective_namespace(change.namespace);
        let place = yaml::one_place(&places, namespace, change.name, path)?;
        let key = (namespace.to_owned(), change.name.to_owned());
        let current = match (&old_docs, &untyped_index) {
            (Some(docs), Some(index)) => untyped_stream(docs, index, &key),
            _ => None,
        }
        .and_then(|s| s.get(change.key).cloned());
        let old_status = typed_status.get(&key).cloned();
        let whole = || {
            vec![
                serde_json::json!({"op": "add", "path": format!("/{}", change.key), "value": change.value}),
            ]
        };
        let ops = match (new_status, old_status) {
            (Some(new), Some(Some(old))) if *new == old => Vec::new(),
            (Some(new), Some(Some(old)))
                if detail != Detail::Whole && yaml.has(&place, "status") =>
            {
                status::ops("/status", &old, new, yaml.tags_len(&place), detail)
                    .unwrap_or_else(whole)
            }
            _ if current.as_ref() == Some(&change.value) => Vec::new(),
            // Another key (`spec`): only the fields that differ, so that a
            // `set image-lookup` keeps the comments among the spec's tags.
            (None, _) if detail != Detail::Whole && yaml.is_block_mapping(&place, change.key) => {
                match &current {
                    Some(old) => {
                        let depth = if detail == Detail::Keys { 4 } else { 1 };
                        let mut ops = Vec::new();
                        diff_ops(
                            &format!("/{}", change.key),
                            old,
                            &change.value,
                            depth,
                            &mut ops,
                        );
                        ops
                    }
                    None => whole(),
                }
            }
            _ => whole(),
        };
        if !ops.is_empty() {
            let in_doc: Vec<Value> = ops
                .iter()
                .map(|op| {
                    let mut op = op.clone();
                    if let Some(p) = op.get("path").and_then(Value::as_str) {
                        op["path"] = Value::String(format!("{}{p}", place.base));
                    }
                    op
                })
                .collect();
            yaml.apply(place.document, &in_doc, path)?;
        }
        intended.push(Intended {
            namespace,
            name: change.name,
            ops,
            status: new_status.as_ref(),
        });
    }
    let out = yaml.text();
    if out == body {
        return Ok(text.to_owned());
    }
    reads_as_intended(body, &out, &intended).map_err(|why| {
        unsupported(
            path,
            format!("{} cannot be updated in place: {why}", path.display()),
        )
    })?;
    Ok(format!("{bom}{out}"))
}

/// The JSON Patch that turns `old` into `new` at `at`, descending into
/// mappings present on both sides at most `depth` levels: a mapping's other
/// keys (and their comments) stay untouched; anything else changed is
/// replaced whole.
fn diff_ops(at: &str, old: &Value, new: &Value, depth: usize, ops: &mut Vec<Value>) {
    match (old, new) {
        // A mapping that would lose every key on the way is replaced whole:
        // emptied, oneyaml writes it as `{}` and what is added in flow style.
        (Value::Object(o), Value::Object(n))
            if depth > 0 && o.keys().any(|k| n.contains_key(k)) =>
        {
            let key = |k: &str| format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            for k in o.keys().filter(|k| !n.contains_key(*k)) {
                ops.push(serde_json::json!({"op": "remove", "path": key(k)}));
            }
            for (k, v) in n {
                match o.get(k) {
                    Some(was) => diff_ops(&key(k), was, v, depth - 1, ops),
                    None => ops.push(serde_json::json!({"op": "add", "path": key(k), "value": v})),
                }
            }
        }
        _ if old == new => {}
        _ => ops.push(serde_json::json!({"op": "add", "path": at, "value": new})),
    }
}

/// The stream's object in a file's untyped reading.
fn untyped_stream<'v>(
    docs: &'v [Value],
    index: &StreamIndex,
    key: &(String, String),
) -> Option<&'v Value> {
    let [(i, trail)] = index.get(key)?.as_slice() else {
        return None;
    };
    let mut at = docs.get(*i)?;
    for n in trail {
        at = at.get("items")?.get(n)?;
    }
    Some(at)
}

/// Keys are plain words: anything else would need escaping in the
/// operations' paths.
fn check_key(key: &str) -> Result<(), WriteError> {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if plain {
        Ok(())
    } else {
        Err(WriteError::Serialize(format!(
            "`{key}` is not a plain top-level key"
        )))
    }
}

/// YAML as the rest of the project writes it: 2-space indentation, and long
/// single-line strings (image references) kept on one line instead of folded.
fn to_yaml<T: Serialize>(value: &T) -> Result<String, WriteError> {
    let mut out = imagestream_core::manifest::to_yaml(value).map_err(WriteError::Serialize)?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// Whether YAML text holds any document yet (anything but blank lines,
/// comments and directives).
fn has_documents(body: &str) -> bool {
    body.lines().any(|l| {
        let t = l.trim();
        !(t.is_empty() || t.starts_with('#') || l.starts_with('%') || t == "---" || t == "...")
    })
}

pub(super) fn append_to_text<T: Serialize>(
    old: &str,
    json: bool,
    doc: &T,
    path: &Path,
) -> Result<String, WriteError> {
    if json {
        let value = serde_json::to_value(doc).map_err(|e| WriteError::Serialize(e.to_string()))?;
        if old.trim().is_empty() {
            return pretty_json(&value);
        }
        let mut root = parse_json(old, path)?;
        let Some(items) = list_items_mut(&mut root) else {
            return Err(unsupported(
                path,
                format!(
                    "{} holds a single JSON object; make it a `List` to add objects to it",
                    path.display()
                ),
            ));
        };
        items.push(value);
        return pretty_json(&root);
    }
    let (_, body) = split_bom(old);
    let eol = line_ending(body);
    let yaml = to_yaml(doc)?.replace('\n', eol);
    let mut out = String::with_capacity(old.len() + yaml.len() + 8);
    out.push_str(old);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(eol);
    }
    if has_documents(body) {
        out.push_str("---");
        out.push_str(eol);
    }
    out.push_str(&yaml);
    Ok(out)
}

pub(super) fn remove_from_text(
    text: &str,
    json: bool,
    namespace: &str,
    name: &str,
    path: &Path,
) -> Result<String, WriteError> {
    let namespace = effective_namespace(namespace);
    if !json {
        return remove_in_yaml(text, namespace, name, path);
    }
    let mut root = parse_json(text, path)?;
    let trail = find_json_stream(&root, namespace, name, path)?;
    match trail.split_last() {
        // The file was the stream alone; an empty List keeps it a valid file.
        None => root = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": []}),
        Some((&last, parent)) => {
            let items = json_at_mut(&mut root, parent)
                .and_then(list_items_mut)
                .ok_or_else(|| not_found(path, namespace, name))?;
            items.remove(last);
        }
    }
    pretty_json(&root)
}

fn remove_in_yaml(
    text: &str,
    namespace: &str,
    name: &str,
    path: &Path,
) -> Result<String, WriteError> {
    let (bom, body) = split_bom(text);
    let mut yaml = Yaml::parse(body, path)?;
    let place = yaml.find(namespace, name, path)?;
    let out = if place.base.is_empty() {
        yaml.without_document(place.document)
            .ok_or_else(|| not_found(path, namespace, name))?
    } else {
        yaml.apply(
            place.document,
            &[serde_json::json!({"op": "remove", "path": place.base})],
            path,
        )?;
        yaml.text()
    };
    check::reads_as_removed(body, &out, namespace, name).map_err(|why| {
        unsupported(
            path,
            format!(
                "ImageStream {namespace}/{name} cannot be removed from {} without disturbing \
                 the documents around it: {why}",
                path.display()
            ),
        )
    })?;
    Ok(format!("{bom}{out}"))
}
