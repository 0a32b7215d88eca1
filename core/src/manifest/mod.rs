//! Kubernetes objects read from YAML or JSON files: multi-document YAML, a
//! single JSON object, or a `List` of objects as `kubectl get -o yaml` prints.

pub mod fieldcheck;
pub mod yaml;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_json::Value;

use crate::stream::ImageStream;
use fieldcheck::{FieldPath, FieldWarning, Segment};
use yaml::{DocHead, scan_metadata, split_yaml_documents, yaml_error};

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
            crate::pullsecret::document::redacted_yaml_error(&e, first_line)
        } else {
            yaml_error(&e, first_line)
        }
    })
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
    Ok(documents_with_paths(text, json)?
        .into_iter()
        .map(|(_, doc)| doc)
        .collect())
}

/// [`documents`], each with where it is in its document: `items[2]` for an
/// item of a `List`, nothing for a document of its own.
fn documents_with_paths(text: &str, json: bool) -> Result<Vec<(FieldPath, Value)>, String> {
    let docs = documents_preserving_lists(text, json)?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        flatten_list(doc, FieldPath::default(), &mut out);
    }
    Ok(out)
}

/// The items of the `List` document `text`, which starts on line
/// `first_line` of its file, each with its path in the list.
fn list_items(text: &str, first_line: usize) -> Result<Vec<(FieldPath, Value)>, String> {
    let mut out = Vec::new();
    for doc in yaml_values(text, first_line)? {
        flatten_list(doc, FieldPath::default(), &mut out);
    }
    Ok(out)
}

fn flatten_list(doc: Value, at: FieldPath, out: &mut Vec<(FieldPath, Value)>) {
    match doc {
        Value::Null => {}
        Value::Object(mut map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
            if let Some(Value::Array(items)) = map.remove("items") {
                for (i, item) in items.into_iter().enumerate() {
                    let mut path = at.0.clone();
                    path.extend([Segment::Key("items".into()), Segment::Index(i)]);
                    flatten_list(item, FieldPath(path), out);
                }
            }
        }
        other => out.push((at, other)),
    }
}

/// Types one document by its apiVersion and kind.
pub fn typed(doc: Value) -> Result<Manifest, String> {
    typed_checked(doc).map(|(m, _)| m)
}

/// [`typed`], with the fields the object's type does not know.
fn typed_checked(doc: Value) -> Result<(Manifest, Vec<FieldPath>), String> {
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("document has no kind")?
        .to_owned();
    let group = check_type(&api_version, &kind)?;
    let m = match (group, kind.as_str()) {
        ("image.openshift.io", "ImageStream") => {
            let (mut is, unknown): (ImageStream, _) = from_value(with_spec(doc), &kind)?;
            is.shrink_to_fit();
            (Manifest::Stream(Arc::new(is)), unknown)
        }
        ("rbac.authorization.k8s.io", "Role") => boxed(from_value(doc, &kind)?, Manifest::Role),
        ("rbac.authorization.k8s.io", "ClusterRole") => {
            boxed(from_value(doc, &kind)?, Manifest::ClusterRole)
        }
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            boxed(from_value(doc, &kind)?, Manifest::RoleBinding)
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            boxed(from_value(doc, &kind)?, Manifest::ClusterRoleBinding)
        }
        // Secrets have a parser of their own, whose errors never quote a value.
        ("", "Secret") => (
            Manifest::Secret(Box::new(crate::pullsecret::document::secret_from_value(
                doc,
            )?)),
            Vec::new(),
        ),
        _ => (Manifest::Other { kind }, Vec::new()),
    };
    Ok(m)
}

fn boxed<T>(
    (value, unknown): (T, Vec<FieldPath>),
    make: impl FnOnce(Box<T>) -> Manifest,
) -> (Manifest, Vec<FieldPath>) {
    (make(Box::new(value)), unknown)
}

/// The kinds of OpenShift's image API (`image.openshift.io/v1`). Only
/// ImageStream is read; the others are skipped like any kind not read.
const IMAGE_API_KINDS: &[&str] = &[
    "Image",
    "ImageList",
    "ImageSignature",
    "ImageStream",
    "ImageStreamImage",
    "ImageStreamImport",
    "ImageStreamLayers",
    "ImageStreamList",
    "ImageStreamMapping",
    "ImageStreamTag",
    "ImageStreamTagList",
    "ImageTag",
    "ImageTagList",
    "SecretList",
];

