//! Status writes in place: only the parts of `status` that changed are
//! rewritten, so a write of one tag keeps every other line of the file
//! (another tag's `items: null   # never imported`, comments between tags,
//! a key this program does not know).
//!
//! The status block is read as a block mapping (`status:` on a line of its
//! own, its keys one indentation deeper) whose `tags` is a block sequence.
//! Its keys are compared with the new status as the directory store reads
//! them (typed: `items: null` and no `items` are the same), and
//!
//! - a key whose value is unchanged keeps its lines;
//! - a changed `dockerImageRepository` (or other scalar key) gets new lines,
//!   a removed one loses them, a new one is added after the last key;
//! - in `tags`, a tag whose history is unchanged keeps its lines, a changed
//!   one gets new lines in its place, a removed one loses them, and new tags
//!   follow the last item.
//!
//! Anything else (flow style, a `tags` whose order changed, a layout these
//! rules do not recognize) returns `None`, and the caller replaces the
//! whole block as before. Every edit is checked by parsing: the document
//! must read back with exactly the new status and every other field as it
//! was, or the caller's whole-block write is used instead.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use imagestream_core::manifest::Manifest;
use imagestream_core::stream::{ImageStreamStatus, NamedTagEventList};

use super::documents::{
    block_end, doc_lines, find_stream, is_comment_or_blank, is_key_line, is_named, line_ending,
    split_bom, split_documents,
};
use super::yaml::{check_block_style, parse_map, to_yaml};
use crate::store::directory::error::WriteError;

/// The status as the document holds it now.
#[derive(Deserialize)]
struct StatusOnly {
    #[serde(default)]
    status: Option<ImageStreamStatus>,
}

/// One key of a block mapping: its lines, from the key line to its last
/// line of content.
#[derive(Debug)]
struct Entry<'a> {
    key: &'a str,
    /// Index of the key line.
    start: usize,
    /// One past the last line of content.
    end: usize,
    /// What follows `key:` on its line, without a comment.
    inline: &'a str,
}

/// Spaces in front of a line, or `None` when it is indented with a tab
/// (which YAML forbids and these rules would misread).
fn indent(line: &str) -> Option<usize> {
    let n = line.len() - line.trim_start_matches(' ').len();
    (!line[n..].starts_with('\t')).then_some(n)
}

/// `key:` written plainly at the start of `rest`, and what follows it.
fn plain_key(rest: &str) -> Option<(&str, &str)> {
    let colon = rest.find(':')?;
    let key = &rest[..colon];
    let after = &rest[colon + 1..];
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !key.starts_with(['-', '.']);
    let ends = after.is_empty() || after.starts_with([' ', '\t', '\r', '\n']);
    (plain && ends).then_some((key, after))
}

/// The value written on a key's own line, without its comment.
fn inline_value(after: &str) -> &str {
    let t = after.trim();
    if t.starts_with('#') {
        return "";
    }
    match t.find(" #") {
        Some(at) => t[..at].trim_end(),
        None => t,
    }
}

fn is_item(rest: &str) -> bool {
    rest.strip_prefix('-')
        .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t', '\r', '\n']))
}

/// The keys of the block mapping in `lines[from..to]`, and its indentation.
fn mapping<'a>(
    lines: &[(usize, &'a str)],
    from: usize,
    to: usize,
) -> Option<(usize, Vec<Entry<'a>>)> {
    let mut entries: Vec<Entry<'a>> = Vec::new();
    let mut at = None;
    for (i, (_, line)) in lines.iter().enumerate().take(to).skip(from) {
        if is_comment_or_blank(line) {
            continue;
        }
        let n = indent(line)?;
        let n_map = *at.get_or_insert(n);
        if n == 0 || n < n_map {
            return None;
        }
        let rest = &line[n..];
        if n > n_map || is_item(rest) {
            // A value's further lines; a sequence may sit at its key's own
            // indentation.
            entries.last_mut()?.end = i + 1;
            continue;
        }
        let (key, after) = plain_key(rest)?;
        if entries.iter().any(|e| e.key == key) {
            return None;
        }
        entries.push(Entry {
            key,
            start: i,
            end: i + 1,
            inline: inline_value(after),
        });
    }
    Some((at?, entries))
}

/// The items of the block sequence in `lines[from..to]` (each from its `-`
/// line to its last line of content), and their indentation.
fn sequence(lines: &[(usize, &str)], from: usize, to: usize) -> Option<(usize, Vec<Range<usize>>)> {
    let mut items: Vec<Range<usize>> = Vec::new();
    let mut at = None;
    for (i, (_, line)) in lines.iter().enumerate().take(to).skip(from) {
        if is_comment_or_blank(line) {
            continue;
        }
        let n = indent(line)?;
        let m = *at.get_or_insert(n);
        if n > m {
            items.last_mut()?.end = i + 1;
        } else if n == m && is_item(&line[n..]) {
            items.push(i..i + 1);
        } else {
            return None;
        }
    }
    Some((at?, items))
}

/// Serialized `value`, every line indented by `by` spaces, with `eol` line
/// endings.
fn indented<T: Serialize>(value: &T, by: usize, eol: &str) -> Option<String> {
    let yaml = to_yaml(value).ok()?;
    let pad = " ".repeat(by);
    let mut out = String::with_capacity(yaml.len() + by * 8);
    for line in yaml.lines() {
        out.push_str(&pad);
        out.push_str(line);
        out.push_str(eol);
    }
    Some(out)
}

/// Byte ranges of the document and their new text.
struct Edits<'a> {
    body: &'a str,
    lines: &'a [(usize, &'a str)],
    eol: &'a str,
    out: Vec<(Range<usize>, String)>,
}

