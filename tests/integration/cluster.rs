//! Cluster mode against a fake API server at the wire: the ImageStream watch
//! (list, ADDED/MODIFIED/DELETED, BOOKMARK, 410 Gone and re-list), readiness,
//! SubjectAccessReviews, status writes by server-side apply, and start-up errors.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use imagestream_core::stream::ImageStreamStatus;

use imagestream_webhook::store::cluster;

use crate::common::*;
use crate::fakeapi::FakeApi;

const HOST: &str = "image-registry.openshift-image-registry.svc:5000";

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn stream(ns: &str, name: &str, local: bool, d: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": "2026-11-26T17:00:00Z", "generation": 1},
        "spec": {"lookupPolicy": {"local": local}, "tags": [{"name": "latest", "annotations": null,
            "from": {"kind": "DockerImage", "name": format!("quay.io/{ns}/{name}:latest")},
            "generation": 1, "importPolicy": {"importMode": "Legacy"}, "referencePolicy": {"type": "Source"}}]},
        "status": {"dockerImageRepository": format!("{HOST}/{ns}/{name}"), "tags": [{"tag": "latest", "items": [
            {"created": "2026-11-26T17:00:00Z", "dockerImageReference": format!("quay.io/{ns}/{name}@{d}"), "image": d, "generation": 1}]}]}
    })
}

fn pod(ns: &str, image: &str) -> Value {
    object(
        "Pod",
        ns,
        "p",
        json!({"containers": [{"name": "main", "image": image}]}),
    )
}

async fn resolved(server: &Server, ns: &str, image: &str) -> Option<String> {
    let rsp = server
        .review(
            "/mutate",
            &admission_review("CREATE", &pod(ns, image), None),
        )
        .await;
    patch_of(&rsp)
        .first()
        .and_then(|p| p["value"].as_str())
        .map(str::to_owned)
}

