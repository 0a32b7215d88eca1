//! Directory mode writes: the importer's `status` and the CLI's `spec` go back
//! into the stream's own file, and every other byte of that file stays as the
//! user wrote it. The text is changed by the editor (`edit`), the file
//! replaced atomically (`atomic`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

use imagestream_core::stream::{ImageStream, ImageStreamStatus};

use super::atomic::{Commit, Expect, read_file, replace_file, resolve_symlink};
use super::edit;
use super::error::{WriteError, unsupported};

/// What errors name as the file when editing text in memory.
const IN_MEMORY: &str = "<text>";

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
        let now = edit::stored_stream(old, json, namespace, name, path)?;
        if now.status.as_ref() != read {
            return Err(WriteError::Changed {
                path: path.to_path_buf(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            });
        }
        edit::set_field(old, json, namespace, name, "status", status, path)
    })
}

/// How often a batch is computed again from the file as it is now when
/// someone else (the CLI, a hand edit) changed the file during the write.
const BATCH_ATTEMPTS: usize = 8;

/// One stream's new status in a batch.
pub struct StatusWrite {
    pub namespace: String,
    pub name: String,
    pub status: ImageStreamStatus,
}

/// Writes the statuses `compute` derives from the streams of `path` as they
/// are now, all in one atomic write. When the file changes between the read
/// and the rename (another process wrote it), `compute` runs again on the
/// new contents: a result computed elsewhere (a registry's answer) is
/// re-applied, never thrown away. Returns what the last `compute` returned,
/// which is what the file now holds.
pub fn update_statuses(
    path: &Path,
    compute: &mut dyn FnMut(&[Arc<ImageStream>]) -> Vec<StatusWrite>,
) -> Result<Vec<StatusWrite>, WriteError> {
    update_statuses_hooked(path, compute, &mut || {})
}

