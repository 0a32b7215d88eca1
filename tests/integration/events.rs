//! `serve --events-listen`: registry push events import the pushed tag at
//! once. The reference registry (Debian's docker-registry) is configured
//! with `notifications.endpoints` as an operator would and pushed to with
//! skopeo; the other registries' formats are posted from their real
//! payloads (core/src/events/testdata), their hosts mapped onto the local
//! registry with `events.registryHosts`, so every import stays on 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::common::*;
use crate::fakeapi::{CONFIGMAPS, DEPLOYMENTS, FakeApi, STREAMS};
use crate::registry::Registry;

const TOKEN: &str = "3f9c2b1e8d7a6f5e4d3c2b1a09f8e7d6";

/// An hour: no scheduled import happens during a test.
const HOUR_CONFIG: &str = "import: {minimumIntervalSeconds: 3600}\n";

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(repo_path("core/src/events/testdata").join(name)).expect("fixture")
}

/// A token file and a config file in `dir`.
fn files(dir: &Path, config: &str) -> (PathBuf, PathBuf) {
    let token = dir.join("events-token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("token file");
    let conf = dir.join("events.conf");
    std::fs::write(&conf, config).expect("config");
    (token, conf)
}

/// Starts `serve` on `streams` with the receiver on a free port.
fn start(streams: &Path, token: &Path, config: &Path, plain: bool) -> (Server, SocketAddr) {
    start_on(|args| Server::start(streams, args), token, config, plain)
}

/// Starts `serve` with `launch` (directory or cluster mode) and the
/// receiver on a free port.
fn start_on(
    launch: impl FnOnce(&[&str]) -> Server,
    token: &Path,
    config: &Path,
    plain: bool,
) -> (Server, SocketAddr) {
    let mut args = vec![
        "--config",
        config.to_str().expect("path"),
        "--events-listen",
        "127.0.0.1:0",
        "--events-token-file",
        token.to_str().expect("path"),
    ];
    if plain {
        args.push("--events-plain-http");
    }
    let server = launch(&args);
    let want = if plain {
        "serving events over plain http"
    } else {
        "serving events over https"
    };
    let addr_of = |line: &str| {
        line.contains(want)
            .then(|| {
                line.split("addr=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .flatten()
    };
    let mut addr = server.startup.iter().find_map(|l| addr_of(l));
    while addr.is_none() {
        let line = server
            .log
            .recv_timeout(BOUND)
            .expect("the events listener starts");
        addr = addr_of(&line);
    }
    (server, addr.expect("events addr"))
}

struct Post<'a> {
    path: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: Vec<u8>,
}

/// One request on a new connection, over TLS when `ca_pem` is given.
async fn send(
    addr: SocketAddr,
    ca_pem: Option<&str>,
    method: &str,
    post: Post<'_>,
) -> (StatusCode, String) {
    let tcp = tokio::time::timeout(BOUND, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(post.path)
        .header("host", "localhost");
    for (k, v) in post.headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(post.body)))
        .expect("request");
    let rsp = match ca_pem {
        Some(ca) => {
            let name = ServerName::try_from("localhost").expect("name");
            let tls = tokio::time::timeout(BOUND, tls_connector(ca).connect(name, tcp))
                .await
                .expect("handshake in time")
                .expect("tls handshake");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .expect("http handshake");
            tokio::spawn(conn);
            tokio::time::timeout(BOUND, sender.send_request(req)).await
        }
        None => {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .expect("http handshake");
            tokio::spawn(conn);
            tokio::time::timeout(BOUND, sender.send_request(req)).await
        }
    };
    let rsp = rsp.expect("answer in time").expect("answer");
    let status = rsp.status();
    let body = tokio::time::timeout(BOUND, rsp.into_body().collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> (StatusCode, String) {
    send(
        addr,
        None,
        "POST",
        Post {
            path,
            headers,
            body: body.into(),
        },
    )
    .await
}

const BEARER: (&str, &str) = ("authorization", "Bearer 3f9c2b1e8d7a6f5e4d3c2b1a09f8e7d6");
const DISTRIBUTION: (&str, &str) = (
    "content-type",
    "application/vnd.docker.distribution.events.v1+json",
);

/// GitHub's `X-Hub-Signature-256` of `body` keyed with `secret`.
fn github_signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A stream `app` in namespace `team` following each `(tag, image)`.
fn write_stream(dir: &Path, tags: &[(&str, String)]) {
    let mut yaml = String::from(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: app, namespace: team}\nspec:\n  tags:\n",
    );
    for (tag, image) in tags {
        yaml.push_str(&format!(
            "  - name: {tag}\n    from: {{kind: DockerImage, name: \"{image}\"}}\n    importPolicy: {{scheduled: true, insecure: true}}\n"
        ));
    }
    std::fs::write(dir.join("app.yaml"), yaml).expect("write stream");
}

/// The newest image of `tag` in the stream file.
fn image_of(dir: &Path, tag: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("app.yaml")).ok()?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).ok()?;
    let stream = docs.iter().find(|d| d["kind"] == "ImageStream")?;
    stream["status"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["tag"] == tag)?["items"][0]["image"]
        .as_str()
        .map(str::to_owned)
}

/// Waits (bounded) until `tag` shows `digest`.
async fn wait_for(dir: &Path, tag: &str, digest: &str, why: &str) {
    let deadline = Instant::now() + BOUND;
    while image_of(dir, tag).as_deref() != Some(digest) {
        assert!(
            Instant::now() < deadline,
            "{why}: tag {tag} still shows {:?}, not {digest}",
            image_of(dir, tag)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metrics(server: &Server) -> String {
    server.admin_get("/metrics").await.1
}

fn imports(text: &str) -> f64 {
    metric(
        text,
        r#"imagestream_webhook_imports_total{result="success",reason=""}"#,
    )
}

fn received(text: &str, format: &str, result: &str) -> f64 {
    metric(
        text,
        &format!(
            r#"imagestream_webhook_events_received_total{{format="{format}",result="{result}"}}"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_the_reference_registry_moves_the_stream_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = tempfile::tempdir().expect("tempdir");
    let (token, conf) = files(etc.path(), HOUR_CONFIG);
    let (server, events) = start(dir.path(), &token, &conf, true);
    let url = format!("http://{events}/events/distribution");
    let reg = Registry::start_notifying(&url, TOKEN);
    let d1 = reg.push("team/app", "latest", "one");
    write_stream(
        dir.path(),
        &[("latest", format!("{}/team/app:latest", reg.host))],
    );
    wait_for(dir.path(), "latest", &d1, "a new tag is imported at once").await;

    let before = imports(&metrics(&server).await);
    let d2 = reg.push("team/app", "latest", "two");
    wait_for(
        dir.path(),
        "latest",
        &d2,
        "the push event imports the tag while its schedule is an hour away",
    )
    .await;
    // A multi-platform push sends an event per manifest; only the index
    // carries the tag: one import.
    let d3 = reg.push_index("team/app", "latest", "three");
    wait_for(dir.path(), "latest", &d3, "a multi-arch push moves the tag").await;

    // The importer's own reads come back as pull events: they must not
    // start imports. Each push is one import (and up to three reads again
    // when its event outran it), and the count stays flat afterwards.
    let done = imports(&metrics(&server).await) - before;
    assert!((2.0..=8.0).contains(&done), "{done} imports for two pushes");
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle {
        let m = metrics(&server).await;
        assert_eq!(imports(&m) - before, done, "no import loop:\n{m}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let m = metrics(&server).await;
    assert!(received(&m, "distribution", "accepted") >= 3.0, "{m}");
    assert!(
        received(&m, "distribution", "ignored") >= 3.0,
        "blobs and the importer's pulls are read and ignored:\n{m}"
    );
    assert_eq!(received(&m, "distribution", "unauthorized"), 0.0, "{m}");
    assert!(
        metric(
            &m,
            "imagestream_webhook_event_import_duration_seconds_count"
        ) >= 2.0,
        "{m}"
    );
    let logged: Vec<String> = server.log.try_iter().collect();
    let logged = logged.join("\n");
    assert!(!logged.contains(TOKEN), "the token is logged:\n{logged}");
    assert!(logged.contains("importing pushed tags"), "{logged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registrys_real_payload_moves_the_tag_it_names() {
    let reg = Registry::start_anonymous();
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = tempfile::tempdir().expect("tempdir");
    // The payloads name their registries' public hosts; each is mapped onto
    // the local registry, as an operator maps an event host to the name
    // streams use.
    let config = format!(
        "{HOUR_CONFIG}events:\n  registryHosts:\n{}",
        ["hub.harbor.com", "quay.io", "docker.io", "ghcr.io"]
            .iter()
            .map(|h| format!("    {h}: [\"{}\"]\n", reg.host))
            .collect::<String>()
    );
    let (token, conf) = files(etc.path(), &config);
    // (stream tag, repository:tag the payload names)
    let followed = [
        ("harbor", "test-webhook/debian:latest"),
        ("quay", "dgangaia/test:latest"),
        ("hub", "svendowideit/testhook:latest"),
        ("github", "acme-corp/platform/web:v1.4.2"),
    ];
    let split = |image: &'static str| image.split_once(':').expect("repo:tag");
    let first: Vec<String> = followed
        .iter()
        .map(|(_, image)| {
            let (repo, tag) = split(image);
            reg.push(repo, tag, "one")
        })
        .collect();
    let tags: Vec<(&str, String)> = followed
        .iter()
        .map(|(tag, image)| (*tag, format!("{}/{image}", reg.host)))
        .collect();
    write_stream(dir.path(), &tags);
    let (server, events) = start(dir.path(), &token, &conf, true);
    for ((tag, _), digest) in followed.iter().zip(&first) {
        wait_for(dir.path(), tag, digest, "a new tag is imported at once").await;
    }
    let second: Vec<String> = followed
        .iter()
        .map(|(_, image)| {
            let (repo, tag) = split(image);
            reg.push(repo, tag, "two")
        })
        .collect();

    let harbor = testdata("harbor-push-artifact-default.docs.json");
    let (status, body) = post(
        events,
        "/events/harbor",
        &[BEARER, ("content-type", "application/json")],
        harbor,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Quay and Docker Hub can set no header: the token is in the URL.
    let by_url = format!("?token={TOKEN}");
    for (format, fixture) in [
        ("quay", "quay-repo-push.docs.json"),
        ("dockerhub", "dockerhub-push.docs.json"),
    ] {
        let (status, body) = post(
            events,
            &format!("/events/{format}{by_url}"),
            &[("content-type", "application/json")],
            testdata(fixture),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{format}: {body}");
    }
    // GitHub signs the body with the webhook's secret, the token.
    let github = testdata("ghcr-package-published.constructed.json");
    let signature = github_signature(TOKEN, &github);
    let (status, body) = post(
        events,
        "/events/github",
        &[
            ("content-type", "application/json"),
            ("x-github-event", "package"),
            ("x-github-delivery", "0b4c9a10-cf6b-11f0-8a58-45788bc19979"),
            ("x-hub-signature-256", &signature),
        ],
        github,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    for ((tag, _), digest) in followed.iter().zip(&second) {
        wait_for(
            dir.path(),
            tag,
            digest,
            "the event imports the tag while its schedule is an hour away",
        )
        .await;
    }
    let m = metrics(&server).await;
    for format in ["harbor", "quay", "dockerhub", "github"] {
        assert_eq!(received(&m, format, "accepted"), 1.0, "{format}:\n{m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_delivery_that_proves_the_token_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = tempfile::tempdir().expect("tempdir");
    let (token, conf) = files(etc.path(), HOUR_CONFIG);
    let (server, events) = start(dir.path(), &token, &conf, true);
    let push = testdata("distribution-2.8.2-push-by-tag-03-push-oci-image-manifest-v1-json.json");
    let wrong = "Bearer 00000000000000000000000000000000";
    for (path, headers, why) in [
        ("/events/distribution", vec![DISTRIBUTION], "no token"),
        (
            "/events/distribution",
            vec![DISTRIBUTION, ("authorization", wrong)],
            "a wrong token",
        ),
        (
            "/events/distribution",
            vec![DISTRIBUTION, ("authorization", &format!("Basic {TOKEN}"))],
            "not a bearer token",
        ),
        (
            "/events/distribution?token=3f9c2b1e8d7a6f5e4d3c2b1a09f8e7d",
            vec![DISTRIBUTION],
            "a token one character short",
        ),
        (
            "/events/quay?token=",
            vec![("content-type", "application/json")],
            "an empty token",
        ),
    ] {
        let (status, body) = post(events, path, &headers, push.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert!(!body.contains(TOKEN), "{body}");
    }
    let (status, body) = post(
        events,
        "/events/distribution",
        &[DISTRIBUTION, BEARER],
        push.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = post(
        events,
        &format!("/events/distribution?token={TOKEN}"),
        &[DISTRIBUTION],
        push.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // GitHub's deliveries are signed, not carried: the token itself is no proof.
    let github = testdata("ghcr-package-published.constructed.json");
    let good = github_signature(TOKEN, &github);
    let mut altered = github.clone();
    altered.extend_from_slice(b" ");
    let other_key = github_signature("another-secret-of-enough-length", &github);
    let base = [
        ("content-type", "application/json"),
        ("x-github-event", "package"),
    ];
    for (headers, body, why) in [
        (
            vec![BEARER],
            github.clone(),
            "unsigned, with the bearer token",
        ),
        (
            vec![("x-hub-signature-256", other_key.as_str())],
            github.clone(),
            "signed with another key",
        ),
        (
            vec![("x-hub-signature-256", good.as_str())],
            altered,
            "the body changed after signing",
        ),
        (
            vec![("x-hub-signature-256", "sha256=zz")],
            github.clone(),
            "a malformed signature",
        ),
    ] {
        let headers: Vec<(&str, &str)> = base.iter().copied().chain(headers).collect();
        let (status, answer) = post(events, "/events/github", &headers, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {answer}");
    }
    let headers: Vec<(&str, &str)> = base
        .iter()
        .copied()
        .chain([("x-hub-signature-256", good.as_str())])
        .collect();
    let (status, body) = post(events, "/events/github", &headers, github).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // Bodies that are not the path's format: 400 with the reason.
    for (format, body) in [
        ("distribution", b"not json".to_vec()),
        ("distribution", br#"{"events": "x"}"#.to_vec()),
        ("harbor", br#"{"type": "PUSH_ARTIFACT"}"#.to_vec()),
        ("quay", testdata("quay-repo-push-legacy-2013.gist.json")),
        ("dockerhub", br#"{"push_data": {"tag": 7}}"#.to_vec()),
    ] {
        let (status, answer) = post(
            events,
            &format!("/events/{format}"),
            &[BEARER, ("content-type", "application/json")],
            body,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{format}: {answer}");
        assert!(
            answer.contains(&format!("not a {format} event")),
            "{answer}"
        );
    }
    // Over 1 MiB, whatever it holds.
    let (status, _) = post(
        events,
        "/events/distribution",
        &[DISTRIBUTION, BEARER],
        vec![b' '; (1 << 20) + 1],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    for path in [
        "/events/nexus",
        "/events",
        "/mutate",
        "/events/distribution/x",
    ] {
        let (status, _) = post(events, path, &[BEARER], push.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = send(
        events,
        None,
        "GET",
        Post {
            path: "/events/distribution",
            headers: &[BEARER],
            body: Vec::new(),
        },
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // A new token in the file replaces the old one.
    let next = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    std::fs::write(&token, next).expect("rotate token");
    let deadline = Instant::now() + BOUND;
    loop {
        let (status, _) = post(
            events,
            "/events/distribution",
            &[DISTRIBUTION, BEARER],
            push.clone(),
        )
        .await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(Instant::now() < deadline, "the old token still works");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bearer = format!("Bearer {next}");
    let (status, body) = post(
        events,
        "/events/distribution",
        &[DISTRIBUTION, ("authorization", &bearer)],
        push,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let m = metrics(&server).await;
    assert!(received(&m, "distribution", "unauthorized") >= 5.0, "{m}");
    assert_eq!(received(&m, "github", "unauthorized"), 4.0, "{m}");
    assert_eq!(received(&m, "distribution", "invalid"), 2.0, "{m}");
    assert_eq!(received(&m, "distribution", "too_large"), 1.0, "{m}");
    assert!(!m.contains(TOKEN) && !m.contains(next), "{m}");
    let logged: Vec<String> = server.log.try_iter().collect();
    let logged = logged.join("\n");
    assert!(
        !logged.contains(TOKEN) && !logged.contains(next),
        "a token is logged:\n{logged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_served_over_https_with_the_webhooks_certificate_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = tempfile::tempdir().expect("tempdir");
    let (token, conf) = files(etc.path(), HOUR_CONFIG);
    let (server, events) = start(dir.path(), &token, &conf, false);
    let push = testdata("distribution-2.8.2-push-by-tag-03-push-oci-image-manifest-v1-json.json");
    let (status, body) = send(
        events,
        Some(&server.ca_pem),
        "POST",
        Post {
            path: "/events/distribution",
            headers: &[DISTRIBUTION, BEARER],
            body: push,
        },
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[test]
fn the_receiver_needs_its_token_file_and_the_importer() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (args, says) in [
        (
            vec!["--events-listen", "127.0.0.1:0"],
            "--events-token-file",
        ),
        (
            vec!["--events-token-file", "/nonexistent", "--events-plain-http"],
            "--events-listen",
        ),
        (
            vec![
                "--events-listen",
                "127.0.0.1:0",
                "--events-token-file",
                "/nonexistent",
                "--no-import",
            ],
            "--no-import",
        ),
    ] {
        let out = std::process::Command::new(BIN)
            .arg("serve")
            .arg("--streams-dir")
            .arg(dir.path())
            .args(&args)
            .output()
            .expect("run serve");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_rolls_out_the_deployment_that_follows_the_tag() {
    let api = FakeApi::start().await;
    let etc = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(etc.path());
    let (token, conf) = files(etc.path(), HOUR_CONFIG);
    let (server, events) = start_on(
        |args| Server::start_cluster(&kubeconfig, args),
        &token,
        &conf,
        true,
    );
    let url = format!("http://{events}/events/distribution");
    let reg = Registry::start_notifying(&url, TOKEN);
    let d1 = reg.push("team/app", "latest", "one");
    api.put_stream(serde_json::json!({
        "metadata": {"name": "app", "namespace": "team"},
        "spec": {"tags": [{"name": "latest",
            "from": {"kind": "DockerImage", "name": format!("{}/team/app:latest", reg.host)},
            "importPolicy": {"scheduled": true, "insecure": true}}]}
    }));
    let trigger = r#"[{"from":{"kind":"ImageStreamTag","name":"app:latest"},"fieldPath":"spec.template.spec.containers[?(@.name==\"web\")].image"}]"#;
    api.put(
        DEPLOYMENTS,
        serde_json::json!({
            "metadata": {"name": "web", "namespace": "team",
                "annotations": {"image.openshift.io/triggers": trigger}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "placeholder"}]}}}
        }),
    );
    let image = |api: &FakeApi| {
        api.get(DEPLOYMENTS, "team", "web")
            .and_then(|d| {
                d.pointer("/spec/template/spec/containers/0/image")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    };
    let rolled = |digest: &str| format!("{}/team/app@{digest}", reg.host);
    let deadline = Instant::now() + BOUND;
    while image(&api) != rolled(&d1) {
        assert!(
            Instant::now() < deadline,
            "the new tag was not imported and rolled out: {}",
            image(&api)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d2 = reg.push("team/app", "latest", "two");
    let deadline = Instant::now() + BOUND;
    while image(&api) != rolled(&d2) {
        assert!(
            Instant::now() < deadline,
            "the push did not reach the Deployment while the schedule is an hour away: {}; stream {:?}",
            image(&api),
            api.get(STREAMS, "team", "app")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m = metrics(&server).await;
    assert!(received(&m, "distribution", "accepted") >= 2.0, "{m}");
}

/// p50 and p99 (nearest rank) of `samples`, in milliseconds.
fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let rank = |q: f64| {
        let i = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    (rank(0.50), rank(0.99))
}

/// `make bench` (hack/bench.sh): the freshness a push gets. 20 pushes to
/// the reference registry, each timed from the end of `skopeo copy` to the
/// new digest in the stream's status, in cluster mode (the fake API server;
/// the production mode) and in directory mode; the schedule is the default
/// 15 minutes. Prints `bench-events: ...` lines; asserts nothing about time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by make bench (hack/bench.sh)"]
async fn bench_push_to_status_latency() {
    const PUSHES: usize = 20;
    const INTERVAL_S: u64 = 900;
    let config = format!("import: {{minimumIntervalSeconds: {INTERVAL_S}}}\n");
    for mode in ["directory", "cluster"] {
        let api = FakeApi::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let etc = tempfile::tempdir().expect("tempdir");
        let kubeconfig = api.kubeconfig(etc.path());
        let (token, conf) = files(etc.path(), &config);
        let (server, events) = start_on(
            |args| match mode {
                "cluster" => Server::start_cluster(&kubeconfig, args),
                _ => Server::start(dir.path(), args),
            },
            &token,
            &conf,
            true,
        );
        let reg = Registry::start_notifying(&format!("http://{events}/events/distribution"), TOKEN);
        let from = format!("{}/team/app:latest", reg.host);
        let current = |api: &FakeApi| -> Option<String> {
            match mode {
                "cluster" => api
                    .get(STREAMS, "team", "app")?
                    .pointer("/status/tags/0/items/0/image")?
                    .as_str()
                    .map(str::to_owned),
                _ => image_of(dir.path(), "latest"),
            }
        };
        let first = reg.push("team/app", "latest", "seed");
        match mode {
            "cluster" => api.put_stream(serde_json::json!({
                "metadata": {"name": "app", "namespace": "team"},
                "spec": {"tags": [{"name": "latest", "from": {"kind": "DockerImage", "name": from},
                    "importPolicy": {"scheduled": true, "insecure": true}}]}
            })),
            _ => write_stream(dir.path(), &[("latest", from.clone())]),
        }
        let deadline = Instant::now() + BOUND;
        while current(&api).as_deref() != Some(first.as_str()) {
            assert!(Instant::now() < deadline, "{mode}: the first import");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut samples = Vec::new();
        for n in 0..PUSHES {
            let digest = reg.push("team/app", "latest", &format!("push-{n}"));
            let copied = reg.copied_at().expect("pushed");
            let deadline = Instant::now() + Duration::from_secs(30);
            while current(&api).as_deref() != Some(digest.as_str()) {
                if Instant::now() >= deadline {
                    let logged: Vec<String> = server.log.try_iter().collect();
                    panic!("{mode}: push {n} never arrived:\n{}", logged.join("\n"));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            samples.push(copied.elapsed());
        }
        let (p50, p99) = percentiles(&mut samples);
        // On a line of its own: the harness writes "test … ... " before it.
        println!(
            "\nbench-events: mode={mode} pushes={PUSHES} event_p50_ms={p50:.0} event_p99_ms={p99:.0} scheduled_interval_s={INTERVAL_S}"
        );
    }
}

/// `PUT /v2/REPO/manifests/TAG` of `body` (the registry is anonymous).
fn put_manifest(addr: SocketAddr, repo: &str, tag: &str, media_type: &str, body: &[u8]) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, BOUND).expect("connect");
    stream.set_read_timeout(Some(BOUND)).expect("timeout");
    let head = format!(
        "PUT /v2/{repo}/manifests/{tag} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {media_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}

/// The reference registry sends a push's event before it points the tag at
/// the new manifest, so the first read after the event can see the old
/// digest: the tag is read again shortly after, until it moves (bounded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_outruns_its_push_is_read_again() {
    let reg = Registry::start_anonymous();
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = tempfile::tempdir().expect("tempdir");
    let (token, conf) = files(etc.path(), HOUR_CONFIG);
    let d1 = reg.push("team/app", "latest", "one");
    write_stream(
        dir.path(),
        &[("latest", format!("{}/team/app:latest", reg.host))],
    );
    let (server, events) = start(dir.path(), &token, &conf, true);
    wait_for(dir.path(), "latest", &d1, "a new tag is imported at once").await;
    // The new image's blobs are in the registry already, so moving the tag
    // to it later is quick.
    let d2 = reg.push("team/app", "staging", "two");
    let before = imports(&metrics(&server).await);
    let event = String::from_utf8(testdata(
        "distribution-2.8.2-push-by-tag-03-push-oci-image-manifest-v1-json.json",
    ))
    .expect("utf-8")
    .replace("127.0.0.1:5055", &reg.host)
    .replace("\"tag\": \"v1\"", "\"tag\": \"latest\"");
    let (status, body) = post(
        events,
        "/events/distribution",
        &[DISTRIBUTION, BEARER],
        event,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // The event's first import reads the old digest ...
    let deadline = Instant::now() + BOUND;
    while imports(&metrics(&server).await) <= before {
        assert!(Instant::now() < deadline, "the event started no import");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(image_of(dir.path(), "latest"), Some(d1));
    // ... and the push completes just after it: the tag is pointed at the
    // new manifest with one PUT (a few milliseconds, well within the reads
    // again).
    let staged = reg.get_manifest("team/app", "staging");
    let media_type = staged
        .header("content-type")
        .expect("content type")
        .to_owned();
    put_manifest(reg.addr, "team/app", "latest", &media_type, &staged.body);
    wait_for(
        dir.path(),
        "latest",
        &d2,
        "the tag is read again after an import that found it unmoved",
    )
    .await;
}

/// Two replicas in cluster mode: the one that does not hold the Lease hands
/// what it receives over through the API, and the holder imports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_received_by_the_replica_that_does_not_import_is_handed_over() {
    let reg = Registry::start_anonymous();
    let api = FakeApi::start().await;
    let etc = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(etc.path());
    let (token, conf) = files(etc.path(), HOUR_CONFIG);
    let d1 = reg.push("team/app", "latest", "one");
    api.put_stream(serde_json::json!({
        "metadata": {"name": "app", "namespace": "team"},
        "spec": {"tags": [{"name": "latest",
            "from": {"kind": "DockerImage", "name": format!("{}/team/app:latest", reg.host)},
            "importPolicy": {"scheduled": true, "insecure": true}}]}
    }));
    let (a, a_events) = start_on(
        |args| Server::start_cluster_as(&kubeconfig, "replica-a", args),
        &token,
        &conf,
        true,
    );
    let (b, b_events) = start_on(
        |args| Server::start_cluster_as(&kubeconfig, "replica-b", args),
        &token,
        &conf,
        true,
    );
    let status = |api: &FakeApi| {
        api.get(STREAMS, "team", "app")
            .and_then(|s| {
                s.pointer("/status/tags/0/items/0/image")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + BOUND;
    while status(&api) != d1 {
        assert!(Instant::now() < deadline, "the new tag was not imported");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let leads = |text: &str| metric(text, "imagestream_webhook_leader ") == 1.0;
    let (a_leads, b_leads) = (leads(&metrics(&a).await), leads(&metrics(&b).await));
    assert!(a_leads != b_leads, "exactly one replica leads");
    let (follower, follower_events) = if a_leads {
        (&b, b_events)
    } else {
        (&a, a_events)
    };

    let d2 = reg.push("team/app", "latest", "two");
    let event = String::from_utf8(testdata(
        "distribution-2.8.2-push-by-tag-03-push-oci-image-manifest-v1-json.json",
    ))
    .expect("utf-8")
    .replace("127.0.0.1:5055", &reg.host)
    .replace("\"tag\": \"v1\"", "\"tag\": \"latest\"");
    let (code, body) = post(
        follower_events,
        "/events/distribution",
        &[DISTRIBUTION, BEARER],
        event,
    )
    .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    let deadline = Instant::now() + BOUND;
    while status(&api) != d2 {
        assert!(
            Instant::now() < deadline,
            "the event the follower received was not imported: configmap {:?}",
            api.get(
                CONFIGMAPS,
                "imagestream-system",
                "imagestream-webhook-pushed"
            )
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        metric(
            &metrics(follower).await,
            r#"imagestream_webhook_imports_total{result="success",reason=""}"#
        ),
        0.0,
        "only the Lease holder imports"
    );
    // Taken: the ConfigMap holds nothing more to import.
    let deadline = Instant::now() + BOUND;
    loop {
        let cm = api.get(
            CONFIGMAPS,
            "imagestream-system",
            "imagestream-webhook-pushed",
        );
        let left = cm
            .as_ref()
            .and_then(|c| c.pointer("/data/pushed"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if cm.is_some() && left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the handover is not emptied: {cm:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
