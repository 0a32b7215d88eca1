//! Replacing or removing a top-level key's block in the stream's document,
//! each edit checked by parsing the document before and after.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use imagestream_core::manifest::yaml::DocHead;

use super::documents::*;
use crate::store::directory::error::{WriteError, unsupported};

/// Refuses documents whose top level is not a block mapping at column 0: the
/// line rules above would misread them.
pub(super) fn check_block_style(
    lines: &[(usize, &str)],
    doc: &Doc<'_>,
    key: &str,
    path: &Path,
) -> Result<(), WriteError> {
    let flow = || {
        unsupported(
            path,
            format!(
                "{} is in flow style; write it in block style so its {key} can be updated in place",
                doc.describe(path)
            ),
        )
    };
    if let Some(rest) = doc
        .marker_rest
        .map(str::trim)
        .filter(|r| !is_comment_or_blank(r))
    {
        if rest.starts_with(['{', '[']) {
            return Err(flow());
        }
        return Err(unsupported(
            path,
            format!(
                "{} has content on its `---` line (`{rest}`); move it to the lines below so its \
                 {key} can be updated in place",
                doc.describe(path)
            ),
        ));
    }
    match lines
        .iter()
        .map(|(_, l)| *l)
        .find(|l| !is_comment_or_blank(l))
    {
        Some(l) if l.starts_with(['{', '[']) => Err(flow()),
        Some(l) if l.starts_with([' ', '\t']) => Err(unsupported(
            path,
            format!(
                "{} is indented; start its top-level keys at column 0 so its {key} can be \
                 updated in place",
                doc.describe(path)
            ),
        )),
        _ => Ok(()),
    }
}

pub(super) fn set_in_yaml(
    text: &str,
    namespace: &str,
    name: &str,
    key: &str,
    block: &str,
    path: &Path,
) -> Result<String, WriteError> {
    let (bom, body) = split_bom(text);
    let docs = split_documents(body);
    let doc = find_stream(body, &docs, namespace, name, path)?;
    let lines = doc_lines(body, doc);
    check_block_style(&lines, doc, key, path)?;

    let eol = line_ending(body);
    let mut replacement = block.replace('\n', eol);
    let key_lines: Vec<usize> = (0..lines.len())
        .filter(|&i| is_key_line(lines[i].1, key))
        .collect();
    let found = !key_lines.is_empty();
    let range = match key_lines.as_slice() {
        [] => {
            let at = content_end(&lines).unwrap_or(doc.body);
            if at > 0 && !body[..at].ends_with('\n') {
                // The document's last line is the file's last and has no line
                // break: the new key goes on a line of its own, and the file
                // still ends without one.
                replacement.truncate(replacement.len() - eol.len());
                replacement.insert_str(0, eol);
            }
            at..at
        }
        [k] => {
            let end = block_end(&lines, *k);
            let (last_at, last) = lines[end - 1];
            let range = lines[*k].0..last_at + last.len();
            if !body[range.clone()].ends_with('\n') {
                replacement.truncate(replacement.len() - eol.len());
            }
            range
        }
        _ => {
            return Err(unsupported(
                path,
                format!("{} has more than one top-level {key}", doc.describe(path)),
            ));
        }
    };

    let mut out = String::with_capacity(text.len() + replacement.len());
    out.push_str(bom);
    out.push_str(&body[..range.start]);
    out.push_str(&replacement);
    out.push_str(&body[range.end..]);

    let new_end = doc.end - range.len() + replacement.len();
    let new_body = &out[bom.len()..];
    let check = Check {
        path,
        doc,
        namespace,
        name,
        key,
    };
    check.set(
        &body[doc.parse_from..doc.end],
        &new_body[doc.parse_from..new_end],
        block,
        found,
    )?;
    Ok(out)
}