/// The API group of `apiVersion`, or why the object cannot be what it says
/// (the API server would refuse it too): a kind or version of the image API
/// that does not exist, or an ImageStream outside `image.openshift.io/v1`.
/// A typo here would otherwise make a stream silently not there.
fn check_type<'a>(api_version: &'a str, kind: &str) -> Result<&'a str, String> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let image_api = crate::stream::GROUP;
    if group == image_api {
        if version != crate::stream::VERSION {
            return Err(format!(
                "apiVersion {api_version:?} is not served: the image API is {}",
                crate::stream::API_VERSION
            ));
        }
        if !IMAGE_API_KINDS.contains(&kind) {
            return Err(format!(
                "kind {kind:?} does not exist in {api_version} (the stream kind is {})",
                crate::stream::KIND
            ));
        }
    } else if kind == crate::stream::KIND {
        return Err(format!(
            "an {kind} needs apiVersion {}, not {api_version:?}",
            crate::stream::API_VERSION
        ));
    }
    Ok(group)
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

fn from_value<T: serde::de::DeserializeOwned>(
    doc: Value,
    kind: &str,
) -> Result<(T, Vec<FieldPath>), String> {
    let what = object_name(
        kind,
        doc.pointer("/metadata/namespace").and_then(Value::as_str),
        doc.pointer("/metadata/name").and_then(Value::as_str),
    );
    fieldcheck::from_value(doc).map_err(|e| format!("{what}: {e}"))
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

/// The objects of a file, and the fields of them that were ignored.
#[derive(Debug, Default)]
pub struct ParsedFile {
    pub objects: Vec<Manifest>,
    pub warnings: Vec<FieldWarning>,
}

/// What a warning calls an object: `ImageStream demo/app`.
fn manifest_name(m: &Manifest) -> String {
    let (kind, meta) = match m {
        Manifest::Stream(s) => ("ImageStream", &s.metadata),
        Manifest::Role(r) => ("Role", &r.metadata),
        Manifest::ClusterRole(r) => ("ClusterRole", &r.metadata),
        Manifest::RoleBinding(r) => ("RoleBinding", &r.metadata),
        Manifest::ClusterRoleBinding(r) => ("ClusterRoleBinding", &r.metadata),
        Manifest::Secret(s) => ("Secret", &s.metadata),
        Manifest::Other { kind } => return kind.clone(),
    };
    object_name(kind, meta.namespace.as_deref(), meta.name.as_deref())
}

/// Warnings for `unknown` fields of the objects of `text`, whose first line
/// is line `first_line` of its file: the text is parsed again only for them.
fn warnings_in(
    text: &str,
    first_line: usize,
    found: &[(String, Vec<FieldPath>)],
    out: &mut Vec<FieldWarning>,
) {
    let paths: Vec<FieldPath> = found
        .iter()
        .flat_map(|(_, paths)| paths.iter().cloned())
        .collect();
    if paths.is_empty() {
        return;
    }
    let mut lines = fieldcheck::lines_of(text, &paths).into_iter();
    for (object, unknown) in found {
        for field in unknown {
            let line = lines.next().unwrap_or(0);
            out.push(FieldWarning {
                line: if line == 0 { 0 } else { first_line + line - 1 },
                object: object.clone(),
                field: field.clone(),
            });
        }
    }
}

/// Every object of a file; the error is the parser's reason.
///
/// YAML documents are typed straight from their text rather than through a
/// `Value`: an untyped parse guesses that `1.0` is a number and `no` a boolean,
/// and would then refuse a tag named `1.0` where the API server accepts it.
pub fn parse_file(text: &str, json: bool) -> Result<Vec<Manifest>, String> {
    parse_file_checked(text, json).map(|f| f.objects)
}

/// [`parse_file`], with a warning for every field an object's type does not
/// know (`form:` for `from:`), at its line.
pub fn parse_file_checked(text: &str, json: bool) -> Result<ParsedFile, String> {
    let mut out = ParsedFile::default();
    if json {
        let mut found = Vec::new();
        for (at, doc) in documents_with_paths(text, true)? {
            let (m, unknown) = typed_checked(doc)?;
            if !unknown.is_empty() {
                found.push((
                    manifest_name(&m),
                    unknown.iter().map(|p| p.under(&at)).collect(),
                ));
            }
            out.objects.push(m);
        }
        warnings_in(text, 1, &found, &mut out.warnings);
        return Ok(out);
    }
    for doc in split_yaml_documents(text) {
        let at = |e: String| format!("document at line {}: {e}", doc.line);
        let head = match DocHead::scan(doc.text) {
            Some(h) => h,
            // Which object this is is not known yet: it may be a Secret.
            None => serde_saphyr::from_str(doc.text).map_err(|e| {
                at(crate::pullsecret::document::redacted_yaml_error(
                    &e, doc.line,
                ))
            })?,
        };
        let mut found = Vec::new();
        if head.is_list() {
            for (path, item) in list_items(doc.text, doc.line).map_err(at)? {
                let (m, unknown) = typed_checked(item).map_err(at)?;
                if !unknown.is_empty() {
                    found.push((
                        manifest_name(&m),
                        unknown.iter().map(|p| p.under(&path)).collect(),
                    ));
                }
                out.objects.push(m);
            }
        } else {
            let (m, unknown) = typed_yaml(&head, doc.text, doc.line).map_err(|e| {
                at(match type_line(doc.text, &e) {
                    Some(line) => format!("line {}: {e}", doc.line + line - 1),
                    None => e,
                })
            })?;
            if !unknown.is_empty() {
                found.push((manifest_name(&m), unknown));
            }
            out.objects.push(m);
        }
        warnings_in(doc.text, doc.line, &found, &mut out.warnings);
    }
    Ok(out)
}

/// The line of the field a type error is about (`kind` or `apiVersion`),
/// within its document.
fn type_line(text: &str, error: &str) -> Option<usize> {
    let key = if error.starts_with("kind ") {
        "kind"
    } else if error.starts_with("apiVersion ") || error.starts_with("an ImageStream needs") {
        "apiVersion"
    } else {
        return None;
    };
    match fieldcheck::lines_of(text, &[FieldPath::key(key)]).as_slice() {
        [line] if *line > 0 => Some(*line),
        _ => None,
    }
}

fn typed_yaml(
    head: &DocHead,
    text: &str,
    first_line: usize,
) -> Result<(Manifest, Vec<FieldPath>), String> {
    let kind = head.kind.clone().ok_or("document has no kind")?;
    let group = check_type(head.api_version.as_deref().unwrap_or_default(), &kind)?;
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
            let (mut is, unknown): (ImageStreamWithoutSpec, _) =
                fieldcheck::from_yaml(text).map_err(err)?;
            is.spec.get_or_insert_with(Default::default);
            let mut is = is.into_stream();
            is.shrink_to_fit();
            (Manifest::Stream(Arc::new(is)), unknown)
        }
        ("rbac.authorization.k8s.io", "Role") => {
            boxed(fieldcheck::from_yaml(text).map_err(err)?, Manifest::Role)
        }
        ("rbac.authorization.k8s.io", "ClusterRole") => boxed(
            fieldcheck::from_yaml(text).map_err(err)?,
            Manifest::ClusterRole,
        ),
        ("rbac.authorization.k8s.io", "RoleBinding") => boxed(
            fieldcheck::from_yaml(text).map_err(err)?,
            Manifest::RoleBinding,
        ),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => boxed(
            fieldcheck::from_yaml(text).map_err(err)?,
            Manifest::ClusterRoleBinding,
        ),
        // Secrets have a parser of their own, whose errors never quote a value.
        ("", "Secret") => (
            Manifest::Secret(Box::new(crate::pullsecret::document::secret_from_yaml(
                text,
            )?)),
            Vec::new(),
        ),
        _ => (Manifest::Other { kind }, Vec::new()),
    };
    Ok(m)
}

