//! Directory mode writes: the importer's `status` and the CLI's `spec` go back
//! into the stream's own file, and every other byte of that file stays as the
//! user wrote it.
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
//!
//! # Atomic writes
//!
//! A write goes to a hidden temporary file in the same directory (the
//! directory poller skips hidden names), is fsynced, takes the original's
//! permissions, is renamed over the original, and the directory is fsynced:
//! after a crash the file is either the old or the new one, never torn.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use imagestream_core::manifest::{DocHead, Manifest};
use imagestream_core::stream::{ImageStream, ImageStreamStatus};

mod status;

/// Kubernetes' namespace for an object that names none.
const DEFAULT_NAMESPACE: &str = "default";
/// What errors name as the file when editing text in memory.
const IN_MEMORY: &str = "<text>";

/// Why a stream could not be written back to its file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Reading or writing the file failed.
    #[error("cannot update {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file holds no such stream.
    #[error("{} holds no ImageStream {namespace}/{name}", path.display())]
    NotFound {
        path: PathBuf,
        namespace: String,
        name: String,
    },
    /// The file is written in a way that cannot be edited in place without
    /// disturbing the rest of it; `reason` names the document and the fix.
    #[error("{reason}")]
    UnsupportedLayout { path: PathBuf, reason: String },
    /// The file changed on disk while it was being updated: read it again and
    /// retry.
    #[error("{} changed while it was being updated; read it again and retry", path.display())]
    Conflict { path: PathBuf },
    /// The stream's status in the file is no longer the one the new status
    /// was computed from (the CLI or a hand edit wrote it meanwhile).
    #[error(
        "the status of ImageStream {namespace}/{name} in {} changed since it was read; it is computed again from the file as it is now",
        path.display()
    )]
    Changed {
        path: PathBuf,
        namespace: String,
        name: String,
    },
    /// The new value could not be serialized.
    #[error("cannot serialize the new value: {0}")]
    Serialize(String),
}

/// Replaces (or adds) top-level `key` of the ImageStream NS/NAME in `path`,
/// atomically. A `.json` file is JSON; anything else is YAML. Writing what the
/// file already holds leaves the file untouched.
pub fn set_stream_field<T: Serialize>(
    path: &Path,
    namespace: &str,
    name: &str,
    key: &str,
    value: &T,
) -> Result<(), WriteError> {
    set_stream_field_hooked(path, namespace, name, key, value, &mut || {})
}

/// Writes the status of the ImageStream NS/NAME in `path` only if the file
/// still holds `read`, the status it was computed from: the importer computes
/// a status while a registry answers, and in that time the CLI (or a person)
/// may have written the same stream. The file is parsed as the directory
/// store parses it, so an unchanged status always compares equal.
pub fn set_stream_status_if_unchanged(
    path: &Path,
    namespace: &str,
    name: &str,
    status: &ImageStreamStatus,
    read: Option<&ImageStreamStatus>,
) -> Result<(), WriteError> {
    let json = is_json(path);
    update_file(path, false, &mut || {}, |old| {
        let old = old.unwrap_or_default();
        let now = stored_stream(old, json, namespace, name, path)?;
        if now.status.as_ref() != read {
            return Err(WriteError::Changed {
                path: path.to_path_buf(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            });
        }
        set_field(old, json, namespace, name, "status", status, path)
    })
}

/// The stream NS/NAME as stored in `path` now, whole (the snapshot keeps
/// each tag's newest history item only).
pub fn read_stream(
    path: &Path,
    namespace: &str,
    name: &str,
) -> Result<Arc<ImageStream>, WriteError> {
    let io_err = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = read_file(&resolve_symlink(path).map_err(io_err)?).map_err(io_err)?;
    stored_stream(utf8(path, &bytes)?, is_json(path), namespace, name, path)
}

/// The stream NS/NAME as the directory store reads it; in YAML only its own
/// document is parsed (a file may hold thousands of streams).
fn stored_stream(
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

fn is_named(is: &ImageStream, namespace: &str, name: &str) -> bool {
    is.metadata.name.as_deref() == Some(name)
        && effective_namespace(is.metadata.namespace.as_deref().unwrap_or_default())
            == effective_namespace(namespace)
}

/// [`set_stream_field`] with a hook run just before the commit, so tests can
/// change the file underneath it.
fn set_stream_field_hooked<T: Serialize>(
    path: &Path,
    namespace: &str,
    name: &str,
    key: &str,
    value: &T,
    before_commit: &mut dyn FnMut(),
) -> Result<(), WriteError> {
    let json = is_json(path);
    update_file(path, false, before_commit, |old| {
        set_field(
            old.unwrap_or_default(),
            json,
            namespace,
            name,
            key,
            value,
            path,
        )
    })
}

/// The same on text in memory (for tests and for building a new file):
/// returns the new text. `json` says the text is JSON rather than YAML.
pub fn set_stream_field_in_text<T: Serialize>(
    text: &str,
    json: bool,
    namespace: &str,
    name: &str,
    key: &str,
    value: &T,
) -> Result<String, WriteError> {
    set_field(
        text,
        json,
        namespace,
        name,
        key,
        value,
        Path::new(IN_MEMORY),
    )
}

/// Writes `contents` to `path` atomically (temp file, fsync, rename, fsync
/// dir). An existing file keeps its permissions (and, where allowed, its
/// owner); a symlink keeps pointing at the file it names, which is replaced.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let target = resolve_symlink(path)?;
    replace_file(&target, contents, Expect::Any, &mut || {}).map_err(|e| match e {
        Commit::Io(e) => e,
        Commit::Conflict => io::Error::other("file changed during the write"),
    })
}

/// Appends a new YAML document to `path` (creating the file), atomically. A
/// `.json` file instead gets the object as its whole content when empty, or
/// as a new item when it holds a `List`.
pub fn append_document<T: Serialize>(path: &Path, doc: &T) -> Result<(), WriteError> {
    let json = is_json(path);
    update_file(path, true, &mut || {}, |old| {
        append_to_text(old.unwrap_or_default(), json, doc, path)
    })
}

/// Removes the ImageStream NS/NAME's document from the file (for
/// completeness), atomically. Comments in front of the next document stay; a
/// JSON file whose only object was the stream becomes an empty `List`, which
/// still parses.
pub fn remove_stream(path: &Path, namespace: &str, name: &str) -> Result<(), WriteError> {
    let json = is_json(path);
    update_file(path, false, &mut || {}, |old| {
        remove_from_text(old.unwrap_or_default(), json, namespace, name, path)
    })
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
}

fn effective_namespace(namespace: &str) -> &str {
    if namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        namespace
    }
}

