//! A YAML file's documents and lines: where each document starts and ends,
//! which lines belong to a top-level key's block, and which document is the
//! stream's.

use std::path::Path;

use serde::Deserialize;

use imagestream_core::manifest::yaml::DocHead;
use imagestream_core::stream::ImageStream;

use crate::store::directory::error::{WriteError, not_found, unsupported};

/// One document of a YAML stream, as byte offsets into the text.
#[derive(Debug, Clone, Copy)]
pub(in crate::store::directory) struct Doc<'a> {
    /// 1-based, counting only documents with content.
    pub(in crate::store::directory) number: usize,
    /// 1-based line of the document's first line (its `---`, if any).
    pub(in crate::store::directory) line: usize,
    /// Where the document starts: its `---` line, or the line after `...`.
    pub(in crate::store::directory) start: usize,
    /// Where the text handed to the parser starts: just after `---`, so a
    /// comment on that line stays a comment.
    pub(in crate::store::directory) parse_from: usize,
    /// Where the lines below the marker line start.
    pub(in crate::store::directory) body: usize,
    /// Where the next marker line (or the end of the text) starts.
    pub(in crate::store::directory) end: usize,
    /// What follows `---` on the marker line, if the document has one.
    pub(in crate::store::directory) marker_rest: Option<&'a str>,
}

impl Doc<'_> {
    pub(super) fn describe(&self, path: &Path) -> String {
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
pub(super) fn after_marker<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.strip_prefix(marker)
        .filter(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

/// Splits a YAML stream into its documents, dropping those without content
/// (only blank lines, comments and directives).
pub(in crate::store::directory) fn split_documents(text: &str) -> Vec<Doc<'_>> {
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

pub(super) fn push_document<'a>(text: &'a str, mut doc: Doc<'a>, out: &mut Vec<Doc<'a>>) {
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
pub(super) fn doc_lines<'a>(text: &'a str, doc: &Doc<'_>) -> Vec<(usize, &'a str)> {
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

pub(super) fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

pub(super) fn is_comment_or_blank(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// Lines that carry nothing of a top-level block: blank lines, column-0
/// comments and directives.
pub(super) fn is_filler(line: &str) -> bool {
    is_blank(line) || line.starts_with('#') || line.starts_with('%')
}

/// A line that continues the block above it: indented, or a column-0 `-`
/// sequence item.
pub(super) fn continues_block(line: &str) -> bool {
    let indented = line.starts_with([' ', '\t']) && !is_blank(line);
    let item = line
        .strip_prefix('-')
        .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t', '\r', '\n']));
    indented || item
}

/// `KEY:` at column 0, the key plain or quoted, followed by the end of the
/// line or whitespace.
pub(super) fn is_key_line(line: &str, key: &str) -> bool {
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
pub(super) fn block_end(lines: &[(usize, &str)], key_at: usize) -> usize {
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
pub(super) fn content_end(lines: &[(usize, &str)]) -> Option<usize> {
    lines
        .iter()
        .rev()
        .find(|(_, l)| !is_filler(l))
        .map(|(at, l)| at + l.len())
}

/// The start of the document's first line of content.
pub(super) fn content_start(lines: &[(usize, &str)]) -> Option<usize> {
    lines
        .iter()
        .find(|(_, l)| !is_filler(l) && !is_comment_or_blank(l))
        .map(|(at, _)| *at)
}

pub(super) fn split_bom(text: &str) -> (&str, &str) {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    }
}

pub(super) fn line_ending(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// The items of a `List` document.
#[derive(Deserialize)]
pub(super) struct ListHead {
    #[serde(default)]
    pub(super) items: Option<Vec<DocHead>>,
}

/// Where a stream turned up among a file's documents.
#[derive(Default)]
pub(super) struct Scan {
    /// Indexes of the documents that are the stream.
    pub(super) hits: Vec<usize>,
    /// A `List` document holding the stream as an item.
    pub(super) in_list: Option<usize>,
    /// The first document that does not parse, with the parser's reason.
    pub(super) broken: Option<(usize, String)>,
}

pub(super) fn scan(text: &str, docs: &[Doc<'_>], namespace: &str, name: &str) -> Scan {
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
pub(super) fn find_stream<'d>(
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

/// Kubernetes' namespace for an object that names none.
pub(super) const DEFAULT_NAMESPACE: &str = "default";

pub(super) fn is_named(is: &ImageStream, namespace: &str, name: &str) -> bool {
    is.metadata.name.as_deref() == Some(name)
        && effective_namespace(is.metadata.namespace.as_deref().unwrap_or_default())
            == effective_namespace(namespace)
}

pub(super) fn effective_namespace(namespace: &str) -> &str {
    if namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        namespace
    }
}