impl Edits<'_> {
    /// The bytes of lines `range` (with the last one's line break).
    fn span(&self, range: &Range<usize>) -> Range<usize> {
        let (first, _) = self.lines[range.start];
        let (last_at, last) = self.lines[range.end - 1];
        first..last_at + last.len()
    }

    fn replace(&mut self, lines: Range<usize>, mut text: String) {
        let span = self.span(&lines);
        if !self.body[span.clone()].ends_with('\n') {
            // The file's last line has no line break: neither has the new one.
            text.truncate(text.len() - self.eol.len());
        }
        self.out.push((span, text));
    }

    fn remove(&mut self, lines: Range<usize>) {
        let span = self.span(&lines);
        self.out.push((span, String::new()));
    }

    /// `text` after line `line`.
    fn insert_after(&mut self, line: usize, mut text: String) {
        let span = self.span(&(line..line + 1));
        if !self.body[span.clone()].ends_with('\n') {
            text.insert_str(0, self.eol);
            text.truncate(text.len() - self.eol.len());
        }
        self.out.push((span.end..span.end, text));
    }
}

/// The file with the stream's status set to `new`, changing only what
/// differs; `None` when the layout calls for replacing the whole block.
pub(super) fn set_in_place(
    text: &str,
    namespace: &str,
    name: &str,
    new: &ImageStreamStatus,
    path: &std::path::Path,
) -> Result<Option<String>, WriteError> {
    let (bom, body) = split_bom(text);
    let docs = split_documents(body);
    let doc = find_stream(body, &docs, namespace, name, path)?;
    let lines = doc_lines(body, doc);
    if check_block_style(&lines, doc, "status", path).is_err() {
        return Ok(None);
    }
    let keys: Vec<usize> = (0..lines.len())
        .filter(|&i| is_key_line(lines[i].1, "status"))
        .collect();
    let &[k] = keys.as_slice() else {
        return Ok(None);
    };
    let end = block_end(&lines, k);
    let status_line = lines[k].1;
    let after_key = &status_line[status_line.find(':').map_or(0, |c| c + 1)..];
    if !inline_value(after_key).is_empty() {
        return Ok(None);
    }
    let block_text = &body[lines[k].0..lines[end - 1].0 + lines[end - 1].1.len()];
    let Ok(old) = serde_saphyr::from_str::<StatusOnly>(block_text) else {
        return Ok(None);
    };
    let old = old.status.unwrap_or_default();
    if &old == new {
        return Ok(Some(text.to_owned()));
    }
    let Some((n, entries)) = mapping(&lines, k + 1, end) else {
        return Ok(None);
    };
    let eol = line_ending(body);
    let mut edits = Edits {
        body,
        lines: &lines,
        eol,
        out: Vec::new(),
    };
    if plan(&mut edits, &entries, n, &old, new).is_none() {
        return Ok(None);
    }
    edits.out.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(text.len() + 256);
    out.push_str(bom);
    let mut at = 0;
    for (range, new_text) in &edits.out {
        if range.start < at {
            return Ok(None);
        }
        out.push_str(&body[at..range.start]);
        out.push_str(new_text);
        at = range.end;
    }
    out.push_str(&body[at..]);

    let grew = out.len() as isize - text.len() as isize;
    let new_end = (doc.end as isize + grew) as usize;
    let new_body = &out[bom.len()..];
    if reads_back(
        &body[doc.parse_from..doc.end],
        &new_body[doc.parse_from..new_end],
        namespace,
        name,
        new,
    ) {
        Ok(Some(out))
    } else {
        Ok(None)
    }
}

