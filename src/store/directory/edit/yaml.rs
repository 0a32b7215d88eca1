//! The YAML side of the editor: where a stream sits in a file (a document of
//! its own or an item of a `List`), and RFC 6902 operations applied there by
//! oneyaml, which keeps every byte it is not asked to change.

use std::collections::HashMap;
use std::path::Path;

use oneyaml::{Emit, NodeRef, Patch, QuoteStyle, Settings, Stream};
use serde_json::Value;

use super::names::effective_namespace;
use crate::store::directory::error::{WriteError, not_found, unsupported};

/// YAML 1.1 readers (and serde-saphyr, for `1_000`) read `on`, `yes`,
/// `12:30:45` and digit separators as other types; with these settings the
/// writer quotes such strings, so a tag named `on` stays a string. New lines
/// are written as the rest of the project writes YAML: double quotes, and a
/// sequence at its key's indentation (as `oc` and kubectl print it).
fn settings() -> Settings {
    Settings::new()
        .yaml11_booleans(true)
        .sexagesimal(true)
        .digit_separators(true)
        .emit(
            Emit::new()
                .quote_style(QuoteStyle::Double)
                .indent_sequences(false),
        )
}

/// A file's YAML, parsed for editing.
pub(super) struct Yaml {
    stream: Stream,
}

/// Where a stream is: its document, and the JSON pointer of the stream
/// object inside it (empty for a document of its own, `/items/3` in a List).
#[derive(Debug, Clone)]
pub(super) struct Place {
    pub(super) document: usize,
    pub(super) base: String,
}

fn text_of(n: Option<NodeRef<'_>>) -> Option<String> {
    n.and_then(|n| n.as_str().map(|c| c.into_owned()))
}

/// (effective namespace, name) of an ImageStream object.
fn stream_key(m: NodeRef<'_>) -> Option<(String, String)> {
    let is_stream = text_of(m.get("kind")).as_deref() == Some("ImageStream")
        && text_of(m.get("apiVersion")).is_some_and(|a| a.starts_with("image.openshift.io/"));
    if !is_stream {
        return None;
    }
    let ns = text_of(m.get_path("metadata.namespace")).unwrap_or_default();
    let name = text_of(m.get_path("metadata.name"))?;
    Some((effective_namespace(&ns).to_owned(), name))
}

/// The one place of the stream NS/NAME among `places`.
pub(super) fn one_place(
    places: &HashMap<(String, String), Vec<Place>>,
    namespace: &str,
    name: &str,
    path: &Path,
) -> Result<Place, WriteError> {
    let found = places
        .get(&(namespace.to_owned(), name.to_owned()))
        .map(Vec::as_slice)
        .unwrap_or_default();
    match found {
        [one] => Ok(one.clone()),
        [] => Err(not_found(path, namespace, name)),
        [a, b, ..] => Err(unsupported(
            path,
            format!(
                "ImageStream {namespace}/{name} appears more than once in {} (documents {} \
                 and {}); remove the duplicate",
                path.display(),
                a.document + 1,
                b.document + 1
            ),
        )),
    }
}

impl Yaml {
    pub(super) fn parse(text: &str, path: &Path) -> Result<Self, WriteError> {
        let stream = Stream::parse_with(text, &settings()).map_err(|e| {
            unsupported(
                path,
                format!("{} does not parse as YAML: {e}", path.display()),
            )
        })?;
        Ok(Self { stream })
    }