fn update_statuses_hooked(
    path: &Path,
    compute: &mut dyn FnMut(&[Arc<ImageStream>]) -> Vec<StatusWrite>,
    before_commit: &mut dyn FnMut(),
) -> Result<Vec<StatusWrite>, WriteError> {
    let json = is_json(path);
    for _ in 0..BATCH_ATTEMPTS {
        let mut computed = Vec::new();
        let done = update_file(path, false, before_commit, |old| {
            let old = old.unwrap_or_default();
            let streams = edit::all_streams(old, json, path)?;
            computed = compute(&streams);
            let changes: Vec<(&str, &str, &ImageStreamStatus)> = computed
                .iter()
                .map(|w| (w.namespace.as_str(), w.name.as_str(), &w.status))
                .collect();
            edit::set_statuses(old, json, &changes, path)
        });
        match done {
            Err(WriteError::Conflict { .. }) => {
                tracing::debug!(path = %path.display(), "file changed during a status write; applying the statuses again");
                continue;
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(computed),
        }
    }
    Err(WriteError::Conflict {
        path: path.to_path_buf(),
    })
}

/// One lock per file: inside this process a file has one writer at a time,
/// so its writes never conflict with each other (other processes are caught
/// by the compare before the rename).
fn file_lock(target: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // Locks nobody holds are dropped, so the map stays as small as the
    // number of files being written at once.
    locks.retain(|_, l| Arc::strong_count(l) > 1);
    locks.entry(target.to_path_buf()).or_default().clone()
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
    edit::stored_stream(utf8(path, &bytes)?, is_json(path), namespace, name, path)
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
    // The edit sets one key to a value computed beforehand, so another
    // process's write landing during it (serve's importer writing statuses)
    // is kept by applying the same edit to the file as it is now.
    for _ in 0..BATCH_ATTEMPTS {
        let done = update_file(path, false, before_commit, |old| {
            edit::set_field(
                old.unwrap_or_default(),
                json,
                namespace,
                name,
                key,
                value,
                path,
            )
        });
        match done {
            Err(WriteError::Conflict { .. }) => continue,
            other => return other,
        }
    }
    Err(WriteError::Conflict {
        path: path.to_path_buf(),
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
    edit::set_field(
        text,
        json,
        namespace,
        name,
        key,
        value,
        Path::new(IN_MEMORY),
    )
}

/// Appends a new YAML document to `path` (creating the file), atomically. A
/// `.json` file instead gets the object as its whole content when empty, or
/// as a new item when it holds a `List`.
pub fn append_document<T: Serialize>(path: &Path, doc: &T) -> Result<(), WriteError> {
    let json = is_json(path);
    update_file(path, true, &mut || {}, |old| {
        edit::append_to_text(old.unwrap_or_default(), json, doc, path)
    })
}

/// Removes the ImageStream NS/NAME's document from the file (for
/// completeness), atomically. Comments in front of the next document stay; a
/// JSON file whose only object was the stream becomes an empty `List`, which
/// still parses.
pub fn remove_stream(path: &Path, namespace: &str, name: &str) -> Result<(), WriteError> {
    let json = is_json(path);
    update_file(path, false, &mut || {}, |old| {
        edit::remove_from_text(old.unwrap_or_default(), json, namespace, name, path)
    })
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
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
    let lock = file_lock(&target);
    let _writing = lock.lock().unwrap_or_else(|e| e.into_inner());
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    use serde::Deserialize;
    use serde_json::Value;

    use crate::store::directory::atomic::write_atomic;
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
        let docs: Vec<&str> = text.split("\n---\n").collect();
        serde_saphyr::from_str(docs[n - 1]).expect("document parses")
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
    fn flow_style_documents_are_edited_too() {
        let head = "apiVersion: v1\nkind: ConfigMap\n---\n";
        let text = format!(
            "{head}{{apiVersion: image.openshift.io/v1, kind: ImageStream,\n  metadata: {{name: app}}, status: {{}}}}\n"
        );
        let out = set(&text, "default", "app", "status", &json!({"a": 1})).unwrap();
        assert!(out.starts_with(head), "{out}");
        let objects = imagestream_core::manifest::documents(&out, false).unwrap();
        assert_eq!(objects[1]["status"], json!({"a": 1}), "{out}");
        assert_eq!(objects[1]["metadata"], json!({"name": "app"}), "{out}");
    }

    #[test]
    fn layouts_a_line_editor_would_misread_are_edited_or_refused() {
        // An explicit key and a whole mapping indented: edited, read back.
        for text in [
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: app}\n? status\n: {a: 1}\n",
            "  apiVersion: image.openshift.io/v1\n  kind: ImageStream\n  metadata: {name: app}\n",
        ] {
            let out = set(text, "default", "app", "status", &json!({"b": 2})).unwrap();
            let objects = imagestream_core::manifest::documents(&out, false).unwrap();
            assert_eq!(objects[0]["status"], json!({"b": 2}), "{out}");
            assert_eq!(objects.len(), 1, "{out}");
        }
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

    /// `oc get is -n NS -o yaml` exports a `List`: a status is written into
    /// the item, and every comment and other item stays.
    #[test]
    fn a_stream_inside_a_list_export_gets_its_status() {
        let text = "\
# exported with oc get is -o yaml
apiVersion: v1
kind: List
items:
# the app
- apiVersion: image.openshift.io/v1
  kind: ImageStream
  metadata:
    name: app
    namespace: demo
  spec:
    tags:
    - name: \"1.10\" # pinned
      from: {kind: DockerImage, name: quay.io/example/app:1.10}
# the other stream keeps its status
- apiVersion: image.openshift.io/v1
  kind: ImageStream
  metadata: {name: other, namespace: demo}
  status:
    dockerImageRepository: kept # as written
metadata:
  resourceVersion: \"\"
";
        let new: ImageStreamStatus = serde_json::from_value(json!({
            "tags": [{"tag": "1.10", "items": [{"created": "2026-11-26T17:00:00Z",
                "dockerImageReference": format!("quay.io/example/app@{DIGEST}"), "image": DIGEST, "generation": 1}]}],
        }))
        .unwrap();
        let out = set_stream_field_in_text(text, false, "demo", "app", "status", &new).unwrap();
        for line in text.lines() {
            assert!(out.contains(line), "{line:?} lost:\n{out}");
        }
        let status = read(&out, "demo", "app").status.clone();
        assert_eq!(status.as_ref(), Some(&new), "{out}");
        assert_eq!(
            read(&out, "demo", "other").status,
            read(text, "demo", "other").status
        );
        // On disk, with the status precondition, the same.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.yaml");
        fs::write(&path, text).unwrap();
        set_stream_status_if_unchanged(&path, "demo", "app", &new, None).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), out);
    }

    fn read(text: &str, ns: &str, name: &str) -> Arc<ImageStream> {
        crate::store::directory::edit::stored_stream(text, false, ns, name, Path::new("<text>"))
            .unwrap()
    }

    #[test]
    fn a_file_that_does_not_parse_is_refused_and_named() {
        let text = "apiVersion: v1\nkind: [\n---\napiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: app}\n";
        let err = set(text, "default", "app", "status", &json!({})).unwrap_err();
        assert!(
            matches!(err, WriteError::UnsupportedLayout { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("<text> does not parse as YAML: "),
            "{err}"
        );
    }

    #[test]
    fn markers_comments_crlf_and_bom() {
        let text = "\u{feff}%YAML 1.2\r\n--- # the stream\r\napiVersion: image.openshift.io/v1\r\nkind: ImageStream\r\nmetadata:\r\n  name: app\r\nstatus:\r\n  a: 1\r\n...\r\n";
        let out = set(text, "default", "app", "status", &json!({"b": [1, 2]})).unwrap();
        assert_eq!(
            out,
            "\u{feff}%YAML 1.2\r\n--- # the stream\r\napiVersion: image.openshift.io/v1\r\nkind: ImageStream\r\nmetadata:\r\n  name: app\r\nstatus:\r\n  b:\r\n  - 1\r\n  - 2\r\n...\r\n"
        );
    }

    #[test]
    /// Only the changed field of the spec is written: the comment above its
    /// `tags` stays.
    fn spec_is_replaced_the_same_way() {
        let spec = json!({"tags": [{"name": "1.10", "from": {"kind": "DockerImage", "name": "quay.io/example/app:1.10"}}]});
        let out = set(FILE, "demo", "app", "spec", &spec).unwrap();
        let start = FILE.find("spec:\n").unwrap();
        let end = FILE.find("status:\n").unwrap();
        let expected = format!(
            "{}spec:\n  # Tags the importer follows.\n  tags:\n  - name: \"1.10\"\n    from:\n      kind: DockerImage\n      name: quay.io/example/app:1.10\n{}",
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
    fn a_concurrent_change_is_kept_and_the_edit_applied_on_top() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streams.yaml");
        fs::write(&path, FILE).unwrap();
        let theirs = format!("{FILE}# edited meanwhile\n");
        let mut once = true;
        set_stream_field_hooked(&path, "demo", "app", "status", &status(), &mut || {
            if std::mem::take(&mut once) {
                fs::write(&path, &theirs).unwrap();
            }
        })
        .unwrap();
        let now = fs::read_to_string(&path).unwrap();
        assert!(now.ends_with("# edited meanwhile\n"), "{now}");
        assert!(now.contains("registry.example/demo/app"), "{now}");
        assert_eq!(entries(dir.path()), ["streams.yaml"]);
    }

    #[test]
    fn a_file_that_keeps_changing_is_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streams.yaml");
        fs::write(&path, FILE).unwrap();
        let mut edits = 0;
        let err = set_stream_field_hooked(&path, "demo", "app", "status", &status(), &mut || {
            edits += 1;
            fs::write(&path, format!("{FILE}# edit {edits}\n")).unwrap();
        })
        .unwrap_err();
        assert!(matches!(err, WriteError::Conflict { .. }), "{err:?}");
        assert_eq!(edits, BATCH_ATTEMPTS);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{FILE}# edit {BATCH_ATTEMPTS}\n")
        );
        assert_eq!(entries(dir.path()), ["streams.yaml"]);
    }

    /// A batch whose write conflicts is computed again from the file as it
    /// is now: the other writer's change stays, and the batch is applied.
    #[test]
    fn a_status_batch_is_reapplied_after_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streams.yaml");
        let two = format!(
            "{FILE}---\n# second\napiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: web\n  namespace: demo\n"
        );
        fs::write(&path, &two).unwrap();
        let theirs = two.replace("# second", "# second, edited meanwhile");
        let new: ImageStreamStatus = serde_json::from_value(json!({
            "tags": [{"tag": "1.10", "items": [{"created": "2026-11-26T17:00:00Z",
                "dockerImageReference": format!("quay.io/example/app@{DIGEST}"), "image": DIGEST, "generation": 1}]}],
        }))
        .unwrap();
        let mut computed = 0;
        let mut once = true;
        let written = update_statuses_hooked(
            &path,
            &mut |streams| {
                computed += 1;
                assert_eq!(streams.len(), 2);
                ["app", "web"]
                    .iter()
                    .map(|name| StatusWrite {
                        namespace: "demo".into(),
                        name: (*name).into(),
                        status: new.clone(),
                    })
                    .collect()
            },
            &mut || {
                if std::mem::take(&mut once) {
                    fs::write(&path, &theirs).unwrap();
                }
            },
        )
        .unwrap();
        assert_eq!((computed, written.len()), (2, 2));
        let now = fs::read_to_string(&path).unwrap();
        assert!(now.contains("# second, edited meanwhile\n"), "{now}");
        assert!(now.contains("# The credentials follow."), "{now}");
        for name in ["app", "web"] {
            assert_eq!(
                read_stream(&path, "demo", name).unwrap().status.as_ref(),
                Some(&new)
            );
        }
    }

    #[test]
    fn a_status_batch_into_a_json_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streams.json");
        let stream = |name: &str| json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream", "metadata": {"name": name, "namespace": "demo"}, "spec": {}});
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [stream("a"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}, stream("b")]});
        fs::write(&path, list.to_string()).unwrap();
        let new: ImageStreamStatus =
            serde_json::from_value(json!({"dockerImageRepository": "r"})).unwrap();
        update_statuses(&path, &mut |streams| {
            streams
                .iter()
                .map(|is| StatusWrite {
                    namespace: "demo".into(),
                    name: is.metadata.name.clone().unwrap_or_default(),
                    status: new.clone(),
                })
                .collect()
        })
        .unwrap();
        let value: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            value["items"][0]["status"],
            json!({"dockerImageRepository": "r"})
        );
        assert_eq!(
            value["items"][2]["status"],
            json!({"dockerImageRepository": "r"})
        );
        assert_eq!(value["items"][1], list["items"][1]);
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