/// An ImageStream whose spec may be absent, as OpenShift allows.
#[derive(serde::Deserialize)]
struct ImageStreamWithoutSpec {
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    #[serde(default)]
    spec: Option<crate::stream::ImageStreamSpec>,
    #[serde(default)]
    status: Option<crate::stream::ImageStreamStatus>,
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
mod strict_tests {
    use super::*;

    fn shown(parsed: &ParsedFile) -> Vec<(usize, String, String)> {
        parsed
            .warnings
            .iter()
            .map(|w| (w.line, w.object.clone(), w.field.to_string()))
            .collect()
    }

    const TYPOS: &str = "\
# header
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
---
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: app
  namespace: demo
  labelz: {a: b}
spec:
  lookupPolicy:
    locl: true
  tags:
  - name: latest
    form:
      kind: DockerImage
      name: quay.io/a/b:latest
  - name: other
    importPolicy: {scheduled: true, schedueld: false}
status:
  tags:
  - tag: latest
    items: null   # never imported
    itemz: []
";

    #[test]
    fn unknown_fields_are_warnings_with_their_lines_and_the_stream_loads() {
        let parsed = parse_file_checked(TYPOS, false).expect("parses");
        assert_eq!(parsed.objects.len(), 2);
        let Manifest::Stream(is) = &parsed.objects[1] else {
            panic!("stream")
        };
        assert!(!is.lookup_local(), "as the API server, the typo is dropped");
        assert!(is.spec_tag("latest").is_some_and(|t| t.from.is_none()));
        assert_eq!(
            shown(&parsed),
            [
                (11, "ImageStream demo/app", "metadata.labelz"),
                (14, "ImageStream demo/app", "spec.lookupPolicy.locl"),
                (17, "ImageStream demo/app", "spec.tags[0].form"),
                (
                    21,
                    "ImageStream demo/app",
                    "spec.tags[1].importPolicy.schedueld"
                ),
                (26, "ImageStream demo/app", "status.tags[0].itemz"),
            ]
            .map(|(l, o, f)| (l, o.to_owned(), f.to_owned()))
        );
        assert_eq!(
            parsed.warnings[2].to_string(),
            "ImageStream demo/app: unknown field \"spec.tags[0].form\" (ignored, as the API server would drop it)"
        );
    }

