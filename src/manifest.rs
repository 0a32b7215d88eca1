//! Kubernetes objects read from YAML or JSON files: multi-document YAML, a
//! single JSON object, or a `List` of objects as `kubectl get -o yaml` prints.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_json::Value;

use crate::imagestream::ImageStream;

/// The objects directory mode reads; other kinds are kept by name only.
#[derive(Debug, Clone)]
pub enum Manifest {
    Stream(Arc<ImageStream>),
    Role(Box<Role>),
    ClusterRole(Box<ClusterRole>),
    RoleBinding(Box<RoleBinding>),
    ClusterRoleBinding(Box<ClusterRoleBinding>),
    Secret(Box<Secret>),
    Other { kind: String },
}

/// The documents of one file as written, in order; `List`s stay whole, empty documents are skipped.
pub fn documents_preserving_lists(text: &str, json: bool) -> Result<Vec<Value>, String> {
    let docs = if json {
        vec![serde_json::from_str::<Value>(text).map_err(|e| e.to_string())?]
    } else {
        yaml_values(text, 1)?
    };
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The documents of YAML text that starts on line `first_line` of its file.
/// An error never quotes text that may be a Secret's.
pub fn yaml_values(text: &str, first_line: usize) -> Result<Vec<Value>, String> {
    // YAML 1.2 booleans only: `no` and `on` stay strings, as a Kubernetes user means them.
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_multiple_with_options::<Value>(text, options).map_err(|e| {
        if may_hold_secret(text) {
            crate::pullsecret::redacted_yaml_error(&e, first_line)
        } else {
            yaml_error(&e, first_line)
        }
    })
}

/// A YAML parse error on one line, its position counted from the first line
/// of the file (`first_line` is the line the parsed text starts on): the
/// parser's own rendering adds an `error:` prefix and a source excerpt,
/// which doubled the prefix of every message it went into.
pub fn yaml_error(e: &serde_saphyr::Error, first_line: usize) -> String {
    let options = serde_saphyr::render_options! {
        snippets: serde_saphyr::SnippetMode::Off,
        line_offset: first_line.saturating_sub(1) as u64,
    };
    e.render_with_options(options)
}

/// Whether some document of `text` may be a Secret or hold one, so that a
/// parse error must not quote it: its head names a Secret or a List, or
/// cannot be read without parsing.
fn may_hold_secret(text: &str) -> bool {
    split_yaml_documents(text).iter().any(|d| {
        DocHead::scan(d.text).is_none_or(|h| h.kind.as_deref() == Some("Secret") || h.is_list())
    })
}

/// YAML for a person to read: long single-line strings (image references)
/// stay on one line instead of being folded.
pub fn to_yaml<T: serde::Serialize>(value: &T) -> Result<String, String> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = 1 << 20;
    serde_saphyr::to_string_with_options(value, options).map_err(|e| e.to_string())
}

/// The objects of one file in order, the items of `List`s in place of the list.
pub fn documents(text: &str, json: bool) -> Result<Vec<Value>, String> {
    let docs = documents_preserving_lists(text, json)?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        flatten_list(doc, &mut out);
    }
    Ok(out)
}

fn flatten_list(doc: Value, out: &mut Vec<Value>) {
    match doc {
        Value::Null => {}
        Value::Object(mut map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
            if let Some(Value::Array(items)) = map.remove("items") {
                for item in items {
                    flatten_list(item, out);
                }
            }
        }
        other => out.push(other),
    }
}

/// Types one document by its apiVersion and kind.
pub fn typed(doc: Value) -> Result<Manifest, String> {
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("document has no kind")?
        .to_owned();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let m = match (group, kind.as_str()) {
        ("image.openshift.io", "ImageStream") => {
            let mut is: ImageStream = from_value(with_spec(doc), &kind)?;
            is.shrink_to_fit();
            Manifest::Stream(Arc::new(is))
        }
        ("rbac.authorization.k8s.io", "Role") => Manifest::Role(Box::new(from_value(doc, &kind)?)),
        ("rbac.authorization.k8s.io", "ClusterRole") => {
            Manifest::ClusterRole(Box::new(from_value(doc, &kind)?))
        }
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            Manifest::RoleBinding(Box::new(from_value(doc, &kind)?))
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            Manifest::ClusterRoleBinding(Box::new(from_value(doc, &kind)?))
        }
        ("", "Secret") => Manifest::Secret(Box::new(crate::pullsecret::secret_from_value(doc)?)),
        _ => Manifest::Other { kind },
    };
    Ok(m)
}

