//! The importer at scale (issue 18): hundreds of new tags in a few namespace
//! files, imported with one registry request each and one write per file
//! per batch; the CLI writing a file that `serve` imports into; and cluster
//! mode counting what each side receives, with 409s on the way.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use crate::fakeapi::{FakeApi, STREAMS};
use crate::registry::Registry;

/// How long hundreds of imports may take on a loaded 2-core machine.
const IMPORT_BOUND: Duration = Duration::from_secs(120);

/// Manifest requests for `repo` in the registry's log so far: by tag (the
/// imports) and by digest (the image records, read once per new image).
fn manifest_requests(reg: &Registry, repo: &str) -> (usize, usize) {
    let uri = format!("http.request.uri=\"/v2/{repo}/manifests/");
    let bare = format!("http.request.uri=/v2/{repo}/manifests/");
    let log = reg.log();
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("msg=\"response completed"))
        .filter(|l| l.contains(&uri) || l.contains(&bare))
        .collect();
    let by_digest = requests
        .iter()
        .filter(|l| l.contains(&format!("{uri}sha256:")) || l.contains(&format!("{bare}sha256:")))
        .count();
    (requests.len() - by_digest, by_digest)
}

/// Registry requests since `before`: one per tag, and one record read.
fn assert_one_request_per_tag(reg: &Registry, before: (usize, usize), tags: usize, what: &str) {
    let (by_tag, by_digest) = manifest_requests(reg, "scale/app");
    assert_eq!(
        by_tag - before.0,
        tags,
        "one registry request per tag{what}"
    );
    assert_eq!(
        by_digest - before.1,
        1,
        "the one new image is read once for its record"
    );
}

/// `files` namespace files of `per_file` streams, each with one tag
/// following `image`; a header comment per file and a comment per stream.
fn write_streams(dir: &Path, files: usize, per_file: usize, image: &str) {
    for f in 0..files {
        let mut text = format!("# Namespace ns{f}, as `oc get is -n ns{f} -o yaml` exports it.\n");
        for i in 0..per_file {
            text.push_str(&format!(
                "---\n# stream {i} of ns{f}\napiVersion: image.openshift.io/v1\nkind: ImageStream\n\
                 metadata:\n  name: s{i}\n  namespace: ns{f}\nspec:\n  tags:\n  - name: \"1\"\n    from:\n      \
                 kind: DockerImage\n      name: {image}\n    importPolicy:\n      insecure: true\n"
            ));
        }
        std::fs::write(dir.join(format!("ns{f}.yaml")), text).expect("write streams");
    }
}

/// The streams of a file as YAML values (the file must parse).
fn streams_in(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("stream file");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}\n{text}", path.display()));
    docs.into_iter()
        .filter(|d| d["kind"] == "ImageStream")
        .collect()
}

/// The newest imported image of `tag`, if any.
fn imported(stream: &Value, tag: &str) -> Option<String> {
    stream["status"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["tag"] == tag)?["items"][0]["image"]
        .as_str()
        .map(str::to_owned)
}