fn unsupported(path: &Path, reason: String) -> WriteError {
    WriteError::UnsupportedLayout {
        path: path.to_path_buf(),
        reason,
    }
}

fn not_found(path: &Path, namespace: &str, name: &str) -> WriteError {
    WriteError::NotFound {
        path: path.to_path_buf(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

// ---------------------------------------------------------------- editing --

fn set_field<T: Serialize>(
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

/// YAML as the rest of the project writes it: 2-space indentation, and long
/// single-line strings (image references) kept on one line instead of folded.
fn to_yaml<T: Serialize>(value: &T) -> Result<String, WriteError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = 1 << 20;
    let mut out = serde_saphyr::to_string_with_options(value, options)
        .map_err(|e| WriteError::Serialize(e.to_string()))?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
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

// ----------------------------------------------------------------- YAML --

/// One document of a YAML stream, as byte offsets into the text.
#[derive(Debug, Clone, Copy)]
struct Doc<'a> {
    /// 1-based, counting only documents with content.
    number: usize,
    /// 1-based line of the document's first line (its `---`, if any).
    line: usize,
    /// Where the document starts: its `---` line, or the line after `...`.
    start: usize,
    /// Where the text handed to the parser starts: just after `---`, so a
    /// comment on that line stays a comment.
    parse_from: usize,
    /// Where the lines below the marker line start.
    body: usize,
    /// Where the next marker line (or the end of the text) starts.
    end: usize,
    /// What follows `---` on the marker line, if the document has one.
    marker_rest: Option<&'a str>,
}

impl Doc<'_> {
    fn describe(&self, path: &Path) -> String {
        format!(
            "document {} of {} (line {})",
            self.number,
            path.display(),
            self.line
        )
    }
}

/// The start of a document marker line, as the YAML spec has it: `---` or
/// `...` at column 0, alone or followed by whitespace. Returns the rest of the
/// line.
fn after_marker<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.strip_prefix(marker)
        .filter(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

/// Splits a YAML stream into its documents, dropping those without content
/// (only blank lines, comments and directives).
fn split_documents(text: &str) -> Vec<Doc<'_>> {
    let mut out = Vec::new();
    let mut cur = Doc {
        number: 0,
        line: 1,
        start: 0,
        parse_from: 0,
        body: 0,
        end: 0,
        marker_rest: None,
    };
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let next = offset + line.len();
        if let Some(rest) = after_marker(line, "---") {
            cur.end = offset;
            push_document(text, cur, &mut out);
            cur = Doc {
                number: 0,
                line: i + 1,
                start: offset,
                parse_from: offset + 3,
                body: next,
                end: 0,
                marker_rest: Some(rest),
            };
        } else if after_marker(line, "...").is_some() {
            cur.end = offset;
            push_document(text, cur, &mut out);
            cur = Doc {
                number: 0,
                line: i + 2,
                start: next,
                parse_from: next,
                body: next,
                end: 0,
                marker_rest: None,
            };
        }
        offset = next;
    }
    cur.end = text.len();
    push_document(text, cur, &mut out);
    out
}

fn push_document<'a>(text: &'a str, mut doc: Doc<'a>, out: &mut Vec<Doc<'a>>) {
    let marker_content = doc.marker_rest.is_some_and(|r| !is_comment_or_blank(r));
    let has_content = marker_content
        || text[doc.body..doc.end]
            .lines()
            .any(|l| !is_filler(l) && !is_comment_or_blank(l));
    if has_content {
        doc.number = out.len() + 1;
        out.push(doc);
    }
}