/// OpenShift accepts a stream with no spec; the typed root needs one.
fn with_spec(mut doc: Value) -> Value {
    if let Some(map) = doc.as_object_mut()
        && map.get("spec").is_none_or(Value::is_null)
    {
        map.insert("spec".into(), Value::Object(Default::default()));
    }
    doc
}

fn from_value<T: serde::de::DeserializeOwned>(doc: Value, kind: &str) -> Result<T, String> {
    let what = object_name(
        kind,
        doc.pointer("/metadata/namespace").and_then(Value::as_str),
        doc.pointer("/metadata/name").and_then(Value::as_str),
    );
    serde_json::from_value(doc).map_err(|e| format!("{what}: {e}"))
}

/// `KIND NS/NAME` for messages, or `KIND NAME`, or `KIND without metadata.name`.
fn object_name(kind: &str, namespace: Option<&str>, name: Option<&str>) -> String {
    match (
        namespace.filter(|n| !n.is_empty()),
        name.filter(|n| !n.is_empty()),
    ) {
        (Some(ns), Some(name)) => format!("{kind} {ns}/{name}"),
        (None, Some(name)) => format!("{kind} {name}"),
        (_, None) => format!("{kind} without metadata.name"),
    }
}

/// Every object of a file; the error is the parser's reason.
///
/// YAML documents are typed straight from their text rather than through a
/// `Value`: an untyped parse guesses that `1.0` is a number and `no` a boolean,
/// and would then refuse a tag named `1.0` where the API server accepts it.
pub fn parse_file(text: &str, json: bool) -> Result<Vec<Manifest>, String> {
    if json {
        return documents(text, true)?.into_iter().map(typed).collect();
    }
    let mut out = Vec::new();
    for doc in split_yaml_documents(text) {
        let at = |e: String| format!("document at line {}: {e}", doc.line);
        let head = match DocHead::scan(doc.text) {
            Some(h) => h,
            // Which object this is is not known yet: it may be a Secret.
            None => serde_saphyr::from_str(doc.text)
                .map_err(|e| at(crate::pullsecret::redacted_yaml_error(&e, doc.line)))?,
        };
        if head.is_list() {
            let items = yaml_values(doc.text, doc.line).map_err(at)?;
            let mut flat = Vec::new();
            for item in items {
                flatten_list(item, &mut flat);
            }
            for item in flat {
                out.push(typed(item).map_err(at)?);
            }
            continue;
        }
        out.push(typed_yaml(&head, doc.text, doc.line).map_err(at)?);
    }
    Ok(out)
}

/// Just enough of a document to tell which object it is. Typed string
/// fields keep a name such as `1.10` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocHead {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: Option<DocHeadMeta>,
}

#[derive(Debug, serde::Deserialize)]
pub struct DocHeadMeta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

impl DocHead {
    /// `apiVersion` and `kind` read from the document's top-level lines, in
    /// block style, without parsing the rest: the full parse that follows is
    /// the one that counts, and parsing every document twice doubled the time
    /// a large streams directory takes to load. `None` when they are not
    /// written that plainly (flow style, anchors, multi-line scalars).
    pub fn scan(text: &str) -> Option<DocHead> {
        let mut api_version = None;
        let mut kind = None;
        for line in text.lines() {
            let value = |key: &str| -> Option<Option<String>> {
                let rest = line.strip_prefix(key)?.strip_prefix(':')?;
                let v = rest.split(" #").next().unwrap_or_default().trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                    .unwrap_or(v);
                let plain = !v.is_empty()
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"./-_".contains(&b));
                Some(plain.then(|| v.to_owned()))
            };
            if let Some(v) = value("apiVersion") {
                api_version = Some(v?);
            } else if let Some(v) = value("kind") {
                kind = Some(v?);
            }
        }
        Some(DocHead {
            api_version: Some(api_version?),
            kind: Some(kind?),
            metadata: None,
        })
    }

    /// The API group of `apiVersion` (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .as_deref()
            .and_then(|v| v.rsplit_once('/'))
            .map_or("", |(g, _)| g)
    }

    pub fn name(&self) -> Option<&str> {
        self.metadata.as_ref()?.name.as_deref()
    }

    /// The ImageStream NAMESPACE/NAME (a missing namespace is `default`).
    pub fn is_stream(&self, namespace: &str, name: &str) -> bool {
        let ns = self
            .metadata
            .as_ref()
            .and_then(|m| m.namespace.as_deref())
            .filter(|n| !n.is_empty())
            .unwrap_or("default");
        self.group() == "image.openshift.io"
            && self.kind.as_deref() == Some("ImageStream")
            && self.name() == Some(name)
            && ns == namespace
    }

    pub fn is_list(&self) -> bool {
        self.kind.as_deref() == Some("List")
    }
}