    #[test]
    fn unknown_fields_of_list_items_json_and_rbac_objects() {
        let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: image.openshift.io/v1\n  kind: ImageStream\n  metadata: {name: a}\n  spec:\n    tags:\n    - {name: x, form: {}}\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: RoleBinding\n  metadata: {name: rb, namespace: n}\n  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}\n  subject: []\n";
        let parsed = parse_file_checked(list, false).expect("parses");
        assert_eq!(
            shown(&parsed),
            [
                (9, "ImageStream a", "items[0].spec.tags[0].form"),
                (14, "RoleBinding n/rb", "items[1].subject"),
            ]
            .map(|(l, o, f)| (l, o.to_owned(), f.to_owned()))
        );
        let json = "{\"apiVersion\": \"image.openshift.io/v1\", \"kind\": \"ImageStream\",\n \"metadata\": {\"name\": \"j\"},\n \"spec\": {\"lookupPolicy\": {\"locl\": true}}}\n";
        let parsed = parse_file_checked(json, true).expect("parses");
        assert_eq!(
            shown(&parsed),
            [(
                3,
                "ImageStream j".to_owned(),
                "spec.lookupPolicy.locl".to_owned()
            )]
        );
    }

    #[test]
    fn unknown_kinds_and_versions_of_the_image_api_refuse_the_file() {
        let stream = |api: &str, kind: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\n---\n# s\napiVersion: {api}\nkind: {kind}\nmetadata: {{name: a}}\n"
            )
        };
        for (api, kind, want) in [
            (
                "image.openshift.io/v1",
                "ImageStrem",
                "document at line 3: line 6: kind \"ImageStrem\" does not exist in image.openshift.io/v1 (the stream kind is ImageStream)",
            ),
            (
                "image.openshift.io/v2",
                "ImageStream",
                "document at line 3: line 5: apiVersion \"image.openshift.io/v2\" is not served: the image API is image.openshift.io/v1",
            ),
            (
                "v1",
                "ImageStream",
                "document at line 3: line 5: an ImageStream needs apiVersion image.openshift.io/v1, not \"v1\"",
            ),
        ] {
            let err = parse_file_checked(&stream(api, kind), false).expect_err(kind);
            assert_eq!(err, want);
        }
        // In flow style and in JSON the same.
        let err = parse_file(
            "{apiVersion: image.openshift.io/v1, kind: ImageStrem}",
            false,
        )
        .expect_err("flow");
        assert!(err.contains("\"ImageStrem\" does not exist"), "{err}");
        let err = parse_file(
            r#"{"apiVersion": "image.openshift.io/v9", "kind": "ImageStream"}"#,
            true,
        )
        .expect_err("json");
        assert!(err.contains("is not served"), "{err}");
        // OpenShift's other image kinds are skipped, as before.
        let objs =
            parse_file(&stream("image.openshift.io/v1", "ImageStreamTag"), false).expect("parses");
        assert!(matches!(&objs[1], Manifest::Other { kind } if kind == "ImageStreamTag"));
    }

    #[test]
    fn the_shipped_examples_have_no_unknown_fields() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/examples");
        let mut read = 0;
        for entry in std::fs::read_dir(dir).expect("examples") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            let json = path.extension().is_some_and(|e| e == "json");
            let parsed = parse_file_checked(&text, json).expect("parses");
            assert!(
                parsed.warnings.is_empty(),
                "{}: {:?}",
                path.display(),
                parsed.warnings
            );
            read += parsed.objects.len();
        }
        assert!(read > 0);
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