/// The document's lines below its marker, with their byte offsets.
fn doc_lines<'a>(text: &'a str, doc: &Doc<'_>) -> Vec<(usize, &'a str)> {
    let mut offset = doc.body;
    text[doc.body..doc.end]
        .split_inclusive('\n')
        .map(|l| {
            let at = offset;
            offset += l.len();
            (at, l)
        })
        .collect()
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_comment_or_blank(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// Lines that carry nothing of a top-level block: blank lines, column-0
/// comments and directives.
fn is_filler(line: &str) -> bool {
    is_blank(line) || line.starts_with('#') || line.starts_with('%')
}

/// A line that continues the block above it: indented, or a column-0 `-`
/// sequence item.
fn continues_block(line: &str) -> bool {
    let indented = line.starts_with([' ', '\t']) && !is_blank(line);
    let item = line
        .strip_prefix('-')
        .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t', '\r', '\n']));
    indented || item
}

/// `KEY:` at column 0, the key plain or quoted, followed by the end of the
/// line or whitespace.
fn is_key_line(line: &str, key: &str) -> bool {
    let quoted = |q: char| {
        line.strip_prefix(q)
            .and_then(|r| r.strip_prefix(key))
            .and_then(|r| r.strip_prefix(q))
    };
    line.strip_prefix(key)
        .or_else(|| quoted('"'))
        .or_else(|| quoted('\''))
        .map(|r| r.trim_start_matches([' ', '\t']))
        .and_then(|r| r.strip_prefix(':'))
        .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t', '\r', '\n']))
}

/// The index one past the last line of the block whose key line is `key_at`.
fn block_end(lines: &[(usize, &str)], key_at: usize) -> usize {
    let mut end = key_at + 1;
    for (j, (_, line)) in lines.iter().enumerate().skip(key_at + 1) {
        if continues_block(line) {
            end = j + 1;
        } else if !is_filler(line) {
            break;
        }
    }
    end
}

/// The byte offset just past the document's last block: where a new key goes,
/// before any trailing blank lines and comments (which introduce whatever
/// follows).
fn content_end(lines: &[(usize, &str)]) -> Option<usize> {
    lines
        .iter()
        .rev()
        .find(|(_, l)| !is_filler(l))
        .map(|(at, l)| at + l.len())
}

/// The start of the document's first line of content.
fn content_start(lines: &[(usize, &str)]) -> Option<usize> {
    lines
        .iter()
        .find(|(_, l)| !is_filler(l) && !is_comment_or_blank(l))
        .map(|(at, _)| *at)
}

fn split_bom(text: &str) -> (&str, &str) {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    }
}

fn line_ending(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// The items of a `List` document.
#[derive(Deserialize)]
struct ListHead {
    #[serde(default)]
    items: Option<Vec<DocHead>>,
}

/// Where a stream turned up among a file's documents.
#[derive(Default)]
struct Scan {
    /// Indexes of the documents that are the stream.
    hits: Vec<usize>,
    /// A `List` document holding the stream as an item.
    in_list: Option<usize>,
    /// The first document that does not parse, with the parser's reason.
    broken: Option<(usize, String)>,
}

fn scan(text: &str, docs: &[Doc<'_>], namespace: &str, name: &str) -> Scan {
    let mut out = Scan::default();
    for (i, doc) in docs.iter().enumerate() {
        let src = &text[doc.parse_from..doc.end];
        match serde_saphyr::from_str::<DocHead>(src) {
            Ok(head) if head.is_list() => {
                let items = serde_saphyr::from_str::<ListHead>(src)
                    .ok()
                    .and_then(|l| l.items)
                    .unwrap_or_default();
                if items.iter().any(|h| h.is_stream(namespace, name)) {
                    out.in_list.get_or_insert(i);
                }
            }
            Ok(head) => {
                if head.is_stream(namespace, name) {
                    out.hits.push(i);
                }
            }
            Err(e) => {
                if out.broken.is_none() {
                    let reason = e.to_string();
                    let first = reason.lines().next().unwrap_or_default().to_owned();
                    out.broken = Some((i, first));
                }
            }
        }
    }
    out
}

/// The one document that is the stream, or why there is none to edit.
fn find_stream<'d>(
    text: &str,
    docs: &'d [Doc<'d>],
    namespace: &str,
    name: &str,
    path: &Path,
) -> Result<&'d Doc<'d>, WriteError> {
    let found = scan(text, docs, namespace, name);
    if let Some(i) = found.in_list {
        return Err(unsupported(
            path,
            format!(
                "ImageStream {namespace}/{name} is an item of the List in {}; only a stream \
                 written as a document of its own can be updated in place (write the List's \
                 items as `---` documents)",
                docs[i].describe(path)
            ),
        ));
    }
    match found.hits.as_slice() {
        [i] => Ok(&docs[*i]),
        [] => match found.broken {
            // The stream may be the document that does not parse; saying
            // "not found" would send the user looking in the wrong place.
            Some((i, reason)) => Err(unsupported(
                path,
                format!(
                    "ImageStream {namespace}/{name} is not among the documents of {} that parse, \
                     and {} does not parse: {reason}",
                    path.display(),
                    docs[i].describe(path)
                ),
            )),
            None => Err(not_found(path, namespace, name)),
        },
        [a, b, ..] => Err(unsupported(
            path,
            format!(
                "ImageStream {namespace}/{name} appears more than once in {} (documents {} and {}); \
                 remove the duplicate",
                path.display(),
                docs[*a].number,
                docs[*b].number
            ),
        )),
    }
}

/// Refuses documents whose top level is not a block mapping at column 0: the
/// line rules above would misread them.
fn check_block_style(
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

fn set_in_yaml(
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

fn remove_in_yaml(
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
fn parse_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

fn parse_map(text: &str) -> Result<Map<String, Value>, String> {
    serde_saphyr::from_str_with_options::<Map<String, Value>>(text, parse_options()).map_err(|e| {
        let reason = e.to_string();
        reason.lines().next().unwrap_or_default().to_owned()
    })
}

/// Checks a text edit by parsing: the edit itself is line-based, so this is
/// what guarantees it changed exactly one key.
struct Check<'a> {
    path: &'a Path,
    doc: &'a Doc<'a>,
    namespace: &'a str,
    name: &'a str,
    key: &'a str,
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

fn append_to_text<T: Serialize>(
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

fn remove_from_text(
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

// ----------------------------------------------------------------- JSON --

fn parse_json(text: &str, path: &Path) -> Result<Value, WriteError> {
    serde_json::from_str(text).map_err(|e| {
        unsupported(
            path,
            format!("{} does not parse as JSON: {e}", path.display()),
        )
    })
}

fn pretty_json(value: &Value) -> Result<String, WriteError> {
    let mut out =
        serde_json::to_string_pretty(value).map_err(|e| WriteError::Serialize(e.to_string()))?;
    out.push('\n');
    Ok(out)
}

fn list_items_mut(value: &mut Value) -> Option<&mut Vec<Value>> {
    let map = value.as_object_mut()?;
    if map.get("kind").and_then(Value::as_str) != Some("List") {
        return None;
    }
    map.get_mut("items")?.as_array_mut()
}

/// Where the stream is: the item indexes through nested `List`s, empty for
/// the top-level object.
fn find_json_stream(
    root: &Value,
    namespace: &str,
    name: &str,
    path: &Path,
) -> Result<Vec<usize>, WriteError> {
    let mut hits = Vec::new();
    locate_json(root, namespace, name, &mut Vec::new(), &mut hits);
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

fn locate_json(
    value: &Value,
    namespace: &str,
    name: &str,
    trail: &mut Vec<usize>,
    hits: &mut Vec<Vec<usize>>,
) {
    let Some(map) = value.as_object() else {
        return;
    };
    if map.get("kind").and_then(Value::as_str) == Some("List") {
        if let Some(Value::Array(items)) = map.get("items") {
            for (i, item) in items.iter().enumerate() {
                trail.push(i);
                locate_json(item, namespace, name, trail, hits);
                trail.pop();
            }
        }
    } else if DocHead::deserialize(value).is_ok_and(|h| h.is_stream(namespace, name)) {
        hits.push(trail.clone());
    }
}

fn json_at_mut<'v>(root: &'v mut Value, trail: &[usize]) -> Option<&'v mut Value> {
    let mut value = root;
    for &i in trail {
        value = value.get_mut("items")?.get_mut(i)?;
    }
    Some(value)
}

fn set_in_json<T: Serialize>(
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

// ---------------------------------------------------------------- files --

/// What the file must still hold just before the new one replaces it.
enum Expect<'a> {
    Any,
    Absent,
    Bytes(&'a [u8]),
}

enum Commit {
    Io(io::Error),
    Conflict,
}

impl From<io::Error> for Commit {
    fn from(e: io::Error) -> Commit {
        Commit::Io(e)
    }
}

/// A stream file's bytes, within the size limit the directory store keeps to.
fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    use crate::store::directory::source::ReadError;
    crate::store::directory::source::read_limited(
        path,
        crate::store::directory::source::max_file_bytes(),
    )
    .map_err(|e| match e {
        ReadError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    })
}

/// The file's bytes as text; a stream file that is not UTF-8 is not edited.
fn utf8<'b>(path: &Path, bytes: &'b [u8]) -> Result<&'b str, WriteError> {
    std::str::from_utf8(bytes)
        .map_err(|e| unsupported(path, format!("{} is not UTF-8 text: {e}", path.display())))
}

/// Reads the file, edits it, and replaces it atomically if the edit changed
/// anything and nobody else changed the file meanwhile. `edit` gets `None`
/// for a missing file, which only `allow_missing` permits.
fn update_file(
    path: &Path,
    allow_missing: bool,
    before_commit: &mut dyn FnMut(),
    edit: impl FnOnce(Option<&str>) -> Result<String, WriteError>,
) -> Result<(), WriteError> {
    let io_err = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let target = resolve_symlink(path).map_err(io_err)?;
    let old = match read_file(&target) {
        Ok(bytes) => Some(bytes),
        Err(e) if allow_missing && e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(e)),
    };
    let old_text = old.as_deref().map(|b| utf8(path, b)).transpose()?;
    let new = edit(old_text)?;
    if old.as_deref() == Some(new.as_bytes()) {
        // Nothing to write: leaving the file alone also spares the directory
        // poller a reload.
        tracing::debug!(path = %path.display(), "file already up to date");
        return Ok(());
    }
    let expect = match &old {
        Some(bytes) => Expect::Bytes(bytes),
        None => Expect::Absent,
    };
    match replace_file(&target, new.as_bytes(), expect, before_commit) {
        Ok(()) => {
            tracing::debug!(path = %path.display(), bytes = new.len(), "file updated");
            Ok(())
        }
        Err(Commit::Conflict) => Err(WriteError::Conflict {
            path: path.to_path_buf(),
        }),
        Err(Commit::Io(e)) => Err(io_err(e)),
    }
}

/// Renaming over a symlink would replace the link with a plain file; the file
/// it points at is what the user means.
fn resolve_symlink(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path),
        _ => Ok(path.to_path_buf()),
    }
}