fn typed_yaml(head: &DocHead, text: &str, first_line: usize) -> Result<Manifest, String> {
    let kind = head.kind.clone().ok_or("document has no kind")?;
    let group = head.group();
    // The name is only needed for an error, and a scanned head has none: read
    // it then, from the lines when the document is not even valid YAML.
    let err = |e: serde_saphyr::Error| {
        let full = serde_saphyr::from_str::<DocHead>(text).ok();
        let meta = full.as_ref().and_then(|h| h.metadata.as_ref());
        let (namespace, name) = match meta {
            Some(m) => (m.namespace.clone(), m.name.clone()),
            None => (
                scan_metadata(text, "namespace"),
                scan_metadata(text, "name"),
            ),
        };
        let what = object_name(&kind, namespace.as_deref(), name.as_deref());
        format!("{what}: {}", yaml_error(&e, first_line))
    };
    let m = match (group, kind.as_str()) {
        ("image.openshift.io", "ImageStream") => {
            let mut is: ImageStreamWithoutSpec = serde_saphyr::from_str(text).map_err(err)?;
            is.spec.get_or_insert_with(Default::default);
            let mut is = is.into_stream();
            is.shrink_to_fit();
            Manifest::Stream(Arc::new(is))
        }
        ("rbac.authorization.k8s.io", "Role") => {
            Manifest::Role(serde_saphyr::from_str(text).map_err(err)?)
        }
        ("rbac.authorization.k8s.io", "ClusterRole") => {
            Manifest::ClusterRole(serde_saphyr::from_str(text).map_err(err)?)
        }
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            Manifest::RoleBinding(serde_saphyr::from_str(text).map_err(err)?)
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            Manifest::ClusterRoleBinding(serde_saphyr::from_str(text).map_err(err)?)
        }
        ("", "Secret") => Manifest::Secret(Box::new(crate::pullsecret::secret_from_yaml(text)?)),
        _ => Manifest::Other { kind },
    };
    Ok(m)
}

/// `metadata.KEY` read from the lines of a document that does not parse:
/// block style (`metadata:` then an indented `KEY: value`) or flow style
/// (`metadata: {KEY: value, …}`), plain or quoted values only.
fn scan_metadata(text: &str, key: &str) -> Option<String> {
    let clean = |v: &str| -> Option<String> {
        let v = v.split(" #").next().unwrap_or_default().trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        let plain = !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"./-_:".contains(&b));
        plain.then(|| v.to_owned())
    };
    let mut lines = text.lines();
    let rest = loop {
        let line = lines.next()?;
        if let Some(rest) = line.strip_prefix("metadata:") {
            break rest.trim();
        }
    };
    if let Some(flow) = rest.strip_prefix('{') {
        let flow = flow.split('}').next().unwrap_or_default();
        return flow.split(',').find_map(|part| {
            let (k, v) = part.split_once(':')?;
            (k.trim() == key).then(|| clean(v)).flatten()
        });
    }
    let mut indent = None;
    for line in lines {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = line.len() - trimmed.len();
        if depth == 0 {
            return None;
        }
        if *indent.get_or_insert(depth) != depth {
            continue;
        }
        if let Some(v) = trimmed.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            return clean(v);
        }
    }
    None
}

/// An ImageStream whose spec may be absent, as OpenShift allows.
#[derive(serde::Deserialize)]
struct ImageStreamWithoutSpec {
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    #[serde(default)]
    spec: Option<crate::imagestream::ImageStreamSpec>,
    #[serde(default)]
    status: Option<crate::imagestream::ImageStreamStatus>,
}

impl ImageStreamWithoutSpec {
    fn into_stream(self) -> ImageStream {
        let mut is = ImageStream::new(
            self.metadata.name.as_deref().unwrap_or_default(),
            self.spec.unwrap_or_default(),
        );
        is.metadata = self.metadata;
        is.status = self.status;
        is
    }
}