    /// Where every stream is, by (effective namespace, name), in one pass.
    pub(super) fn places(&self) -> HashMap<(String, String), Vec<Place>> {
        let mut out: HashMap<(String, String), Vec<Place>> = HashMap::new();
        let mut add = |m: NodeRef<'_>, place: Place| {
            if let Some(key) = stream_key(m) {
                out.entry(key).or_default().push(place);
            }
        };
        for (document, doc) in self.stream.documents().enumerate() {
            let Some(root) = doc.root() else { continue };
            if text_of(root.get("kind")).as_deref() == Some("List") {
                if let Some(items) = root.get("items").and_then(|i| i.as_sequence()) {
                    for (i, item) in items.iter().enumerate() {
                        add(
                            item,
                            Place {
                                document,
                                base: format!("/items/{i}"),
                            },
                        );
                    }
                }
            } else {
                add(
                    root,
                    Place {
                        document,
                        base: String::new(),
                    },
                );
            }
        }
        out
    }

    /// The one place of the stream NS/NAME (`namespace` already effective).
    pub(super) fn find(
        &self,
        namespace: &str,
        name: &str,
        path: &Path,
    ) -> Result<Place, WriteError> {
        one_place(&self.places(), namespace, name, path)
    }

    /// Whether the stream at `place` has a top-level `key`.
    pub(super) fn has(&self, place: &Place, key: &str) -> bool {
        self.node(place, &[key]).is_some()
    }

    /// Whether the stream's `status.tags` is a sequence of `len` items.
    pub(super) fn tags_len(&self, place: &Place) -> Option<usize> {
        let doc = self.stream.document(place.document)?;
        let root = doc.root()?;
        let stream = pointer(root, &place.base)?;
        let tags = stream.get("status")?.get("tags")?.as_sequence()?;
        Some(tags.len())
    }

    /// Whether the stream's `key` is a mapping written in block style: only
    /// there are edits of single fields made (in a flow mapping they would
    /// be written in flow style too).
    pub(super) fn is_block_mapping(&self, place: &Place, key: &str) -> bool {
        let block = || {
            let doc = self.stream.document(place.document)?;
            let at = pointer(doc.root()?, &place.base)?.get(key)?;
            at.as_mapping()?;
            let text = at.text();
            let first = text.trim_start().chars().next()?;
            Some(!matches!(first, '{' | '&' | '!' | '*'))
        };
        block().unwrap_or(false)
    }

    fn node(&self, place: &Place, keys: &[&str]) -> Option<()> {
        let doc = self.stream.document(place.document)?;
        let root = doc.root()?;
        let mut at = pointer(root, &place.base)?;
        for k in keys {
            at = at.get(*k)?;
        }
        Some(())
    }

    /// Applies `ops` (RFC 6902, paths relative to the document) to document
    /// `document`, all or nothing.
    pub(super) fn apply(
        &mut self,
        document: usize,
        ops: &[Value],
        path: &Path,
    ) -> Result<(), WriteError> {
        let json = Value::Array(ops.to_vec()).to_string();
        let patch = Patch::from_json(&json).map_err(|e| WriteError::Serialize(e.to_string()))?;
        self.stream.apply_patch(document, &patch).map_err(|e| {
            unsupported(
                path,
                format!("{} cannot be updated in place: {e}", path.display()),
            )
        })
    }

    /// Removes document `document` whole: from its `---` (or its first line
    /// of content, so a file's header comments stay) to the end of its last
    /// line of content (the comments after it introduce what follows).
    pub(super) fn without_document(&self, document: usize) -> Option<String> {
        let text = self.stream.to_string();
        let doc = self.stream.document(document)?;
        let region = doc.span();
        let root = doc.root()?.span();
        let own = &text[region.start..region.end];
        let start = if own.trim_start().starts_with("---") {
            region.start + (own.len() - own.trim_start().len())
        } else {
            text[..root.start].rfind('\n').map_or(0, |n| n + 1)
        };
        let end = text[root.end..]
            .find('\n')
            .map_or(text.len(), |n| root.end + n + 1);
        Some(format!("{}{}", &text[..start], &text[end..]))
    }

    pub(super) fn text(&self) -> String {
        self.stream.to_string()
    }
}

/// The node at JSON pointer `base` (only `/items/N` is ever used).
fn pointer<'d>(root: NodeRef<'d>, base: &str) -> Option<NodeRef<'d>> {
    let mut at = root;
    for seg in base.split('/').skip(1) {
        at = match seg.parse::<usize>() {
            Ok(i) => at.get_index(i)?,
            Err(_) => at.get(seg)?,
        };
    }
    Some(at)
}