/// Removes the temporary file unless it was renamed into place.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new hidden file next to the target: the same directory, so the rename is
/// atomic (same filesystem); hidden, so the directory poller never reads it.
fn create_temp(dir: &Path, file_name: &OsStr, private: bool) -> io::Result<(PathBuf, File)> {
    for _ in 0..100 {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = OsString::from(".");
        name.push(file_name);
        name.push(format!(".{}.{n}.tmp", std::process::id()));
        let path = dir.join(name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        if private {
            // The file may hold Secrets: nobody else may read the copy before
            // it takes the original's permissions.
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary file name",
    ))
}

/// Whether `path` still holds what it held when it was read.
fn unchanged(path: &Path, expect: &Expect<'_>) -> io::Result<bool> {
    match expect {
        Expect::Any => Ok(true),
        Expect::Absent => match fs::symlink_metadata(path) {
            Ok(_) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        },
        Expect::Bytes(bytes) => match read_file(path) {
            Ok(now) => Ok(now == *bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        },
    }
}

/// The atomic replacement: temp file, fsync, permissions, re-check, rename,
/// fsync of the directory. Between the re-check and the rename a concurrent
/// writer can still slip in; editors take no locks, so that window is as small
/// as it can be made.
fn replace_file(
    path: &Path,
    contents: &[u8],
    expect: Expect<'_>,
    before_commit: &mut dyn FnMut(),
) -> Result<(), Commit> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let original = match fs::metadata(path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let (temp_path, mut file) = create_temp(dir, file_name, original.is_some())?;
    let mut temp = TempFile(Some(temp_path));
    file.write_all(contents)?;
    if let Some(meta) = &original {
        keep_owner(&file, meta);
        file.set_permissions(meta.permissions())?;
    }
    file.sync_all()?;
    drop(file);

    before_commit();
    if !unchanged(path, &expect)? {
        return Err(Commit::Conflict);
    }
    let Some(temp_path) = temp.0.take() else {
        return Err(io::Error::other("temporary file lost").into());
    };
    if let Err(e) = fs::rename(&temp_path, path) {
        let _ = fs::remove_file(&temp_path);
        return Err(e.into());
    }
    // The rename is durable only once the directory entry is on disk.
    sync_dir(dir)?;
    Ok(())
}

/// Gives the copy the original's owner when running as someone else (root
/// editing a user's file); without the right to, the copy keeps ours.
fn keep_owner(file: &File, original: &fs::Metadata) {
    let Ok(now) = file.metadata() else {
        return;
    };
    if now.uid() == original.uid() && now.gid() == original.gid() {
        return;
    }
    if let Err(e) = std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid())) {
        tracing::debug!(error = %e, "cannot keep the file's owner");
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        // Some filesystems cannot fsync a directory; the rename stands.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot fsync directory");
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt as _;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    const FILE: &str = "\
# Streams for the demo namespace.
# Keep this header.
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
data:
  key: value # inline comment
---
# The app's stream.
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: app
  namespace: demo
spec:
  # Tags the importer follows.
  tags:
  - name: 1.10 # unquoted on purpose
    from:
      kind: DockerImage
      name: quay.io/example/app:1.10
  - name: latest
    # follows 1.10
    from: {kind: ImageStreamTag, name: \"app:1.10\"}
status:
  dockerImageRepository: old
  tags: []

# The credentials follow.
---
apiVersion: v1
kind: Secret
metadata:
  name: pull
  namespace: demo
type: kubernetes.io/dockerconfigjson
";

    fn status() -> Value {
        json!({
            "dockerImageRepository": "registry.example/demo/app",
            "tags": [{
                "tag": "1.10",
                "items": [{
                    "dockerImageReference": format!("quay.io/example/app-with-a-rather-long-repository-name/component@{DIGEST}"),
                    "image": DIGEST,
                }],
            }],
        })
    }

    fn status_block() -> String {
        format!(
            "status:
  dockerImageRepository: registry.example/demo/app
  tags:
  - tag: \"1.10\"
    items:
    - dockerImageReference: quay.io/example/app-with-a-rather-long-repository-name/component@{DIGEST}
      image: {DIGEST}
"
        )
    }

    fn set(
        text: &str,
        ns: &str,
        name: &str,
        key: &str,
        value: &Value,
    ) -> Result<String, WriteError> {
        set_stream_field_in_text(text, false, ns, name, key, value)
    }

    #[derive(Deserialize)]
    struct Tag {
        name: String,
    }
    #[derive(Deserialize)]
    struct Spec {
        tags: Vec<Tag>,
    }
    #[derive(Deserialize)]
    struct StatusTag {
        tag: String,
    }
    #[derive(Deserialize)]
    struct Status {
        tags: Vec<StatusTag>,
    }
    #[derive(Deserialize)]
    struct Stream {
        spec: Spec,
        status: Option<Status>,
    }

    /// The typed parse of document `n` (1-based), as the store reads it.
    fn doc<'a, D: Deserialize<'a>>(text: &'a str, n: usize) -> D {
        let docs = split_documents(text);
        let d = docs[n - 1];
        serde_saphyr::from_str(&text[d.parse_from..d.end]).expect("document parses")
    }

    #[test]
    fn replaces_only_the_status_block() {
        let out = set(FILE, "demo", "app", "status", &status()).unwrap();
        let old_block = "status:\n  dockerImageRepository: old\n  tags: []\n";
        let expected = FILE.replace(old_block, &status_block());
        assert_eq!(out, expected);
        // Everything before and after the block is byte-identical.
        let at = FILE.find(old_block).unwrap();
        assert_eq!(out[..at], FILE[..at]);
        assert!(out.ends_with(&FILE[at + old_block.len()..]));
        let stream: Stream = doc(&out, 2);
        assert_eq!(stream.spec.tags[0].name, "1.10");
        assert_eq!(stream.status.unwrap().tags[0].tag, "1.10");
    }

    #[test]
    fn writing_the_same_status_twice_gives_the_same_text() {
        let once = set(FILE, "demo", "app", "status", &status()).unwrap();
        let twice = set(&once, "demo", "app", "status", &status()).unwrap();
        assert_eq!(once, twice);
    }

    #[test]
    fn absent_status_is_appended_after_the_last_key() {
        let text = "kind: ImageStream\napiVersion: image.openshift.io/v1\nmetadata:\n  name: app\nspec:\n  tags:\n  - name: a\n\n# next\n---\nkind: Other\n";
        let out = set(text, "default", "app", "status", &json!({"x": 1})).unwrap();
        assert_eq!(
            out,
            "kind: ImageStream\napiVersion: image.openshift.io/v1\nmetadata:\n  name: app\nspec:\n  tags:\n  - name: a\nstatus:\n  x: 1\n\n# next\n---\nkind: Other\n"
        );
    }

    #[test]
    fn absent_status_at_the_end_of_a_file_without_a_final_newline() {
        let text =
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: app}\nspec: {}";
        let out = set(text, "default", "app", "status", &json!({"x": 1})).unwrap();
        assert_eq!(
            out,
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: app}\nspec: {}\nstatus:\n  x: 1"
        );
        // And replacing it again keeps the file without a final newline.
        let again = set(&out, "default", "app", "status", &json!({"x": 2})).unwrap();
        assert!(again.ends_with("status:\n  x: 2"));
    }

    #[test]
    fn inline_empty_status_is_replaced() {
        let text = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: app\nstatus: {}\nspec: {}\n";
        let out = set(text, "default", "app", "status", &json!({"x": "1.10"})).unwrap();
        assert_eq!(
            out,
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: app\nstatus:\n  x: \"1.10\"\nspec: {}\n"
        );
    }

    #[test]
    fn key_after_the_status_is_kept() {
        let text = "apiVersion: image.openshift.io/v1\nmetadata:\n  name: app\nstatus:\n  old: true\n\n# the kind\nkind: ImageStream\n";
        let out = set(text, "default", "app", "status", &json!({"new": 1})).unwrap();
        assert_eq!(
            out,
            "apiVersion: image.openshift.io/v1\nmetadata:\n  name: app\nstatus:\n  new: 1\n\n# the kind\nkind: ImageStream\n"
        );
        // A stream status equal to the one read (`old` is no field of it)
        // leaves the file as it is.
        assert_eq!(
            set(text, "default", "app", "status", &json!({})).unwrap(),
            text
        );
    }

    #[test]
    fn column_zero_items_and_comments_inside_the_block_belong_to_it() {
        // A sequence at its key's indentation, and a comment at column 0 with
        // more of the block after it.
        let text = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: app\nstatus:\n- a\n# inside\n- b\n# before spec\nspec: {}\n";
        let out = set(text, "default", "app", "status", &json!({"x": 1})).unwrap();
        assert_eq!(
            out,
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: app\nstatus:\n  x: 1\n# before spec\nspec: {}\n"
        );
    }

    #[test]
    fn the_stream_in_the_right_namespace_changes() {
        let text = "\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: app
  namespace: a
status: {}
---
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: app
  namespace: b
status: {}
---
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: app
status: {}
";
        let out = set(text, "b", "app", "status", &json!({"n": "b"})).unwrap();
        assert_eq!(
            out,
            text.replacen(
                "  namespace: b\nstatus: {}",
                "  namespace: b\nstatus:\n  \"n\": b",
                1
            )
        );
        let out = set(text, "default", "app", "status", &json!({"d": 1})).unwrap();
        assert!(out.ends_with("  name: app\nstatus:\n  d: 1\n"), "{out}");
        assert!(out.starts_with(&text[..text.rfind("status").unwrap()]));
        // An empty namespace is the default one too.
        assert_eq!(
            set(text, "", "app", "status", &json!({"d": 1})).unwrap(),
            out
        );
    }

    #[test]
    fn missing_stream_is_not_found() {
        let err = set(FILE, "other", "app", "status", &json!({})).unwrap_err();
        assert!(
            matches!(&err, WriteError::NotFound { namespace, name, .. } if namespace == "other" && name == "app"),
            "{err:?}"
        );
        // Another kind with the stream's name is not the stream.
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\n";
        let err = set(text, "default", "app", "status", &json!({})).unwrap_err();
        assert!(matches!(err, WriteError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn flow_style_documents_are_refused() {
        let text = "apiVersion: v1\nkind: ConfigMap\n---\n{apiVersion: image.openshift.io/v1, kind: ImageStream,\n  metadata: {name: app}, status: {}}\n";
        let err = set(text, "default", "app", "status", &json!({})).unwrap_err();
        let WriteError::UnsupportedLayout { reason, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(
            reason,
            "document 2 of <text> (line 3) is in flow style; write it in block style so its status can be updated in place"
        );
        let text =
            "--- {apiVersion: image.openshift.io/v1, kind: ImageStream, metadata: {name: app}}\n";
        let err = set(text, "default", "app", "status", &json!({})).unwrap_err();
        assert!(err.to_string().contains("flow style"), "{err}");
    }

    #[test]
    fn layouts_the_line_rules_would_misread_are_refused() {
        // An explicit key: appending would duplicate it.
        let text = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: app}\n? status\n: {a: 1}\n";
        let err = set(text, "default", "app", "status", &json!({})).unwrap_err();
        assert!(
            matches!(err, WriteError::UnsupportedLayout { .. }),
            "{err:?}"
        );
        // The whole mapping indented.
        let text =
            "  apiVersion: image.openshift.io/v1\n  kind: ImageStream\n  metadata: {name: app}\n";
        let err = set(text, "default", "app", "status", &json!({})).unwrap_err();
        assert!(err.to_string().contains("is indented"), "{err}");
        // The stream inside a YAML List.
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: image.openshift.io/v1\n  kind: ImageStream\n  metadata: {name: app}\n";
        let err = set(text, "default", "app", "status", &json!({})).unwrap_err();
        assert!(err.to_string().contains("item of the List"), "{err}");
        // Twice in one file.
        let one = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: app}\n";
        let err = set(
            &format!("{one}---\n{one}"),
            "default",
            "app",
            "status",
            &json!({}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
    }

    #[test]
    fn a_broken_document_is_named_when_the_stream_is_not_found() {
        let text = "apiVersion: v1\nkind: [\n---\napiVersion: v1\nkind: Secret\n";
        let err = set(text, "default", "app", "status", &json!({})).unwrap_err();
        assert!(
            err.to_string()
                .contains("document 1 of <text> (line 1) does not parse"),
            "{err}"
        );
        // The stream elsewhere in the file is still updated.
        let text = format!(
            "{text}---\napiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {{name: app}}\n"
        );
        let out = set(&text, "default", "app", "status", &json!({})).unwrap();
        assert_eq!(out, format!("{text}status: {{}}\n"));
    }

    #[test]
    fn markers_comments_crlf_and_bom() {
        let text = "\u{feff}%YAML 1.2\n--- # the stream\r\napiVersion: image.openshift.io/v1\r\nkind: ImageStream\r\nmetadata:\r\n  name: app\r\nstatus:\r\n  a: 1\r\n...\r\n";
        let out = set(text, "default", "app", "status", &json!({"b": [1, 2]})).unwrap();
        assert_eq!(
            out,
            "\u{feff}%YAML 1.2\n--- # the stream\r\napiVersion: image.openshift.io/v1\r\nkind: ImageStream\r\nmetadata:\r\n  name: app\r\nstatus:\r\n  b:\r\n  - 1\r\n  - 2\r\n...\r\n"
        );
    }

    #[test]
    fn spec_is_replaced_the_same_way() {
        let spec = json!({"tags": [{"name": "1.10", "from": {"kind": "DockerImage", "name": "quay.io/example/app:1.10"}}]});
        let out = set(FILE, "demo", "app", "spec", &spec).unwrap();
        let start = FILE.find("spec:\n").unwrap();
        let end = FILE.find("status:\n").unwrap();
        let expected = format!(
            "{}spec:\n  tags:\n  - name: \"1.10\"\n    from:\n      kind: DockerImage\n      name: quay.io/example/app:1.10\n{}",
            &FILE[..start],
            &FILE[end..]
        );
        assert_eq!(out, expected);
        let stream: Stream = doc(&out, 2);
        assert_eq!(stream.spec.tags[0].name, "1.10");
    }

    #[test]
    fn json_single_object() {
        let text = r#"{"apiVersion":"image.openshift.io/v1","kind":"ImageStream","metadata":{"name":"app","namespace":"demo"},"status":{"old":1},"spec":{"tags":[{"name":"1.10"}]}}"#;
        let out =
            set_stream_field_in_text(text, true, "demo", "app", "status", &json!({"tags": []}))
                .unwrap();
        assert_eq!(
            out,
            r#"{
  "apiVersion": "image.openshift.io/v1",
  "kind": "ImageStream",
  "metadata": {
    "name": "app",
    "namespace": "demo"
  },
  "status": {
    "tags": []
  },
  "spec": {
    "tags": [
      {
        "name": "1.10"
      }
    ]
  }
}
"#
        );
        let err = set_stream_field_in_text(text, true, "default", "app", "status", &json!({}))
            .unwrap_err();
        assert!(matches!(err, WriteError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn json_list() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"Secret","metadata":{"name":"app"}},
            {"apiVersion":"image.openshift.io/v1","kind":"ImageStream","metadata":{"name":"app"},"spec":{}}]}"#;
        let out =
            set_stream_field_in_text(text, true, "default", "app", "status", &json!({"x": 1}))
                .unwrap();
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["items"][1]["status"], json!({"x": 1}));
        assert_eq!(
            value["items"][0],
            json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"app"}})
        );
        let keys: Vec<&String> = value["items"][1].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec", "status"]);
        assert!(out.ends_with("}\n"));
    }

    #[test]
    fn odd_keys_are_refused() {
        let err = set(FILE, "demo", "app", "a: b", &json!({})).unwrap_err();
        assert!(matches!(err, WriteError::Serialize(_)), "{err:?}");
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_atomic_keeps_permissions_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streams.yaml");
        fs::write(&path, "old\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"new\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        assert_eq!(entries(dir.path()), ["streams.yaml"]);

        // A new file is created too.
        let fresh = dir.path().join("fresh.yaml");
        write_atomic(&fresh, b"x\n").unwrap();
        assert_eq!(fs::read(&fresh).unwrap(), b"x\n");
        assert_eq!(entries(dir.path()), ["fresh.yaml", "streams.yaml"]);
    }

    #[test]
    fn writes_through_a_symlink_keep_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.yaml");
        let link = dir.path().join("link.yaml");
        fs::write(&real, FILE).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        set_stream_field(&link, "demo", "app", "status", &status()).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            fs::read_to_string(&real)
                .unwrap()
                .contains("registry.example/demo/app")
        );
    }

    #[test]
    fn set_stream_field_on_disk_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streams.yaml");
        fs::write(&path, FILE).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        set_stream_field(&path, "demo", "app", "status", &status()).unwrap();
        let once = fs::read(&path).unwrap();
        set_stream_field(&path, "demo", "app", "status", &status()).unwrap();
        assert_eq!(fs::read(&path).unwrap(), once);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        assert_eq!(entries(dir.path()), ["streams.yaml"]);
        let err = set_stream_field(
            &dir.path().join("missing.yaml"),
            "demo",
            "app",
            "status",
            &status(),
        )
        .unwrap_err();
        assert!(matches!(err, WriteError::Io { .. }), "{err:?}");
    }

    #[test]
    fn a_concurrent_change_is_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streams.yaml");
        fs::write(&path, FILE).unwrap();
        let theirs = format!("{FILE}# edited meanwhile\n");
        let err = set_stream_field_hooked(&path, "demo", "app", "status", &status(), &mut || {
            fs::write(&path, &theirs).unwrap();
        })
        .unwrap_err();
        assert!(matches!(err, WriteError::Conflict { .. }), "{err:?}");
        assert_eq!(fs::read_to_string(&path).unwrap(), theirs);
        assert_eq!(entries(dir.path()), ["streams.yaml"]);
    }

    #[test]
    fn a_status_computed_from_an_older_read_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streams.yaml");
        fs::write(&path, FILE).unwrap();
        let read: ImageStreamStatus =
            serde_json::from_value(json!({"dockerImageRepository": "old", "tags": []})).unwrap();
        let new: ImageStreamStatus = serde_json::from_value(json!({
            "dockerImageRepository": "registry.example/demo/app",
            "tags": [{"tag": "1.10", "items": [{"created": "2026-11-26T17:00:00Z",
                "dockerImageReference": format!("quay.io/example/app@{DIGEST}"), "image": DIGEST, "generation": 1}]}],
        }))
        .unwrap();
        // Someone wrote another status after `read` was taken: it stays.
        let theirs = FILE.replace(
            "dockerImageRepository: old",
            "dockerImageRepository: theirs",
        );
        fs::write(&path, &theirs).unwrap();
        let err =
            set_stream_status_if_unchanged(&path, "demo", "app", &new, Some(&read)).unwrap_err();
        assert!(matches!(err, WriteError::Changed { .. }), "{err:?}");
        assert_eq!(fs::read_to_string(&path).unwrap(), theirs);
        // From the file as it is, the write goes through, comments and all.
        fs::write(&path, FILE).unwrap();
        set_stream_status_if_unchanged(&path, "demo", "app", &new, Some(&read)).unwrap();
        let written = fs::read_to_string(&path).unwrap();
        assert!(
            written.contains("dockerImageRepository: registry.example/demo/app"),
            "{written}"
        );
        assert!(written.contains("# The credentials follow."), "{written}");
        // A stream with no status yet is written only while it still has none.
        assert!(matches!(
            set_stream_status_if_unchanged(&path, "demo", "app", &new, None),
            Err(WriteError::Changed { .. })
        ));
    }

    #[test]
    fn json_files_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.json");
        let stream = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream", "metadata": {"name": "app"}, "spec": {}});
        append_document(&path, &stream).unwrap();
        set_stream_field(&path, "default", "app", "status", &json!({"x": 1})).unwrap();
        let value: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(value["status"], json!({"x": 1}));
        // A single object cannot take a second one.
        let err = append_document(&path, &stream).unwrap_err();
        assert!(
            matches!(err, WriteError::UnsupportedLayout { .. }),
            "{err:?}"
        );
        remove_stream(&path, "default", "app").unwrap();
        let value: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            value,
            json!({"apiVersion": "v1", "kind": "List", "items": []})
        );
        append_document(&path, &stream).unwrap();
        let value: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(value["items"][0], stream);
    }

    #[test]
    fn append_document_creates_and_separates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.yaml");
        let stream = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream", "metadata": {"name": "app", "namespace": "demo"}, "spec": {"tags": [{"name": "1.10"}]}});
        append_document(&path, &stream).unwrap();
        let first = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: app\n  namespace: demo\nspec:\n  tags:\n  - name: \"1.10\"\n";
        assert_eq!(fs::read_to_string(&path).unwrap(), first);
        fs::write(&path, "# header\nkind: ConfigMap").unwrap();
        append_document(&path, &stream).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("# header\nkind: ConfigMap\n---\n{first}")
        );
        assert_eq!(entries(dir.path()), ["new.yaml"]);
    }

    #[test]
    fn remove_stream_keeps_the_other_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streams.yaml");
        fs::write(&path, FILE).unwrap();
        remove_stream(&path, "demo", "app").unwrap();
        let start = FILE.find("---\n# The app's").unwrap();
        // The blank line and the comment in front of the Secret stay.
        let end = FILE.find("\n\n# The credentials").unwrap() + 1;
        let expected = format!("{}{}", &FILE[..start], &FILE[end..]);
        assert_eq!(fs::read_to_string(&path).unwrap(), expected);
        let err = remove_stream(&path, "demo", "app").unwrap_err();
        assert!(matches!(err, WriteError::NotFound { .. }), "{err:?}");

        // A first document without `---` leaves the header comments.
        let text = "# header\napiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: app}\n---\nkind: Other\n";
        fs::write(&path, text).unwrap();
        remove_stream(&path, "default", "app").unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "# header\n---\nkind: Other\n"
        );
    }
}