/// The edits that turn `old` into `new`; `None` where only a whole-block
/// write will do.
fn plan(
    edits: &mut Edits<'_>,
    entries: &[Entry<'_>],
    n: usize,
    old: &ImageStreamStatus,
    new: &ImageStreamStatus,
) -> Option<()> {
    let old_v = serde_json::to_value(old).ok()?;
    let new_v = serde_json::to_value(new).ok()?;
    let (old_v, new_v) = (old_v.as_object()?, new_v.as_object()?);
    let mut added = String::new();
    for (key, value) in new_v {
        if key != "tags" && old_v.get(key) == Some(value) {
            continue;
        }
        let entry = entries.iter().find(|e| e.key == key);
        if key == "tags"
            && let Some(entry) = entry
        {
            if old.tags == new.tags {
                continue;
            }
            let mark = edits.out.len();
            if tags_in_place(edits, entry, old, new).is_some() {
                continue;
            }
            // Tag by tag did not work out: the whole `tags` is rewritten.
            edits.out.truncate(mark);
        }
        let lines = indented(
            &std::collections::BTreeMap::from([(key, value)]),
            n,
            edits.eol,
        )?;
        match entry {
            Some(entry) => edits.replace(entry.start..entry.end, lines),
            None => added.push_str(&lines),
        }
    }
    for (key, _) in old_v {
        if !new_v.contains_key(key)
            && let Some(entry) = entries.iter().find(|e| e.key == key)
        {
            edits.remove(entry.start..entry.end);
        }
    }
    if !added.is_empty() {
        edits.insert_after(entries.last()?.end - 1, added);
    }
    // A status left with no keys would read back as no status at all.
    let kept = entries
        .iter()
        .filter(|e| new_v.contains_key(e.key) || !old_v.contains_key(e.key))
        .count();
    (kept > 0 || !new_v.is_empty()).then_some(())
}

/// The edits of `tags` item by item; `None` when its items cannot be matched
/// to the tags they hold or the new order is not the old one.
fn tags_in_place(
    edits: &mut Edits<'_>,
    entry: &Entry<'_>,
    old: &ImageStreamStatus,
    new: &ImageStreamStatus,
) -> Option<()> {
    if !entry.inline.is_empty() {
        return None;
    }
    let old_tags = old.tags.as_deref()?;
    let new_tags = new.tags.as_deref()?;
    let (m, items) = sequence(edits.lines, entry.start + 1, entry.end)?;
    if items.len() != old_tags.len() || !unique(old_tags) || !unique(new_tags) {
        return None;
    }
    let kept_old: Vec<&str> = old_tags
        .iter()
        .map(|t| t.tag.as_str())
        .filter(|t| new_tags.iter().any(|n| n.tag == *t))
        .collect();
    let common = new_tags
        .iter()
        .take_while(|t| old_tags.iter().any(|o| o.tag == t.tag))
        .count();
    let kept_new: Vec<&str> = new_tags[..common].iter().map(|t| t.tag.as_str()).collect();
    // Tags kept stay in their order, and new ones follow them.
    if kept_old != kept_new
        || new_tags[common..]
            .iter()
            .any(|t| old_tags.iter().any(|o| o.tag == t.tag))
    {
        return None;
    }
    for (list, lines) in old_tags.iter().zip(&items) {
        match new_tags.iter().find(|t| t.tag == list.tag) {
            None => edits.remove(lines.clone()),
            Some(now) if now == list => {}
            Some(now) => edits.replace(lines.clone(), indented(&[now], m, edits.eol)?),
        }
    }
    if common < new_tags.len() {
        let last = items.last()?.end - 1;
        edits.insert_after(last, indented(&new_tags[common..].to_vec(), m, edits.eol)?);
    }
    Some(())
}

fn unique(tags: &[NamedTagEventList]) -> bool {
    tags.iter()
        .enumerate()
        .all(|(i, t)| tags[..i].iter().all(|o| o.tag != t.tag))
}

/// The edited document reads back as the stream with exactly `status`, and
/// every field but `status` is as it was.
fn reads_back(
    old: &str,
    new: &str,
    namespace: &str,
    name: &str,
    status: &ImageStreamStatus,
) -> bool {
    let typed = imagestream_core::manifest::parse_file(new, false)
        .ok()
        .and_then(|objs| {
            objs.into_iter().find_map(|m| match m {
                Manifest::Stream(is) if is_named(&is, namespace, name) => Some(is),
                _ => None,
            })
        });
    if typed.and_then(|is| is.status.clone()).as_ref() != Some(status) {
        return false;
    }
    match (parse_map(old), parse_map(new)) {
        (Ok(mut before), Ok(mut after)) => {
            before.remove("status");
            after.remove("status");
            before == after
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