async fn eventually(server: &Server, ns: &str, image: &str, want: Option<&str>) {
    let deadline = Instant::now() + BOUND;
    loop {
        let got = resolved(server, ns, image).await;
        if got.as_deref() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{image} in {ns}: got {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_ready(server: &Server) {
    let deadline = Instant::now() + BOUND;
    while server.admin_get("/readyz").await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_follows_the_watch_and_relists_after_410() {
    let api = FakeApi::start().await;
    api.put_stream(stream("team", "app", true, &digest(1)));
    api.put_stream(stream("team", "old", true, &digest(9)));
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_cluster(&api.kubeconfig(tmp.path()), &[]);
    wait_ready(&server).await;
    let app1 = format!("quay.io/team/app@{}", digest(1));
    assert_eq!(
        resolved(&server, "team", "app:latest").await.as_deref(),
        Some(app1.as_str())
    );

    // MODIFIED: the tag moved.
    api.put_stream(stream("team", "app", true, &digest(2)));
    let app2 = format!("quay.io/team/app@{}", digest(2));
    eventually(&server, "team", "app", Some(&app2)).await;
    // ADDED, BOOKMARK, DELETED.
    api.put_stream(stream("team", "new", true, &digest(3)));
    api.bookmark();
    eventually(
        &server,
        "team",
        "new",
        Some(&format!("quay.io/team/new@{}", digest(3))),
    )
    .await;
    api.delete_stream("team", "new", true);
    eventually(&server, "team", "new", None).await;

    // The watch expires (410 Gone) while a deletion was missed: the re-list drops the stream.
    api.delete_stream("team", "old", false);
    assert!(
        resolved(&server, "team", "old").await.is_some(),
        "not seen yet"
    );
    api.expire_watches();
    eventually(&server, "team", "old", None).await;
    assert_eq!(
        resolved(&server, "team", "app").await.as_deref(),
        Some(app2.as_str())
    );

    let watches: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| {
            r.path == "/apis/image.openshift.io/v1/imagestreams" && r.query.contains("watch=true")
        })
        .collect();
    assert!(watches.len() >= 2, "re-watched after 410: {watches:?}");
    assert!(
        watches
            .iter()
            .all(|r| r.query.contains("allowWatchBookmarks=true")),
        "{watches:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_snapshot_serves_while_the_api_is_down() {
    let api = FakeApi::start().await;
    api.put_stream(stream("team", "app", true, &digest(1)));
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_cluster(&api.kubeconfig(tmp.path()), &[]);
    wait_ready(&server).await;
    api.set_down(true);
    let deadline = Instant::now() + BOUND;
    loop {
        let (_, metrics) = server.admin_get("/metrics").await;
        if !metrics.contains("imagestream_webhook_watch_errors_total 0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broken watch was never noticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let app1 = format!("quay.io/team/app@{}", digest(1));
    assert_eq!(
        resolved(&server, "team", "app").await.as_deref(),
        Some(app1.as_str())
    );
    assert_eq!(
        server.admin_get("/readyz").await.0,
        200,
        "still ready: the snapshot is good"
    );
    // Back up: changes flow again.
    api.set_down(false);
    api.put_stream(stream("team", "app", true, &digest(4)));
    eventually(
        &server,
        "team",
        "app",
        Some(&format!("quay.io/team/app@{}", digest(4))),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_the_first_full_list() {
    let api = FakeApi::start().await;
    api.put_stream(stream("team", "app", true, &digest(1)));
    api.set_list_delay(Duration::from_millis(1500));
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_cluster(&api.kubeconfig(tmp.path()), &[]);
    assert_eq!(server.admin_get("/readyz").await.0, 503);
    wait_ready(&server).await;
    assert!(resolved(&server, "team", "app").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_namespace_access_asks_the_api() {
    let api = FakeApi::start().await;
    api.put_stream(stream("shared", "base", false, &digest(5)));
    api.allow("system:serviceaccount:team:builder", "shared", "base");
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_cluster(&api.kubeconfig(tmp.path()), &[]);
    wait_ready(&server).await;
    let image = format!("{HOST}/shared/base:latest");
    let mut allowed = pod("team", &image);
    allowed["spec"]["serviceAccountName"] = json!("builder");
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &allowed, None))
        .await;
    assert_eq!(
        patch_of(&rsp)[0]["value"],
        format!("quay.io/shared/base@{}", digest(5))
    );
    // Cached: the second review asks nothing.
    server
        .review("/mutate", &admission_review("CREATE", &allowed, None))
        .await;
    let rsp = server
        .review(
            "/validate",
            &admission_review("CREATE", &pod("team", &image), None),
        )
        .await;
    let msg = rsp["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        msg.contains("service account team/default may not use imagestream shared/base"),
        "{msg}"
    );

    let sars: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/subjectaccessreviews"))
        .collect();
    assert_eq!(
        sars.len(),
        2,
        "one review per (service account, stream): {sars:?}"
    );
    let spec = &sars[0].body["spec"];
    assert_eq!(spec["user"], "system:serviceaccount:team:builder");
    assert_eq!(
        spec["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:team",
            "system:authenticated"
        ])
    );
    assert_eq!(
        spec["resourceAttributes"],
        json!({"group": "image.openshift.io", "name": "base", "namespace": "shared", "resource": "imagestreams", "subresource": "layers", "verb": "get"})
    );
    let (_, metrics) = server.admin_get("/metrics").await;
    assert!(
        metrics.contains(r#"access_checks_total{result="allowed",source="cache"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"access_checks_total{result="allowed",source="api"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_writes_are_server_side_apply_on_the_status_subresource() {
    imagestream_webhook::serving::tls::install_crypto_provider();
    let api = FakeApi::start().await;
    api.put_stream(stream("team", "app", true, &digest(1)));
    let read_version = api.stream("team", "app").expect("stored")["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_owned();
    let tmp = tempfile::tempdir().expect("tempdir");
    let client = cluster::client(Some(&api.kubeconfig(tmp.path())), None)
        .await
        .expect("client");
    let status: ImageStreamStatus = serde_json::from_value(json!({
        "dockerImageRepository": format!("{HOST}/team/app"),
        "tags": [{"tag": "latest", "items": [{"created": "2026-11-26T18:00:00Z",
            "dockerImageReference": format!("quay.io/team/app@{}", digest(7)), "image": digest(7), "generation": 1}]}]
    }))
    .expect("status");

    // Someone else moves the tag after the status was computed: the write is refused, not
    // applied over their history.
    api.put_stream(stream("team", "app", true, &digest(2)));
    let refused = cluster::apply_status(&client, "team", "app", Some(&read_version), &status)
        .await
        .expect_err("a status computed from an older version is refused");
    assert!(cluster::is_conflict(&refused), "{refused}");
    let stored = api.stream("team", "app").expect("stored");
    assert_eq!(
        stored["status"]["tags"][0]["items"][0]["image"],
        digest(2),
        "the other writer's history stays"
    );

    let current = stored["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion");
    let written = cluster::apply_status(&client, "team", "app", Some(current), &status)
        .await
        .expect("written from the current version");
    assert_eq!(
        written
            .status
            .as_ref()
            .and_then(|s| s.tags.as_ref())
            .map(Vec::len),
        Some(1)
    );
    let patches: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(
        patches.iter().map(|p| p.status).collect::<Vec<_>>(),
        [409, 200]
    );
    for (p, version) in patches.iter().zip([read_version.as_str(), current]) {
        assert_eq!(
            p.path,
            "/apis/image.openshift.io/v1/namespaces/team/imagestreams/app/status"
        );
        assert!(
            p.query.contains("fieldManager=imagestream-webhook"),
            "{}",
            p.query
        );
        assert!(p.query.contains("force=true"), "{}", p.query);
        assert_eq!(p.content_type, "application/apply-patch+yaml");
        assert_eq!(p.body["apiVersion"], "image.openshift.io/v1");
        assert_eq!(p.body["kind"], "ImageStream");
        assert_eq!(
            p.body["metadata"],
            json!({"name": "app", "namespace": "team", "resourceVersion": version})
        );
        assert!(p.body.get("spec").is_none(), "the spec is never written");
        assert_eq!(p.body["status"]["tags"][0]["items"][0]["image"], digest(7));
    }
    let stored = api.stream("team", "app").expect("stored");
    assert_eq!(
        stored["spec"]["tags"][0]["name"], "latest",
        "spec untouched"
    );
    assert_eq!(stored["status"]["tags"][0]["items"][0]["image"], digest(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_crd_stops_start_up_with_the_fix() {
    let api = FakeApi::start().await;
    api.set_no_crd(true);
    let tmp = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(tmp.path());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--kubeconfig",
            ])
            .arg(&kubeconfig)
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kubectl apply -f manifests/crd.yaml"), "{err}");
}

#[test]
fn no_cluster_and_no_directory_names_both_ways() {
    let home = tempfile::tempdir().expect("tempdir");
    for cmd in [
        vec!["serve"],
        vec!["review", "-f", "-"],
        vec!["check-access", "a/b", "--service-account", "a/b"],
    ] {
        let out = Command::new(BIN)
            .args(&cmd)
            .env("HOME", home.path())
            .env("KUBECONFIG", home.path().join("missing"))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .output()
            .expect("run");
        assert!(!out.status.success(), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--streams-dir") && err.contains("--kubeconfig"),
            "{cmd:?}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_read_the_cluster() {
    let api = FakeApi::start().await;
    api.put_stream(stream("team", "app", true, &digest(1)));
    api.put_stream(stream("shared", "base", false, &digest(5)));
    let tmp = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(tmp.path());
    let kc = kubeconfig.clone();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = Command::new(BIN)
            .args(["review", "-n", "team", "-f", "-", "--kubeconfig"])
            .arg(&kc)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: main, image: app}]}\n")
            .expect("write");
        drop(stdin);
        child.wait_with_output().expect("output")
    })
    .await
    .expect("join");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("quay.io/team/app@{}", digest(1)))
    );

    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args([
                "check-access",
                "shared/base",
                "--service-account",
                "team/default",
                "--kubeconfig",
            ])
            .arg(&kubeconfig)
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("no: service account team/default"));
}
