//! `review`: the webhook's decisions applied to manifest files, offline.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::*;

fn review(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .arg("review")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn review");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("review output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn example_deployment_is_pinned_in_place() {
    let examples = repo_path("manifests/examples");
    let file = repo_path("examples/deployment.yaml");
    let out = review(
        &[
            "--streams-dir",
            examples.to_str().expect("path"),
            "-f",
            file.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let doc: Value = serde_saphyr::from_str(&stdout).expect("yaml out");
    let spec = &doc["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["image"],
        example_digest("marsview.yaml", 0)
    );
    assert_eq!(
        spec["containers"][1]["image"],
        example_digest("shared-base.yaml", 0)
    );
    assert_eq!(
        spec["containers"][2]["image"],
        "docker.io/library/nginx:1.27"
    );
    assert_eq!(
        spec["initContainers"][0]["image"],
        example_digest("toolbox.yaml", 0)
    );
    // Documents keep their field order: what the user wrote comes back in the same shape.
    let keys: Vec<&str> = stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        keys,
        vec![
            "apiVersion: apps/v1",
            "kind: Deployment",
            "metadata:",
            "spec:"
        ]
    );
}

#[test]
fn multi_document_order_lists_and_denials() {
    let examples = repo_path("manifests/examples");
    let input = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: toms-project}
data: {mode: on}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: ok, namespace: toms-project}
  spec:
    containers: [{name: main, image: marsview:1.0}]
- apiVersion: batch/v1
  kind: CronJob
  metadata: {name: nightly}
  spec:
    schedule: '@daily'
    jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: job, image: marsview:nope}]}}}}
";
    let out = review(
        &[
            "--streams-dir",
            examples.to_str().expect("path"),
            "-n",
            "toms-project",
            "-f",
            "-",
        ],
        Some(input),
    );
    assert_eq!(out.status.code(), Some(1), "a denial exits 1");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("CronJob toms-project/nightly"), "{stderr}");
    assert!(
        stderr.contains("container \"job\" image \"marsview:nope\""),
        "{stderr}"
    );
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text(&out.stdout)).expect("yaml out");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["kind"], "ConfigMap");
    assert_eq!(
        docs[0]["data"]["mode"], "on",
        "strings are not turned into booleans"
    );
    assert_eq!(docs[1]["kind"], "List");
    assert_eq!(
        docs[1]["items"][0]["spec"]["containers"][0]["image"],
        example_digest("marsview.yaml", 2)
    );
    assert_eq!(
        docs[1]["items"][1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"],
        "marsview:nope",
        "a denied document is printed unchanged"
    );
}

#[test]
fn admission_review_input_gets_the_response() {
    let examples = repo_path("manifests/examples");
    let file = repo_path("examples/pod-review.json");
    let out = review(
        &[
            "--streams-dir",
            examples.to_str().expect("path"),
            "-f",
            file.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rsp: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        rsp["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    assert_eq!(
        patch_of(&rsp)[0]["value"],
        example_digest("marsview.yaml", 0)
    );
}

#[test]
fn unreadable_input_exits_2() {
    let examples = repo_path("manifests/examples");
    let dir = examples.to_str().expect("path");
    let out = review(
        &["--streams-dir", dir, "-f", "/nonexistent/file.yaml"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/file.yaml"));
    let out = review(&["--streams-dir", dir, "-f", "-"], Some("a: [unclosed"));
    assert_eq!(out.status.code(), Some(2));
    let broken = tempfile::tempdir().expect("tempdir");
    std::fs::write(broken.path().join("s.yaml"), "kind: [").expect("write");
    let out = review(
        &[
            "--streams-dir",
            broken.path().to_str().expect("path"),
            "-f",
            "-",
        ],
        Some(""),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("s.yaml"),
        "{}",
        text(&out.stderr)
    );
}

/// A manifest's empty `metadata.namespace` means the default namespace (`-n`),
/// as for kubectl: the review sent to the webhook always carries one.
#[test]
fn an_empty_namespace_is_the_default_one() {
    let examples = repo_path("manifests/examples");
    let input = "\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: \"\"}
spec:
  containers:
  - {name: main, image: \"marsview:latest\"}
  volumes:
  - name: tools
    image: {reference: \"toolbox:stable\"}
";
    let out = review(
        &[
            "--streams-dir",
            examples.to_str().expect("path"),
            "-n",
            "toms-project",
            "-f",
            "-",
        ],
        Some(input),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_saphyr::from_str(&text(&out.stdout)).expect("yaml out");
    assert_eq!(
        doc["spec"]["containers"][0]["image"],
        example_digest("marsview.yaml", 0)
    );
    // toolbox has no local lookup: a short name in a volume is left as it is, as in a container.
    assert_eq!(
        doc["spec"]["volumes"][0]["image"]["reference"],
        "toolbox:stable"
    );
}