pub(super) fn remove_in_yaml(
    text: &str,
    namespace: &str,
    name: &str,
    path: &Path,
) -> Result<String, WriteError> {
    let (bom, body) = split_bom(text);
    let docs = split_documents(body);
    let doc = find_stream(body, &docs, namespace, name, path)?;
    let lines = doc_lines(body, doc);
    // A document without a `---` of its own may sit under the file's header
    // comments: those stay. Comments after the document's content introduce
    // what follows it: those stay too.
    let start = match doc.marker_rest {
        Some(_) => doc.start,
        None => content_start(&lines).unwrap_or(doc.body),
    };
    let end = content_end(&lines).unwrap_or(doc.end).max(start);
    let out = format!("{bom}{}{}", &body[..start], &body[end..]);

    let new_body = &out[bom.len()..];
    let after = split_documents(new_body);
    let left = scan(new_body, &after, namespace, name);
    if after.len() + 1 != docs.len() || !left.hits.is_empty() || left.in_list.is_some() {
        return Err(unsupported(
            path,
            format!(
                "{} cannot be removed without disturbing the documents around it",
                doc.describe(path)
            ),
        ));
    }
    Ok(out)
}

/// Options for the checking parses: the ones `manifest` reads files with.
pub(super) fn parse_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

pub(super) fn parse_map(text: &str) -> Result<Map<String, Value>, String> {
    serde_saphyr::from_str_with_options::<Map<String, Value>>(text, parse_options()).map_err(|e| {
        let reason = e.to_string();
        reason.lines().next().unwrap_or_default().to_owned()
    })
}

/// Checks a text edit by parsing: the edit itself is line-based, so this is
/// what guarantees it changed exactly one key.
pub(super) struct Check<'a> {
    pub(super) path: &'a Path,
    pub(super) doc: &'a Doc<'a>,
    pub(super) namespace: &'a str,
    pub(super) name: &'a str,
    pub(super) key: &'a str,
}

impl Check<'_> {
    fn fail(&self, why: &str) -> WriteError {
        unsupported(
            self.path,
            format!(
                "{} cannot have its {} updated in place: {why}",
                self.doc.describe(self.path),
                self.key
            ),
        )
    }

    fn set(&self, old: &str, new: &str, block: &str, found: bool) -> Result<(), WriteError> {
        let key = self.key;
        let Ok(mut before) = parse_map(old) else {
            // The typed parse found the stream, but an untyped one fails (a
            // value JSON cannot hold, such as `.nan`): the fields cannot be
            // compared, so check at least that the document still parses as
            // the same stream.
            return match serde_saphyr::from_str::<DocHead>(new) {
                Ok(head) if head.is_stream(self.namespace, self.name) => Ok(()),
                Ok(_) => Err(self.fail("the edit would change which object it is")),
                Err(e) => Err(self.fail(&format!("the edited document would not parse ({e})"))),
            };
        };
        if before.contains_key(key) != found {
            return Err(self.fail(&format!(
                "its top-level {key} is written in a form this editor does not recognize \
                 (write it as `{key}:` at the start of a line)"
            )));
        }
        let mut after = parse_map(new)
            .map_err(|e| self.fail(&format!("the edited document would not parse ({e})")))?;
        let wanted = parse_map(block)
            .map_err(|e| WriteError::Serialize(format!("the new {key} does not read back: {e}")))?
            .remove(key);
        if after.remove(key) != wanted {
            return Err(self.fail(&format!("the new {key} would not read back as written")));
        }
        before.remove(key);
        if before != after {
            return Err(self.fail("its other fields would change"));
        }
        Ok(())
    }
}

/// YAML as the rest of the project writes it: 2-space indentation, and long
/// single-line strings (image references) kept on one line instead of folded.
pub(super) fn to_yaml<T: Serialize>(value: &T) -> Result<String, WriteError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = 1 << 20;
    let mut out = serde_saphyr::to_string_with_options(value, options)
        .map_err(|e| WriteError::Serialize(e.to_string()))?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}
