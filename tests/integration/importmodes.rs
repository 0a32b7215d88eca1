//! Importer parity with OpenShift against Debian's reference registry on
//! 127.0.0.1: `importPolicy.importMode` on a real two-platform OCI index,
//! `import.searchRegistries` in order, `reference: true` tags, bulk
//! imports and the scheduled-import switch.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::*;
use crate::registry::Registry;

fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--streams-dir")
        .arg(dir)
        .args(["-n", "team"])
        .output()
        .expect("run the CLI")
}

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn stream_doc(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(format!("{name}.yaml"))).expect("stream file");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("stream file parses");
    docs.into_iter()
        .find(|d| d["kind"] == "ImageStream" && d["metadata"]["name"] == name)
        .expect("the stream")
}

fn status_tag(dir: &Path, name: &str, tag: &str) -> Value {
    stream_doc(dir, name)["status"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["tag"] == tag)
        .cloned()
        .unwrap_or(Value::Null)
}

/// The status items of NAME:TAG, newest first: (image, dockerImageReference).
fn items(dir: &Path, name: &str, tag: &str) -> Vec<(String, String)> {
    status_tag(dir, name, tag)["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["image"].as_str().unwrap_or_default().to_owned(),
                i["dockerImageReference"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

fn images(dir: &Path, name: &str, tag: &str) -> Vec<String> {
    items(dir, name, tag).into_iter().map(|(i, _)| i).collect()
}

fn condition(dir: &Path, name: &str, tag: &str) -> Option<(String, String)> {
    let t = status_tag(dir, name, tag);
    let c = t["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "ImportSuccess")?
        .clone();
    Some((
        c["reason"].as_str().unwrap_or_default().to_owned(),
        c["message"].as_str().unwrap_or_default().to_owned(),
    ))
}

fn config(dir: &Path, yaml: &str) -> String {
    let path = dir.join("config.yaml.in");
    std::fs::write(&path, yaml).expect("write config");
    path.display().to_string()
}

/// Each import mode pins the digest it should of a real two-platform OCI
/// index pushed with skopeo: PreserveOriginal (the default) the index,
/// Legacy the manifest of `import.preferOS`/`import.preferArch`, a stream
/// without a mode `import.defaultImportMode`'s; a platform the index lacks
/// fails the import, naming the platforms it has.
#[test]
fn import_modes_pin_what_openshift_records() {
    let reg = Registry::start_anonymous();
    let (index, children) = reg.push_index_children("team/multi", "1", "modes");
    let (amd64, arm64) = (children[0].clone(), children[1].clone());
    let single = reg.push("team/single", "1", "one");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let from = format!("{}/team/multi:1", reg.host);

    // No mode anywhere: import.defaultImportMode, PreserveOriginal.
    ok(&cli(
        d,
        &[
            "import-image",
            "multi:default",
            "--from",
            &from,
            "--insecure",
            "--confirm",
        ],
    ));
    assert_eq!(images(d, "multi", "default"), vec![index.clone()]);

    ok(&cli(
        d,
        &[
            "import-image",
            "multi:legacy",
            "--from",
            &from,
            "--insecure",
            "--import-mode",
            "Legacy",
        ],
    ));
    assert_eq!(
        items(d, "multi", "legacy"),
        vec![(amd64.clone(), format!("{}/team/multi@{amd64}", reg.host))]
    );
    let spec = stream_doc(d, "multi")["spec"]["tags"].clone();
    let legacy = spec
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == "legacy")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(legacy["importPolicy"]["importMode"], "Legacy", "{spec}");

    ok(&cli(
        d,
        &[
            "import-image",
            "multi:original",
            "--from",
            &from,
            "--insecure",
            "--import-mode",
            "PreserveOriginal",
        ],
    ));
    assert_eq!(images(d, "multi", "original"), vec![index.clone()]);

    // `tag` takes the flag too; the preferred platform comes from the config.
    let arm = config(d, "import: {preferArch: arm64}\n");
    ok(&cli(
        d,
        &[
            "tag",
            &from,
            "multi:arm",
            "--insecure",
            "--import-mode",
            "Legacy",
            "--config",
            &arm,
        ],
    ));
    assert_eq!(images(d, "multi", "arm"), vec![arm64.clone()]);

    // A tag without a mode takes import.defaultImportMode.
    let default_legacy = config(d, "import: {defaultImportMode: Legacy}\n");
    ok(&cli(
        d,
        &[
            "import-image",
            "multi:bydefault",
            "--from",
            &from,
            "--insecure",
            "--config",
            &default_legacy,
        ],
    ));
    assert_eq!(images(d, "multi", "bydefault"), vec![amd64.clone()]);

    // A single-platform image is itself in either mode.
    let single_from = format!("{}/team/single:1", reg.host);
    ok(&cli(
        d,
        &[
            "import-image",
            "single:1",
            "--from",
            &single_from,
            "--insecure",
            "--import-mode",
            "Legacy",
            "--confirm",
        ],
    ));
    assert_eq!(images(d, "single", "1"), vec![single]);

    // A platform the index does not have fails, naming those it has.
    let s390x = config(d, "import: {preferArch: s390x}\n");
    let out = cli(
        d,
        &[
            "import-image",
            "multi:s390x",
            "--from",
            &from,
            "--insecure",
            "--import-mode",
            "Legacy",
            "--config",
            &s390x,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let want = "no linux/s390x manifest (it has linux/amd64, linux/arm64)";
    assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    let (reason, message) = condition(d, "multi", "s390x").expect("a condition");
    assert_eq!(reason, "NotFound");
    assert!(message.contains(want), "{message}");
    assert!(images(d, "multi", "s390x").is_empty());

    // What admission pins is what was imported.
    let pod = d.join("pod.yaml.in");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {alpha.image.policy.openshift.io/resolve-names: \"*\"}\nspec:\n  containers: [{name: main, image: \"multi:legacy\"}]\n",
    )
    .expect("write pod");
    let out = Command::new(BIN)
        .args(["review", "-n", "team", "--streams-dir"])
        .arg(d)
        .arg("-f")
        .arg(&pod)
        .output()
        .expect("review");
    ok(&out);
    assert!(
        text(&out.stdout).contains(&format!("{}/team/multi@{amd64}", reg.host)),
        "{}",
        text(&out.stdout)
    );
}

/// A stream with a `reference: true` tag (and a tag imported before it
/// became one), and a pod that uses both.
const REFERENCE_STREAM: &str = r#"apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {name: app, namespace: team}
spec:
  lookupPolicy: {local: true}
  tags:
  - name: ref
    reference: true
    from: {kind: DockerImage, name: "quay.example/team/app:1"}
  - name: was-imported
    reference: true
    from: {kind: DockerImage, name: "quay.example/team/app:2"}
status:
  tags:
  - tag: was-imported
    items:
    - {created: "2026-01-01T00:00:00Z", dockerImageReference: "quay.example/team/app@sha256:1111111111111111111111111111111111111111111111111111111111111111", image: "sha256:1111111111111111111111111111111111111111111111111111111111111111", generation: 1}
"#;

/// `reference: true` tags resolve as OpenShift resolves them, to their
/// `from.name` unpinned, through `review` and the webhook; the audit record
/// marks them `"pinned": false` and `auditAnnotations` lists them in
/// `unpinned-images`, so that an operator can find each one.
#[tokio::test]
async fn reference_tags_resolve_unpinned_and_are_marked() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("app.yaml"), REFERENCE_STREAM).expect("write stream");

    let pod = dir.path().join("pod.yaml.in");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: team}\nspec:\n  containers: [{name: main, image: \"app:ref\"}, {name: old, image: \"app:was-imported\"}]\n",
    )
    .expect("write pod");
    let out = Command::new(BIN)
        .args(["review", "-n", "team", "--streams-dir"])
        .arg(dir.path())
        .arg("-f")
        .arg(&pod)
        .output()
        .expect("review");
    ok(&out);
    let reviewed: Value = serde_saphyr::from_str(&text(&out.stdout)).expect("review output");
    assert_eq!(
        reviewed["spec"]["containers"][0]["image"], "quay.example/team/app:1",
        "{reviewed}"
    );
    assert_eq!(
        reviewed["spec"]["containers"][1]["image"], "quay.example/team/app:2",
        "a reference tag's from wins over an image imported before"
    );

    let audit = tempfile::tempdir().expect("tempdir");
    let log = audit.path().join("audit.log");
    let server = Server::start(
        dir.path(),
        &["--no-import", "--audit-log", log.to_str().expect("path")],
    );
    let obj = object("Pod", "team", "p", json_pod_spec());
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &obj, None))
        .await;
    assert_eq!(rsp["response"]["allowed"], true, "{rsp}");
    assert_eq!(
        patch_of(&rsp),
        vec![
            serde_json::json!({"op": "replace", "path": "/spec/containers/0/image", "value": "quay.example/team/app:1"})
        ]
    );
    let unpinned: Value = serde_json::from_str(
        rsp["response"]["auditAnnotations"]["unpinned-images"]
            .as_str()
            .expect("unpinned-images"),
    )
    .expect("annotation json");
    assert_eq!(
        unpinned,
        serde_json::json!([{"container": "main", "image": "app:ref", "resolved": "quay.example/team/app:1"}])
    );
    let mutated = apply(&rsp, &obj);
    let v = server
        .review("/validate", &admission_review("CREATE", &mutated, None))
        .await;
    assert_eq!(v["response"]["allowed"], true, "{v}");

    // The audit record of the mutation says the image is not pinned.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let record = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("\"endpoint\":\"mutate\"")) {
            break serde_json::from_str::<Value>(line).expect("audit line");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit record: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(record["images"][0]["resolved"], "quay.example/team/app:1");
    assert_eq!(record["images"][0]["pinned"], false, "{record}");
}

fn json_pod_spec() -> Value {
    serde_json::json!({"containers": [{"name": "main", "image": "app:ref"}]})
}

/// `import.disableScheduledImport: true` stops scheduled imports in `serve`
/// (a one-second schedule, run past several times over, does not pick up a
/// push), while a changed tag is still imported by `serve` and `import-image`
/// still imports on demand.
#[tokio::test]
async fn disable_scheduled_import_stops_only_the_schedule() {
    let reg = Registry::start_anonymous();
    let dir = tempfile::tempdir().expect("tempdir");
    let d1 = reg.push("team/app", "1", "one");
    let from = format!("{}/team/app:1", reg.host);
    let (d, f) = (dir.path().to_path_buf(), from.clone());
    tokio::task::spawn_blocking(move || {
        ok(&cli(
            &d,
            &[
                "import-image",
                "app:1",
                "--from",
                &f,
                "--insecure",
                "--scheduled",
                "--confirm",
            ],
        ))
    })
    .await
    .expect("join");
    let cfg = config(
        dir.path(),
        "import: {minimumIntervalSeconds: 1, maxScheduledImportsPerMinute: 600, disableScheduledImport: true}\n",
    );
    let server = Server::start(dir.path(), &["--config", &cfg]);
    let d2 = reg.push("team/app", "1", "two");
    // Several schedule intervals pass; then a tag added by hand is imported
    // on change, in a planning pass that would have run the scheduled one.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let file = dir.path().join("app.yaml");
    let edited = std::fs::read_to_string(&file)
        .expect("stream file")
        .replacen(
            "  tags:\n",
            &format!(
                "  tags:\n  - name: added\n    generation: 50\n    from: {{kind: DockerImage, name: \"{from}\"}}\n    importPolicy: {{insecure: true}}\n"
            ),
            1,
        );
    std::fs::write(&file, edited).expect("edit stream");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while images(dir.path(), "app", "added") != vec![d2.clone()] {
        assert!(
            std::time::Instant::now() < deadline,
            "the added tag was never imported on change: {}",
            std::fs::read_to_string(&file).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        images(dir.path(), "app", "1"),
        vec![d1.clone()],
        "a scheduled import ran although import.disableScheduledImport is true"
    );
    drop(server);
    // On demand still imports.
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || ok(&cli(&d, &["import-image", "app:1", "--config", &cfg])))
        .await
        .expect("join");
    assert_eq!(images(dir.path(), "app", "1"), vec![d2, d1]);
}

/// A name without a registry host is looked up in each of
/// `import.searchRegistries` in order: the first that has it wins, and the
/// status records the full reference found there; a name none has fails,
/// naming every registry tried.
#[test]
fn search_registries_in_order() {
    let first = Registry::start_anonymous();
    let second = Registry::start_anonymous();
    let digest = second.push("team/app", "1", "second");
    let both = first.push("team/both", "1", "first");
    second.push("team/both", "1", "second-both");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = config(
        d,
        &format!(
            "import: {{searchRegistries: [\"{}\", \"{}\"]}}\n",
            first.host, second.host
        ),
    );
    let import = |name: &str, from: &str| {
        cli(
            d,
            &[
                "import-image",
                name,
                "--from",
                from,
                "--insecure",
                "--confirm",
                "--config",
                &cfg,
            ],
        )
    };
    ok(&import("app:1", "team/app:1"));
    assert_eq!(
        items(d, "app", "1"),
        vec![(digest.clone(), format!("{}/team/app@{digest}", second.host))]
    );
    // Both have it: the first wins.
    ok(&import("both:1", "team/both:1"));
    assert_eq!(
        items(d, "both", "1"),
        vec![(both.clone(), format!("{}/team/both@{both}", first.host))]
    );
    // A re-import on demand finds the same image again.
    ok(&cli(d, &["import-image", "app:1", "--config", &cfg]));
    assert_eq!(images(d, "app", "1"), vec![digest]);

    let out = import("none:1", "team/none:1");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let (reason, message) = condition(d, "none", "1").expect("a condition");
    assert_eq!(reason, "NotFound");
    for host in [&first.host, &second.host] {
        assert!(message.contains(host.as_str()), "{message}");
        assert!(
            text(&out.stderr).contains(host.as_str()),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(message.contains("searchRegistries"), "{message}");

    // The first registry has the image but not the Legacy platform: the
    // import fails there; the second registry's image is never taken.
    first.push_index("team/idx", "1", "first-index");
    second.push("team/idx", "1", "second-single");
    let s390x = config(
        d,
        &format!(
            "import: {{searchRegistries: [\"{}\", \"{}\"], preferArch: s390x}}\n",
            first.host, second.host
        ),
    );
    let out = cli(
        d,
        &[
            "import-image",
            "idx:1",
            "--from",
            "team/idx:1",
            "--insecure",
            "--confirm",
            "--import-mode",
            "Legacy",
            "--config",
            &s390x,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let (_, message) = condition(d, "idx", "1").expect("a condition");
    assert!(message.contains("no linux/s390x manifest"), "{message}");
    assert!(images(d, "idx", "1").is_empty());
}

/// `import-image NAME --from REPO --all`: the registry's tag list, at most
/// `import.maxImagesBulkImportedPerRepository` (OpenShift's 50 by default)
/// in OpenShift's order, each a spec tag of NAME with `--scheduled`; the
/// rest are named as left out, and why.
#[test]
fn import_all_tags_of_a_repository_up_to_the_limit() {
    let reg = Registry::start_anonymous();
    let digest = reg.push("team/many", "latest", "many");
    // 123 tags (docker-registry 2.8 lists them in one page; paging is
    // tested against a registry that pages, below).
    let others: Vec<String> = (0..120).map(|i| format!("t{i:04}")).collect();
    reg.add_tags("team/many", "latest", &others);
    reg.add_tags(
        "team/many",
        "latest",
        &["1.2.3".to_owned(), "v2.0".to_owned()],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let repo = format!("{}/team/many", reg.host);
    let out = cli(
        d,
        &[
            "import-image",
            "many",
            "--from",
            &repo,
            "--all",
            "--insecure",
            "--scheduled",
            "--confirm",
        ],
    );
    ok(&out);
    let spec = stream_doc(d, "many")["spec"]["tags"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = spec.iter().filter_map(|t| t["name"].as_str()).collect();
    let mut want = vec!["latest", "v2.0", "1.2.3"];
    want.extend(others[..47].iter().map(String::as_str));
    assert_eq!(names, want, "OpenShift's order, 50 tags");
    // The file is parsed once: fifty parses of it in a debug build took 10 s.
    let status = stream_doc(d, "many")["status"]["tags"].clone();
    for t in &spec {
        assert_eq!(t["importPolicy"]["scheduled"], true, "{t}");
        let name = t["name"].as_str().unwrap_or_default();
        assert_eq!(t["from"]["name"], format!("{repo}:{name}"));
        let imported = status
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["tag"] == name)
            .map(|s| s["items"][0]["image"].clone());
        assert_eq!(imported, Some(Value::from(digest.clone())), "{name}");
    }
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("73 more tags that were not imported")
            && stderr.contains("maxImagesBulkImportedPerRepository is 50")
            && stderr.contains("t0047, t0048")
            && stderr.contains("and 23 more"),
        "{stderr}"
    );

    // The limit comes from the config; -1 is none.
    let few = config(d, "import: {maxImagesBulkImportedPerRepository: 2}\n");
    let out = cli(
        d,
        &[
            "import-image",
            "few",
            "--from",
            &repo,
            "--all",
            "--insecure",
            "--confirm",
            "--config",
            &few,
        ],
    );
    ok(&out);
    let names: Vec<String> = stream_doc(d, "few")["spec"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, vec!["latest", "v2.0"]);
    assert!(
        text(&out.stderr).contains("121 more tags"),
        "{}",
        text(&out.stderr)
    );

    // A repository that does not exist fails and changes nothing.
    let out = cli(
        d,
        &[
            "import-image",
            "none",
            "--from",
            &format!("{}/team/none", reg.host),
            "--all",
            "--insecure",
            "--confirm",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!d.join("none.yaml").exists());
}

/// `import-image NAME --all` without `--from` re-imports every registry tag
/// of the stream, each in its own mode; flags that would change the tags
/// are refused rather than ignored.
#[test]
fn import_all_without_from_reimports_the_stream() {
    let reg = Registry::start_anonymous();
    let (index, children) = reg.push_index_children("team/multi", "1", "again");
    let d1 = reg.push("team/app", "1", "one");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let multi = format!("{}/team/multi:1", reg.host);
    let app = format!("{}/team/app:1", reg.host);
    ok(&cli(
        d,
        &[
            "import-image",
            "s:multi",
            "--from",
            &multi,
            "--insecure",
            "--import-mode",
            "Legacy",
            "--confirm",
        ],
    ));
    ok(&cli(
        d,
        &["import-image", "s:app", "--from", &app, "--insecure"],
    ));
    assert_eq!(images(d, "s", "multi"), vec![children[0].clone()]);
    let d2 = reg.push("team/app", "1", "two");
    let out = cli(d, &["import-image", "s", "--all", "--scheduled"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    ok(&cli(d, &["import-image", "s", "--all"]));
    assert_eq!(images(d, "s", "app"), vec![d2, d1]);
    assert_eq!(
        images(d, "s", "multi"),
        vec![children[0].clone()],
        "the tag keeps its Legacy mode, not the index {index}"
    );
}

/// A registry that pages its tag list by `n` and `last` and answers at most
/// ten tags a page (as Docker Hub caps its pages), whatever `n` asks; every
/// tag's manifest HEAD answers one digest. docker-registry 2.8 answers its
/// whole list at once, so paging is tested here.
async fn paging_registry(tags: Vec<String>) -> std::net::SocketAddr {
    use axum::extract::{Path as UrlPath, RawQuery};
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut sorted = tags;
    sorted.sort();
    let list = std::sync::Arc::new(sorted);
    let app = axum::Router::new()
        .route("/v2/", axum::routing::get(|| async { "{}" }))
        .route(
            "/v2/team/paged/tags/list",
            axum::routing::get(move |RawQuery(q): RawQuery| {
                let list = list.clone();
                async move {
                    let q = q.unwrap_or_default();
                    let param = |key: &str| {
                        q.split('&')
                            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                            .map(str::to_owned)
                    };
                    let n: usize = param("n").and_then(|n| n.parse().ok()).unwrap_or(10);
                    let last = param("last");
                    let page: Vec<&String> = list
                        .iter()
                        .filter(|t| last.as_ref().is_none_or(|l| *t > l))
                        .take(n.min(10))
                        .collect();
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        serde_json::json!({"name": "team/paged", "tags": page}).to_string(),
                    )
                }
            }),
        )
        .route(
            "/v2/team/paged/manifests/{tag}",
            axum::routing::head(|UrlPath(_tag): UrlPath<String>| async {
                (
                    StatusCode::OK,
                    [
                        (header::CONTENT_TYPE, "application/vnd.oci.image.manifest.v1+json"),
                        (
                            header::HeaderName::from_static("docker-content-digest"),
                            "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                        ),
                    ],
                )
                    .into_response()
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// `--all` follows the tag list across pages of a registry that answers
/// fewer tags a page than asked.
#[tokio::test]
async fn import_all_follows_the_tag_list_across_pages() {
    let tags: Vec<String> = (0..25).map(|i| format!("t{i:02}")).collect();
    let addr = paging_registry(tags.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_path_buf();
    let repo = format!("{addr}/team/paged");
    let out = tokio::task::spawn_blocking(move || {
        cli(
            &d,
            &[
                "import-image",
                "paged",
                "--from",
                &repo,
                "--all",
                "--insecure",
                "--confirm",
            ],
        )
    })
    .await
    .expect("join");
    ok(&out);
    let names: Vec<String> = stream_doc(dir.path(), "paged")["spec"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, tags, "all three pages");
}
