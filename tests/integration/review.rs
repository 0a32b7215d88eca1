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
    // Documents keep their field order and the comment before them: what
    // the user wrote comes back in the same shape.
    let keys: Vec<&str> = stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        keys,
        vec![
            "# Try: imagestream-webhook review --streams-dir manifests/examples -f examples/deployment.yaml",
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
    jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: job, image: JOB_IMAGE}]}}}}
";
    let args = [
        "--streams-dir",
        examples.to_str().expect("path"),
        "-n",
        "toms-project",
        "-f",
        "-",
    ];
    let out = review(&args, Some(&input.replace("JOB_IMAGE", "marsview:nope")));
    assert_eq!(out.status.code(), Some(1), "a denial exits 1");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("CronJob toms-project/nightly"), "{stderr}");
    assert!(
        stderr.contains("container \"job\" image \"marsview:nope\""),
        "{stderr}"
    );
    assert_eq!(
        text(&out.stdout),
        "",
        "nothing for `kubectl apply -f -` when anything is denied"
    );

    let out = review(&args, Some(&input.replace("JOB_IMAGE", "marsview:latest")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (first, rest) = stdout.split_once("---\n").expect("two documents");
    assert_eq!(
        first,
        input.split_once("---\n").expect("input").0,
        "the ConfigMap needed no change: printed as read"
    );
    let docs: Vec<Value> = serde_saphyr::from_multiple(rest).expect("yaml out");
    assert_eq!(docs[0]["kind"], "List");
    assert_eq!(
        docs[0]["items"][0]["spec"]["containers"][0]["image"],
        example_digest("marsview.yaml", 2)
    );
    assert_eq!(
        docs[0]["items"][1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"],
        example_digest("marsview.yaml", 0)
    );
}

#[test]
fn documents_that_need_no_change_are_printed_as_read() {
    let examples = repo_path("manifests/examples");
    let dir = examples.to_str().expect("path");
    // Comments, quoting, flow style, key order and a `...` end marker.
    let unchanged = "\
# leading comment
apiVersion: v1   # trailing comment
kind: ConfigMap
metadata: {namespace: toms-project, name: 'settings'}
data:
  z: \"1\"
  a: >-
    folded
    text
...
";
    let changed = "\
--- # Source: chart/templates/pod.yaml
# the pod
kind: Pod
apiVersion: v1
metadata: {name: p, namespace: toms-project}
spec:
  containers: [{name: main, image: 'marsview:latest'}]  # pinned by review

# after the pod
";
    let pinned_json = "{\"kind\": \"Pod\",  \"apiVersion\": \"v1\", \"metadata\": {\"name\": \"p\"},\n \"spec\": {\"containers\": [{\"name\": \"m\", \"image\": \"nginx:1.27\"}]}}\n";

    let out = review(&["--streams-dir", dir, "-f", "-"], Some(unchanged));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), unchanged, "byte for byte");
    let out = review(&["--streams-dir", dir, "-f", "-"], Some(pinned_json));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), pinned_json, "JSON too");

    let input = format!("{unchanged}{changed}");
    let out = review(&["--streams-dir", dir, "-f", "-"], Some(&input));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "{unchanged}--- # Source: chart/templates/pod.yaml\n# the pod\n"
        )),
        "the unchanged document, then the rewritten one with the comments before it:\n{stdout}"
    );
    assert!(stdout.ends_with("\n# after the pod\n"), "{stdout}");
    assert!(
        stdout.contains(&example_digest("marsview.yaml", 0)),
        "{stdout}"
    );
    assert!(
        !stdout.contains("# pinned by review"),
        "comments inside a rewritten document are lost (the README says so)"
    );
    let docs: Vec<Value> = serde_saphyr::from_multiple(&stdout).expect("valid YAML");
    assert_eq!(docs.len(), 2);
}

#[test]
fn input_that_holds_no_manifest_is_bad_input() {
    let examples = repo_path("manifests/examples");
    let dir = examples.to_str().expect("path");
    for (input, reason) in [
        (
            "hello\n",
            "document at line 1 is text, not a Kubernetes object",
        ),
        ("", "the input holds no Kubernetes object"),
        (
            "# only a comment\n---\n",
            "the input holds no Kubernetes object",
        ),
        ("[1,2,3]\n", "the input is a list, not a Kubernetes object"),
        (
            "hello: world\n",
            "document at line 1 has no apiVersion and kind",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n42\n",
            "document at line 4 is a number",
        ),
        (
            "apiVersion: v1\nkind: List\nitems: [{a: 1}]\n",
            "item 0 of the List: document at line 1 has no apiVersion and kind",
        ),
    ] {
        let out = review(&["--streams-dir", dir, "-f", "-"], Some(input));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{input:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "", "{input:?}: nothing is echoed");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(reason), "{input:?}: {stderr}");
    }
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