/// Waits until every stream of the `files` files has `tag` imported as `digest`.
async fn wait_imported(dir: &Path, files: usize, tag: &str, digest: &str, want: usize) {
    let deadline = Instant::now() + IMPORT_BOUND;
    loop {
        let done: usize = (0..files)
            .map(|f| {
                streams_in(&dir.join(format!("ns{f}.yaml")))
                    .iter()
                    .filter(|s| imported(s, tag).as_deref() == Some(digest))
                    .count()
            })
            .sum();
        if done >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {want} tags imported"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_new_tags_are_imported_with_one_request_each() {
    let reg = Registry::start_anonymous();
    let digest = reg.push("scale/app", "1", "one");
    let image = format!("{}/scale/app:1", reg.host);
    let dir = tempfile::tempdir().expect("tempdir");
    let (files, per_file) = (3, 100);
    write_streams(dir.path(), files, per_file, &image);
    let before = manifest_requests(&reg, "scale/app");

    let _server = Server::start(dir.path(), &[]);
    wait_imported(dir.path(), files, "1", &digest, files * per_file).await;
    // A few more planning passes: nothing is imported again.
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert_one_request_per_tag(&reg, before, files * per_file, "");
    for f in 0..files {
        let path = dir.path().join(format!("ns{f}.yaml"));
        let text = std::fs::read_to_string(&path).expect("file");
        assert!(
            text.starts_with(&format!("# Namespace ns{f}, as")),
            "{text}"
        );
        for i in 0..per_file {
            assert!(
                text.contains(&format!("\n# stream {i} of ns{f}\n")),
                "comment of stream {i} lost in ns{f}.yaml"
            );
        }
        let streams = streams_in(&path);
        assert_eq!(streams.len(), per_file);
        for s in &streams {
            assert_eq!(s["status"]["tags"].as_array().map(Vec::len), Some(1), "{s}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_writing_a_file_while_serve_imports_into_it_loses_nothing() {
    let reg = Registry::start_anonymous();
    let digest = reg.push("scale/app", "1", "one");
    let other = reg.push("scale/other", "2", "two");
    let image = format!("{}/scale/app:1", reg.host);
    let dir = tempfile::tempdir().expect("tempdir");
    let per_file = 150;
    write_streams(dir.path(), 1, per_file, &image);

    let _server = Server::start(dir.path(), &[]);
    // While serve imports into ns0.yaml, the CLI adds tags to its streams.
    let source = format!("{}/scale/other:2", reg.host);
    let d = dir.path().to_path_buf();
    let outs = tokio::task::spawn_blocking(move || {
        (0..per_file)
            .step_by(15)
            .map(|i| {
                Command::new(BIN)
                    .args(["tag", &source, &format!("s{i}:cli"), "--insecure"])
                    .arg("--streams-dir")
                    .arg(&d)
                    .args(["-n", "ns0"])
                    .output()
                    .expect("run the CLI")
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("join");
    for out in &outs {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    wait_imported(dir.path(), 1, "1", &digest, per_file).await;
    let deadline = Instant::now() + IMPORT_BOUND;
    loop {
        let streams = streams_in(&dir.path().join("ns0.yaml"));
        let cli_tags: Vec<&Value> = streams
            .iter()
            .filter(|s| {
                s["spec"]["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["name"] == "cli"))
            })
            .collect();
        // Every spec tag the CLI wrote is still there...
        assert_eq!(
            cli_tags.len(),
            outs.len(),
            "a tag written by the CLI was lost"
        );
        // ...and every import serve wrote, on both kinds of tags.
        assert!(
            streams
                .iter()
                .all(|s| imported(s, "1").as_deref() == Some(digest.as_str()))
        );
        if cli_tags
            .iter()
            .all(|s| imported(s, "cli").as_deref() == Some(other.as_str()))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tags the CLI added were not imported"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_asks_the_registry_once_per_tag_even_after_409s() {
    let reg = Registry::start_anonymous();
    let digest = reg.push("scale/app", "1", "one");
    let image = format!("{}/scale/app:1", reg.host);
    let api = FakeApi::start().await;
    let n = 300;
    for i in 0..n {
        api.put_stream(
            json!({"metadata": {"name": format!("s{i}"), "namespace": "team", "generation": 1},
            "spec": {"tags": [{"name": "1", "from": {"kind": "DockerImage", "name": image},
                "importPolicy": {"insecure": true}, "generation": 1}]}}),
        );
    }
    let conflicts = 25;
    api.conflict_next_status_patches(conflicts);
    let before = manifest_requests(&reg, "scale/app");
    let tmp = tempfile::tempdir().expect("tempdir");
    let _server = Server::start_cluster(&api.kubeconfig(tmp.path()), &[]);

    let deadline = Instant::now() + IMPORT_BOUND;
    loop {
        let done = (0..n)
            .filter(|i| {
                api.get(STREAMS, "team", &format!("s{i}"))
                    .is_some_and(|s| imported(&s, "1").as_deref() == Some(digest.as_str()))
            })
            .count();
        if done == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {n} tags imported"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert_one_request_per_tag(&reg, before, n, ", 409s included");
    let requests = api.requests();
    let on_streams = |method: &str, status_sub: bool| {
        requests
            .iter()
            .filter(|r| r.method == method && r.path.contains("/imagestreams/"))
            .filter(|r| r.path.ends_with("/status") == status_sub)
            .collect::<Vec<_>>()
    };
    let writes = on_streams("PATCH", true);
    let refused = writes.iter().filter(|r| r.status == 409).count();
    assert_eq!(refused, conflicts, "the 409s the fake answered");
    assert_eq!(
        writes.len(),
        n + conflicts,
        "one status write per stream, and one per 409"
    );
    assert_eq!(
        on_streams("GET", false).len(),
        n + conflicts,
        "one stream read per stream, and one per 409"
    );
}
