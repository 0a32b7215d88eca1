//! A status write as the smallest set of operations: only the parts of
//! `status` that changed are rewritten, so a write of one tag keeps every
//! other line (another tag's `items: null   # never imported`, comments
//! between tags, a key this program does not know).
//!
//! - a key whose value is unchanged is left alone; a changed one is replaced,
//!   a removed one removed, a new one added;
//! - in `tags`, a tag whose history is unchanged is left alone, a changed one
//!   is replaced in its place, a removed one removed, and new tags follow the
//!   last one. Tags whose order changed are written as a whole `tags`.

use serde_json::{Value, json};

use imagestream_core::stream::{ImageStreamStatus, NamedTagEventList};

/// How finely a status is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store::directory) enum Detail {
    /// A changed tag's changed keys.
    Keys,
    /// A changed tag whole.
    Tags,
    /// The whole status.
    Whole,
}

/// The operations (paths under `status`, which is `at`) that turn `old` into
/// `new`; `tags_len` is the length of the file's `status.tags` sequence, if
/// it is one. `None`: only a whole-status write will do.
pub(super) fn ops(
    at: &str,
    old: &ImageStreamStatus,
    new: &ImageStreamStatus,
    tags_len: Option<usize>,
    detail: Detail,
) -> Option<Vec<Value>> {
    let old_v = serde_json::to_value(old).ok()?;
    let new_v = serde_json::to_value(new).ok()?;
    let (old_v, new_v) = (old_v.as_object()?, new_v.as_object()?);
    let mut out = Vec::new();
    for (key, value) in new_v {
        if old_v.get(key) == Some(value) {
            continue;
        }
        if key == "tags"
            && let Some(tag_ops) = tag_ops(at, old, new, tags_len, detail)
        {
            out.extend(tag_ops);
            continue;
        }
        out.push(json!({"op": "add", "path": format!("{at}/{key}"), "value": value}));
    }
    for key in old_v.keys() {
        if !new_v.contains_key(key) {
            out.push(json!({"op": "remove", "path": format!("{at}/{key}")}));
        }
    }
    Some(out)
}

/// The operations of `tags` item by item; `None` when the file's items
/// cannot be matched to the tags they hold or the new order is not the old
/// one.
fn tag_ops(
    at: &str,
    old: &ImageStreamStatus,
    new: &ImageStreamStatus,
    tags_len: Option<usize>,
    detail: Detail,
) -> Option<Vec<Value>> {
    let old_tags = old.tags.as_deref()?;
    let new_tags = new.tags.as_deref()?;
    if tags_len != Some(old_tags.len()) || !unique(old_tags) || !unique(new_tags) {
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
    let mut out = Vec::new();
    // Replacements first (indexes as read), removals from the back, then
    // the new tags at the end.
    for (i, list) in old_tags.iter().enumerate() {
        if let Some(now) = new_tags.iter().find(|t| t.tag == list.tag)
            && now != list
        {
            let at = format!("{at}/tags/{i}");
            match detail {
                Detail::Keys => out.extend(keys_changed(&at, list, now)?),
                _ => out.push(json!({"op": "replace", "path": at, "value": now})),
            }
        }
    }
    for (i, list) in old_tags.iter().enumerate().rev() {
        if !new_tags.iter().any(|t| t.tag == list.tag) {
            out.push(json!({"op": "remove", "path": format!("{at}/tags/{i}")}));
        }
    }
    for now in &new_tags[common..] {
        out.push(json!({"op": "add", "path": format!("{at}/tags/-"), "value": now}));
    }
    Some(out)
}

/// A changed tag's keys (`items`, `conditions`) one by one, so that the
/// lines and comments of a key that did not change stay.
fn keys_changed(at: &str, old: &NamedTagEventList, new: &NamedTagEventList) -> Option<Vec<Value>> {
    let old_v = serde_json::to_value(old).ok()?;
    let new_v = serde_json::to_value(new).ok()?;
    let (old_v, new_v) = (old_v.as_object()?, new_v.as_object()?);
    let mut out = Vec::new();
    for (key, value) in new_v {
        if old_v.get(key) != Some(value) {
            out.push(json!({"op": "add", "path": format!("{at}/{key}"), "value": value}));
        }
    }
    for key in old_v.keys() {
        if !new_v.contains_key(key) {
            out.push(json!({"op": "remove", "path": format!("{at}/{key}")}));
        }
    }
    Some(out)
}

fn unique(tags: &[NamedTagEventList]) -> bool {
    tags.iter()
        .enumerate()
        .all(|(i, t)| tags[..i].iter().all(|o| o.tag != t.tag))
}