/// One YAML document of a stream and the line it starts on.
pub struct YamlDocument<'a> {
    pub line: usize,
    pub text: &'a str,
}

/// Splits a YAML stream at `---` and `...` markers (at the start of a line, as
/// the YAML spec requires), dropping documents with no content.
pub fn split_yaml_documents<'a>(text: &'a str) -> Vec<YamlDocument<'a>> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    let push = |from: usize, to: usize, line: usize, out: &mut Vec<YamlDocument<'a>>| {
        let doc = &text[from..to];
        let has_content = doc.lines().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        });
        if has_content {
            out.push(YamlDocument { line, text: doc });
        }
    };
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let marker = |m: &str| {
            line.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
        };
        if marker("---") {
            push(start, offset, start_line, &mut out);
            // Content after the marker on the same line belongs to the new document.
            start = offset + 3;
            start_line = i + 1;
        } else if marker("...") {
            push(start, offset, start_line, &mut out);
            start = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    push(start, text.len(), start_line, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists() {
        let text = r#"
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {name: a, namespace: n}
spec: {}
---
---
apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: rb, namespace: n}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}
  subjects: [{kind: ServiceAccount, name: default, namespace: m}]
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c}
"#;
        let objs = parse_file(text, false).expect("parses");
        assert_eq!(objs.len(), 3);
        assert!(matches!(&objs[0], Manifest::Stream(s) if s.metadata.name.as_deref() == Some("a")));
        assert!(matches!(&objs[1], Manifest::RoleBinding(_)));
        assert!(matches!(&objs[2], Manifest::Other { kind } if kind == "ConfigMap"));
    }

    #[test]
    fn json_file() {
        let objs = parse_file(
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"type":"kubernetes.io/dockerconfigjson","data":{}}"#,
            true,
        )
        .expect("parses");
        assert!(matches!(&objs[0], Manifest::Secret(_)));
    }

    #[test]
    fn errors_name_the_problem() {
        let err = parse_file("kind: [unclosed", false).expect_err("bad yaml");
        assert!(err.starts_with("document at line 1"), "{err}");
        assert!(!err.is_empty());
        let err = parse_file(
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: x}\nspec: {tags: [{name: t, from: \"a string\"}]}\n",
            false,
        )
        .expect_err("from must be an object");
        assert!(err.contains("ImageStream x:"), "{err}");
        assert!(parse_file("metadata: {name: x}\n", false).is_err());
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn yaml_scalars_keep_their_spelling_in_typed_fields() {
        let text = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: no, namespace: n}\nspec:\n  tags:\n  - name: 1.0\n  - name: on\n";
        let objs = parse_file(text, false).expect("parses");
        let Manifest::Stream(is) = &objs[0] else {
            panic!("stream")
        };
        assert_eq!(is.metadata.name.as_deref(), Some("no"));
        assert_eq!(is.metadata.namespace.as_deref(), Some("n"));
        let names: Vec<_> = is.spec_tags().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["1.0", "on"]);
    }

    #[test]
    fn heads_are_scanned_when_written_plainly() {
        let h = DocHead::scan("# c\napiVersion: image.openshift.io/v1\nkind: \"ImageStream\" # x\nmetadata:\n  kind: Other\n").expect("scans");
        assert_eq!(
            (h.group(), h.kind.as_deref()),
            ("image.openshift.io", Some("ImageStream"))
        );
        assert!(
            DocHead::scan("{apiVersion: v1, kind: Secret}").is_none(),
            "flow style is parsed instead"
        );
        assert!(DocHead::scan("apiVersion: v1\nkind: &a Secret\n").is_none());
        assert!(DocHead::scan("kind: Secret\n").is_none());
    }

    #[test]
    fn stream_without_spec_is_accepted() {
        let objs = parse_file(
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: a}\n",
            false,
        )
        .expect("parses");
        assert!(matches!(&objs[0], Manifest::Stream(s) if s.spec_tags().is_empty()));
    }

    #[test]
    fn splits_at_markers_only_at_line_start() {
        let text = "# c\n---\na: 1\n--- # x\nb: \"---\"\n  ---\n...\n---\n\n---\nc: 3\n";
        let docs: Vec<_> = split_yaml_documents(text)
            .iter()
            .map(|d| (d.line, d.text.trim()))
            .collect();
        assert_eq!(
            docs,
            vec![(2, "a: 1"), (4, "# x\nb: \"---\"\n  ---"), (10, "c: 3")]
        );
    }
}
