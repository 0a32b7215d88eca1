//! The importer against Debian's reference registry on 127.0.0.1: the CLI's
//! `import-image` and `tag`, statuses written back into the stream files,
//! admission resolving what was imported, and the scheduled import in `serve`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::*;
use crate::registry::Registry;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A streams directory with a pull secret for `reg` in namespace `team`.
fn dir_with_secret(reg: &Registry, password: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_secret(dir.path(), reg, password);
    dir
}

fn write_secret(dir: &Path, reg: &Registry, password: &str) {
    let config =
        json!({"auths": {reg.host.clone(): {"auth": b64(&format!("{}:{password}", reg.user))}}});
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: pull, namespace: team}}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
        b64(&config.to_string())
    );
    std::fs::write(dir.join("secret.yaml"), secret).expect("write secret");
}

fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--streams-dir")
        .arg(dir)
        .args(["-n", "team"])
        .output()
        .expect("run the CLI")
}

/// The status items of `tag` in the stream file, newest first.
fn items(dir: &Path, file: &str, tag: &str) -> Vec<String> {
    crate::common::status_items(&dir.join(file), tag)
}

fn condition(dir: &Path, file: &str, tag: &str) -> Option<(String, String)> {
    let text = std::fs::read_to_string(dir.join(file)).expect("stream file");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("parses");
    let stream = docs.iter().find(|d| d["kind"] == "ImageStream")?;
    let t = stream["status"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["tag"] == tag)?;
    let c = t["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "ImportSuccess")?;
    Some((
        c["reason"].as_str().unwrap_or_default().to_owned(),
        c["message"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// What `review` pins `image` to in namespace team (the annotation makes every short name a lookup).
fn review_pins(dir: &Path, image: &str) -> Option<String> {
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {{alpha.image.policy.openshift.io/resolve-names: \"*\"}}\nspec:\n  containers: [{{name: main, image: \"{image}\"}}]\n"
    );
    let file = dir.join("pod.yaml.in");
    std::fs::write(&file, manifest).expect("write pod");
    let out = Command::new(BIN)
        .args(["review", "-n", "team", "--streams-dir"])
        .arg(dir)
        .arg("-f")
        .arg(&file)
        .output()
        .expect("review");
    let doc: Value = serde_saphyr::from_str(&text(&out.stdout)).ok()?;
    doc["spec"]["containers"][0]["image"]
        .as_str()
        .map(str::to_owned)
}

fn assert_no_secret(reg: &Registry, what: &str, haystack: &str) {
    assert!(
        !haystack.contains(reg.password),
        "{what} shows the registry password: {haystack}"
    );
    assert!(
        !haystack.contains(&b64(&format!("{}:{}", reg.user, reg.password))),
        "{what} shows the auth string"
    );
}

#[test]
fn import_reimport_unchanged_and_review() {
    let reg = Registry::start();
    let dir = dir_with_secret(&reg, reg.password);
    let d1 = reg.push("team/app", "1", "one");
    let from = format!("{}/team/app:1", reg.host);
    let out = cli(
        dir.path(),
        &[
            "import-image",
            "app:1",
            "--from",
            &from,
            "--insecure",
            "--confirm",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Name:\t\t\tapp\nNamespace:\t\tteam\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("* {}/team/app@{d1}", reg.host)),
        "{stdout}"
    );
    assert_eq!(items(dir.path(), "app.yaml", "1"), vec![d1.clone()]);
    assert_eq!(
        review_pins(dir.path(), "app:1"),
        Some(format!("{}/team/app@{d1}", reg.host))
    );

    // A push moves the tag: the re-import prepends the new digest.
    let d2 = reg.push("team/app", "1", "two");
    let out = cli(dir.path(), &["import-image", "app:1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        items(dir.path(), "app.yaml", "1"),
        vec![d2.clone(), d1.clone()]
    );
    // Unchanged digest: no new item.
    let out = cli(dir.path(), &["import-image", "app:1"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        items(dir.path(), "app.yaml", "1"),
        vec![d2.clone(), d1.clone()]
    );
    assert_eq!(
        review_pins(dir.path(), "app:1"),
        Some(format!("{}/team/app@{d2}", reg.host))
    );

    // The server keeps only each tag's newest item; an import still writes
    // the whole history, and older items stay reachable by digest.
    let d3 = reg.push("team/app", "1", "three");
    let out = cli(dir.path(), &["import-image", "app:1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        items(dir.path(), "app.yaml", "1"),
        vec![d3.clone(), d2.clone(), d1.clone()]
    );
    assert_eq!(
        review_pins(dir.path(), &format!("app@{d1}")),
        Some(format!("{}/team/app@{d1}", reg.host))
    );
    let out = cli(dir.path(), &["tag", &format!("app@{d1}"), "app:old"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(items(dir.path(), "app.yaml", "old"), vec![d1.clone()]);

    // describe shows the same; the password appears nowhere.
    let out = cli(dir.path(), &["describe", "app"]);
    assert!(text(&out.stdout).contains(&d1));
    let content = std::fs::read_to_string(dir.path().join("app.yaml")).expect("file");
    assert_no_secret(&reg, "app.yaml", &content);
    assert_no_secret(&reg, "stdout", &stdout);
    assert_no_secret(&reg, "stderr", &text(&out.stderr));
}

#[test]
fn digest_pins_index_digests_and_rollback_by_tag() {
    let reg = Registry::start();
    let dir = dir_with_secret(&reg, reg.password);
    let d1 = reg.push("team/app", "1", "one");
    let pinned = format!("{}/team/app@{d1}", reg.host);
    let out = cli(
        dir.path(),
        &[
            "import-image",
            "app:pinned",
            "--from",
            &pinned,
            "--insecure",
            "--confirm",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(items(dir.path(), "app.yaml", "pinned"), vec![d1.clone()]);

    // A multi-arch tag resolves to the index digest, not one platform's manifest.
    let index = reg.push_index("team/multi", "1", "many");
    let from = format!("{}/team/multi:1", reg.host);
    let out = cli(
        dir.path(),
        &[
            "import-image",
            "multi:1",
            "--from",
            &from,
            "--insecure",
            "--confirm",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(items(dir.path(), "multi.yaml", "1"), vec![index]);

    // Roll back: tag a history item (the rollback path), then alias it.
    let d2 = reg.push("team/app", "1", "two");
    let from = format!("{}/team/app:1", reg.host);
    assert_eq!(
        cli(
            dir.path(),
            &["import-image", "app:1", "--from", &from, "--insecure"]
        )
        .status
        .code(),
        Some(0)
    );
    assert_eq!(items(dir.path(), "app.yaml", "1"), vec![d2.clone()]);
    let out = cli(dir.path(), &["tag", &format!("app@{d1}"), "app:stable"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).starts_with("Tag app:stable set to"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(items(dir.path(), "app.yaml", "stable"), vec![d1.clone()]);
    let out = cli(dir.path(), &["tag", "--alias", "app:1", "app:prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(items(dir.path(), "app.yaml", "prod"), vec![d2.clone()]);
    let out = cli(dir.path(), &["tag", "-d", "app:prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(items(dir.path(), "app.yaml", "prod").is_empty());
    assert_eq!(
        review_pins(dir.path(), "app:stable"),
        Some(format!("{}/team/app@{d1}", reg.host))
    );
}

#[test]
fn failures_keep_the_last_good_image() {
    let mut reg = Registry::start();
    let dir = dir_with_secret(&reg, reg.password);
    let d1 = reg.push("team/app", "1", "one");
    let from = format!("{}/team/app:1", reg.host);
    assert_eq!(
        cli(
            dir.path(),
            &[
                "import-image",
                "app:1",
                "--from",
                &from,
                "--insecure",
                "--confirm"
            ]
        )
        .status
        .code(),
        Some(0)
    );

    // A wrong password: Unauthorized (anonymous is refused too), the last good item stays.
    write_secret(dir.path(), &reg, "wrong-password");
    reg.push("team/app", "1", "two");
    let out = cli(dir.path(), &["import-image", "app:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("(Unauthorized)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(items(dir.path(), "app.yaml", "1"), vec![d1.clone()]);
    assert_eq!(
        condition(dir.path(), "app.yaml", "1").map(|c| c.0),
        Some("Unauthorized".into())
    );
    assert_eq!(
        review_pins(dir.path(), "app:1"),
        Some(format!("{}/team/app@{d1}", reg.host))
    );
    assert_no_secret(&reg, "stderr", &text(&out.stderr));

    // The registry is down: InternalError, and admission still pins the last good digest.
    write_secret(dir.path(), &reg, reg.password);
    reg.stop();
    let out = cli(dir.path(), &["import-image", "app:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        condition(dir.path(), "app.yaml", "1").map(|c| c.0),
        Some("InternalError".into())
    );
    assert_eq!(items(dir.path(), "app.yaml", "1"), vec![d1.clone()]);
    assert_eq!(
        review_pins(dir.path(), "app:1"),
        Some(format!("{}/team/app@{d1}", reg.host))
    );

    // A missing tag is NotFound; back up, a good import clears the condition.
    reg.restart();
    let missing = format!("{}/team/app:nope", reg.host);
    let out = cli(
        dir.path(),
        &["import-image", "app:nope", "--from", &missing, "--insecure"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        condition(dir.path(), "app.yaml", "nope").map(|c| c.0),
        Some("NotFound".into())
    );
    assert_eq!(
        cli(dir.path(), &["import-image", "app:1"]).status.code(),
        Some(0)
    );
    assert_eq!(condition(dir.path(), "app.yaml", "1"), None);
}

#[test]
fn allowed_registries_refuse_others() {
    let reg = Registry::start_anonymous();
    let dir = tempfile::tempdir().expect("tempdir");
    reg.push("team/app", "1", "one");
    let config = dir.path().join("config.yaml.conf");
    std::fs::write(
        &config,
        "import: {allowedRegistries: [\"quay.io\", \"*.example.com\"]}\n",
    )
    .expect("config");
    let from = format!("{}/team/app:1", reg.host);
    let out = cli(
        dir.path(),
        &[
            "import-image",
            "app:1",
            "--from",
            &from,
            "--insecure",
            "--confirm",
            "--config",
            config.to_str().expect("path"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let (reason, message) = condition(dir.path(), "app.yaml", "1").expect("condition");
    assert_eq!(reason, "Forbidden");
    assert!(message.contains("allowedRegistries"), "{message}");
    assert!(
        !reg.log().contains("GET /v2/team/app") && !reg.log().contains("HEAD /v2/team/app"),
        "the registry was never asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_imports_on_a_schedule_without_any_command() {
    let reg = Registry::start();
    let dir = dir_with_secret(&reg, reg.password);
    let d1 = reg.push("team/app", "1", "one");
    let from = format!("{}/team/app:1", reg.host);
    let (d, f) = (dir.path().to_path_buf(), from.clone());
    let out = tokio::task::spawn_blocking(move || {
        cli(
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
        )
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let config = dir.path().join("fast.conf");
    std::fs::write(
        &config,
        "import: {minimumIntervalSeconds: 1, maxScheduledImportsPerMinute: 600}\n",
    )
    .expect("config");
    let server = Server::start(dir.path(), &["--config", config.to_str().expect("path")]);
    let image = "image-registry.openshift-image-registry.svc:5000/team/app:1";
    let pod = object(
        "Pod",
        "team",
        "p",
        json!({"containers": [{"name": "main", "image": image}]}),
    );
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &pod, None))
        .await;
    assert_eq!(
        patch_of(&rsp)[0]["value"],
        format!("{}/team/app@{d1}", reg.host)
    );

    let d2 = reg.push("team/app", "1", "two");
    let want = format!("{}/team/app@{d2}", reg.host);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rsp = server
            .review("/mutate", &admission_review("CREATE", &pod, None))
            .await;
        if patch_of(&rsp).first().and_then(|p| p["value"].as_str()) == Some(want.as_str()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the scheduled import never picked up the push"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The server keeps only each tag's newest item in memory; its imports
    // still write the whole history.
    let d3 = reg.push("team/app", "1", "three");
    let deadline = Instant::now() + Duration::from_secs(30);
    while items(dir.path(), "app.yaml", "1").first() != Some(&d3) {
        assert!(
            Instant::now() < deadline,
            "the scheduled import never picked up the second push"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(items(dir.path(), "app.yaml", "1"), vec![d3, d2, d1]);
    let (_, metrics) = server.admin_get("/metrics").await;
    assert!(
        metrics.contains(r#"imagestream_webhook_imports_total{result="success",reason=""}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("imagestream_webhook_registry_request_duration_seconds_count"),
        "{metrics}"
    );
    let logged: Vec<String> = server.log.try_iter().collect();
    assert_no_secret(&reg, "serve's log", &logged.join("\n"));
    let content = std::fs::read_to_string(dir.path().join("app.yaml")).expect("file");
    assert_no_secret(&reg, "app.yaml", &content);
}

/// A registry that only ever says 429 with a Retry-After.
async fn throttling_registry() -> std::net::SocketAddr {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::RETRY_AFTER, "7"),
                (header::CONTENT_TYPE, "application/json"),
            ],
            r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
        )
            .into_response()
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_honoured() {
    let addr = throttling_registry().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let from = format!("{addr}/team/app:1");
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        cli(
            &d,
            &[
                "import-image",
                "app:1",
                "--from",
                &from,
                "--insecure",
                "--confirm",
            ],
        )
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1));
    let (reason, message) = condition(dir.path(), "app.yaml", "1").expect("condition");
    assert_eq!(reason, "InternalError");
    assert!(message.contains("429"), "{message}");
    assert!(message.contains("for 7s"), "Retry-After is read: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_image_in_cluster_mode_creates_the_stream_and_applies_status() {
    use crate::fakeapi::{FakeApi, STREAMS};
    let reg = Registry::start_anonymous();
    let d1 = reg.push("team/app", "1", "one");
    let api = FakeApi::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(tmp.path());
    let from = format!("{}/team/app:1", reg.host);
    let (kc, f) = (kubeconfig.clone(), from.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args([
                "import-image",
                "app:1",
                "--from",
                &f,
                "--insecure",
                "--confirm",
                "-n",
                "team",
                "--kubeconfig",
            ])
            .arg(&kc)
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&d1), "{}", text(&out.stdout));
    let stored = api.get(STREAMS, "team", "app").expect("created");
    assert_eq!(stored["spec"]["tags"][0]["from"]["name"], from);
    assert_eq!(stored["status"]["tags"][0]["items"][0]["image"], d1);
    let requests = api.requests();
    assert!(requests.iter().any(|r| r.method == "POST"
        && r.path == "/apis/image.openshift.io/v1/namespaces/team/imagestreams"));
    let status_writes: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/app/status"))
        .collect();
    assert_eq!(status_writes.len(), 1);
    assert!(
        status_writes[0]
            .query
            .contains("fieldManager=imagestream-webhook"),
        "{}",
        status_writes[0].query
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "GET" && r.path == "/api/v1/namespaces/team/secrets"),
        "pull secrets read from the API"
    );

    // The CLI refuses to create without --confirm, and describe reads the cluster.
    let kc = kubeconfig.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args([
                "import-image",
                "other:1",
                "--from",
                "quay.io/x/y:1",
                "-n",
                "team",
                "--kubeconfig",
            ])
            .arg(&kc)
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("pass --confirm"),
        "{}",
        text(&out.stderr)
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["describe", "app", "-n", "team", "--kubeconfig"])
            .arg(&kubeconfig)
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert!(
        text(&out.stdout).contains(&format!("* {}/team/app@{d1}", reg.host)),
        "{}",
        text(&out.stdout)
    );
}

/// A registry that answers every request `delay` late with 404, counting
/// manifest requests.
async fn slow_registry(
    delay: Duration,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let hits = counted.clone();
        async move {
            if req.uri().path().contains("/manifests/") {
                hits.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(delay).await;
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            )
                .into_response()
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_changed_during_an_import_is_not_overwritten_by_it() {
    use crate::fakeapi::{FakeApi, STREAMS};
    use std::sync::atomic::Ordering;
    let (addr, hits) = slow_registry(Duration::from_millis(300)).await;
    let api = FakeApi::start().await;
    let digest = |n: u8| format!("sha256:{}", format!("{n:02x}").repeat(32));
    // `latest` was pushed (status only); `slow` is imported from the slow registry.
    let stream = |pushed: &str| {
        json!({"metadata": {"name": "app", "namespace": "team", "generation": 1},
            "spec": {"tags": [{"name": "slow", "from": {"kind": "DockerImage", "name": format!("{addr}/team/app:1")},
                "importPolicy": {"insecure": true}, "generation": 1}]},
            "status": {"tags": [{"tag": "latest", "items": [{"created": "2026-11-26T17:00:00Z",
                "dockerImageReference": format!("quay.io/team/app@{pushed}"), "image": pushed, "generation": 1}]}]}})
    };
    api.put_stream(stream(&digest(1)));
    let tmp = tempfile::tempdir().expect("tempdir");
    let _server = Server::start_cluster(&api.kubeconfig(tmp.path()), &[]);

    // While the import waits on the registry, another image is pushed to `latest`.
    let deadline = Instant::now() + BOUND;
    while hits.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the import never reached the registry"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    api.put_stream(stream(&digest(2)));

    let deadline = Instant::now() + BOUND;
    let stored = loop {
        let stored = api.get(STREAMS, "team", "app").expect("stream");
        let tags = stored["status"]["tags"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let failed = tags
            .iter()
            .any(|t| t["tag"] == "slow" && t["conditions"][0]["reason"] == "NotFound");
        if failed {
            break stored;
        }
        assert!(Instant::now() < deadline, "no import result: {stored}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let latest = stored["status"]["tags"]
        .as_array()
        .and_then(|tags| tags.iter().find(|t| t["tag"] == "latest"))
        .expect("latest kept");
    assert_eq!(
        latest["items"][0]["image"],
        digest(2),
        "the push made during the import stays: {stored}"
    );
    // The registry's answer was applied to the stream as it was after the
    // push: one import (a HEAD, and a GET after its 404), no answer thrown
    // away and asked again.
    assert_eq!(hits.load(Ordering::SeqCst), 2, "manifest requests");
}
