//! The editor: a stream's top-level key (`status`, `spec`) replaced in a file's text, every other
//! byte kept. Text in, text out: may use the core and `error`, no file I/O.
//!
//! # Why YAML is edited as text
//!
//! Re-serializing a document through an untyped YAML value would drop the
//! user's comments and formatting and, worse, change what the file means: an
//! untyped parse reads an unquoted tag name `1.10` as the number 1.1, so
//! writing it back would silently rename the tag. So YAML files are edited
//! line by line: the file is split into documents at its `---` / `...`
//! markers, each document is identified by a small typed parse (typed string
//! fields keep `1.10` as written), and in the stream's document only the lines
//! of the one top-level key are replaced by freshly serialized ones.
//!
//! Every edit is then checked by parsing the document before and after: all
//! other fields must be unchanged and the key must read back as the value
//! written. A layout that this line-level editor misreads therefore becomes a
//! [`WriteError::UnsupportedLayout`] instead of a damaged file.
//!
//! # The lines of a top-level key
//!
//! The key's block starts at the line `KEY:` at column 0 (with any inline
//! value: `KEY: {}`, `KEY: null`, `KEY: # comment`) and takes every following
//! line that is indented, or is a `-` sequence item at column 0 (YAML lets a
//! block sequence sit at its key's own indentation). Blank lines and column-0
//! comments belong to the block only when more of the block follows them: the
//! block ends after its last indented or `-` line, so the blank lines and
//! comments in front of the next key or the next document stay in place. Any
//! other column-0 line starts the next key and ends the block. A missing key is
//! added after the document's last such block.
//!
//! The new block replaces the old one whole, comments inside it included: the
//! block belongs to whoever writes the key.
//!
//! # JSON
//!
//! JSON has none of YAML's ambiguity, so JSON files are parsed, changed and
//! written back whole, pretty-printed with the key order kept.

mod documents;
mod json;
mod status;
mod yaml;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use imagestream_core::manifest::Manifest;
use imagestream_core::stream::{ImageStream, ImageStreamStatus};

use crate::store::directory::error::{WriteError, not_found, unsupported};
pub(super) use documents::split_documents;
use documents::*;
use json::*;
use yaml::*;

/// The stream NS/NAME as the directory store reads it; in YAML only its own
/// document is parsed (a file may hold thousands of streams).
pub(super) fn stored_stream(
    text: &str,
    json: bool,
    namespace: &str,
    name: &str,
    path: &Path,
) -> Result<Arc<ImageStream>, WriteError> {
    let namespace = effective_namespace(namespace);
    let parsed = if json {
        imagestream_core::manifest::parse_file(text, true)
    } else {
        let (_, body) = split_bom(text);
        let docs = split_documents(body);
        let doc = find_stream(body, &docs, namespace, name, path)?;
        imagestream_core::manifest::parse_file(&body[doc.parse_from..doc.end], false)
    };
    parsed
        .map_err(|e| unsupported(path, format!("{}: {e}", path.display())))?
        .into_iter()
        .find_map(|m| match m {
            Manifest::Stream(is) if is_named(&is, namespace, name) => Some(is),
            _ => None,
        })
        .ok_or_else(|| not_found(path, namespace, name))
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
    let block = key_block(key, value)?;
    if key == "status"
        && let Some(status) = as_status(value)
        && let Some(out) = status::set_in_place(text, namespace, name, &status, path)?
    {
        return Ok(out);
    }
    set_in_yaml(text, namespace, name, key, &block, path)
}

/// `value` as a stream status, if that is all it is: what a status write
/// changes can then be told apart from what it keeps.
fn as_status<T: Serialize>(value: &T) -> Option<ImageStreamStatus> {
    let json = serde_json::to_value(value).ok()?;
    let status = ImageStreamStatus::deserialize(&json).ok()?;
    (serde_json::to_value(&status).ok()? == json).then_some(status)
}

/// Keys are plain words: anything else would need quoting rules on both the
/// writing and the finding side.
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

/// The lines `KEY: ...` for `value`, ending in a newline.
fn key_block<T: Serialize>(key: &str, value: &T) -> Result<String, WriteError> {
    let block = to_yaml(&BTreeMap::from([(key, value)]))?;
    // The block is spliced in by the same line rules that find old blocks, so
    // it must obey them: its first line is the key, the rest continue it.
    let mut lines = block.lines();
    let well_formed = lines.next().is_some_and(|l| is_key_line(l, key))
        && lines.all(|l| continues_block(l) || is_blank(l));
    if well_formed {
        Ok(block)
    } else {
        Err(WriteError::Serialize(format!(
            "`{key}` serialized to YAML that is not one block at column 0:\n{block}"
        )))
    }
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
    if !split_documents(body).is_empty() {
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
