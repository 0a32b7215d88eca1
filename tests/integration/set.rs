//! `set triggers` and `set image-lookup` in both modes: workloads edited in
//! a file (`-f`, the rest of the file untouched) or patched in the cluster,
//! streams edited in their file or in the cluster; and what the edits make
//! `review` do.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::cli_in_toms_project as cli;
use crate::common::*;
use crate::manifests::kubernetes_validate;

const TRIGGERS: &str = "image.openshift.io/triggers";
const RESOLVE: &str = "alpha.image.policy.openshift.io/resolve-names";

const DEPLOYMENT: &str = "# the app\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: toms-project\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      initContainers:\n      - {name: migrate, image: \"toolbox:stable\"}\n      containers:\n      - {name: web, image: \"marsview:latest\"}\n      - {name: sidecar, image: \"toolbox:stable\"}\n";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web}   # untouched\nspec: {ports: [{port: 80}]}\n";

/// Runs `set …` on `input` written to a file of `dir`; the printed result.
fn set_file(dir: &Path, input: &str, args: &[&str]) -> Output {
    let file = dir.join("workload.yaml.in");
    std::fs::write(&file, input).expect("write");
    let mut full = vec!["set"];
    full.extend(args);
    full.extend(["-f", file.to_str().expect("path")]);
    cli(dir, &full)
}

fn first_doc(out: &Output) -> Value {
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text(&out.stdout)).expect("YAML out");
    docs.into_iter().next().expect("a document")
}

fn annotation(doc: &Value) -> Option<String> {
    doc["metadata"]["annotations"][TRIGGERS]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn set_triggers_on_a_file_edits_the_annotation_as_oc_writes_it() {
    let dir = example_streams();
    let d = dir.path();
    let input = format!("{DEPLOYMENT}---\n{SERVICE}");
    let out = set_file(
        d,
        &input,
        &[
            "triggers",
            "deploy/web",
            "--from-image=marsview:latest",
            "-c",
            "web",
        ],
    );
    assert_code(&out, 0, "set triggers --from-image");
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("# the app\n"), "{stdout}");
    assert!(
        stdout.ends_with(&format!("---\n{SERVICE}")),
        "the Service is untouched: {stdout}"
    );
    let web = first_doc(&out);
    assert_eq!(
        annotation(&web).as_deref(),
        Some(
            r#"[{"from":{"kind":"ImageStreamTag","name":"marsview:latest"},"fieldPath":"spec.template.spec.containers[?(@.name==\"web\")].image"}]"#
        )
    );
    kubernetes_validate("set-triggers", &stdout);
    let with_one = stdout;

    // The table lists it; --manual pauses, --auto resumes, another tag for two containers.
    let out = set_file(d, &with_one, &["triggers"]);
    assert_code(&out, 0, "set triggers (list)");
    assert_eq!(
        text(&out.stdout),
        "NAME             TYPE   VALUE                  AUTO\ndeployments/web  image  marsview:latest (web)  true\n"
    );
    let out = set_file(d, &with_one, &["triggers", "--manual"]);
    assert_code(&out, 0, "--manual");
    assert!(
        annotation(&first_doc(&out))
            .unwrap()
            .ends_with(r#","paused":true}]"#)
    );
    let paused = text(&out.stdout);
    let out = set_file(d, &paused, &["triggers", "--auto"]);
    assert_eq!(annotation(&first_doc(&out)), annotation(&web));
    let out = set_file(
        d,
        &with_one,
        &[
            "triggers",
            "--from-image=shared-images/base:9.4",
            "-c",
            "sidecar,migrate",
        ],
    );
    assert_code(&out, 0, "a second tag");
    let list: Value = serde_json::from_str(&annotation(&first_doc(&out)).unwrap()).expect("JSON");
    assert_eq!(
        list,
        json!([
            {"from": {"kind": "ImageStreamTag", "name": "marsview:latest"},
             "fieldPath": "spec.template.spec.containers[?(@.name==\"web\")].image"},
            {"from": {"kind": "ImageStreamTag", "name": "base:9.4", "namespace": "shared-images"},
             "fieldPath": "spec.template.spec.containers[?(@.name==\"sidecar\")].image"},
            {"from": {"kind": "ImageStreamTag", "name": "base:9.4", "namespace": "shared-images"},
             "fieldPath": "spec.template.spec.initContainers[?(@.name==\"migrate\")].image"},
        ])
    );
    let two = text(&out.stdout);
    let out = set_file(
        d,
        &two,
        &["triggers", "--remove", "--from-image=marsview:latest"],
    );
    assert_code(&out, 0, "--remove");
    assert!(!annotation(&first_doc(&out)).unwrap().contains("marsview"));
    let out = set_file(d, &two, &["triggers", "--remove-all"]);
    assert_code(&out, 0, "--remove-all");
    assert_eq!(annotation(&first_doc(&out)), None);

    // Errors as oc words them; bad flags are exit 2, a container the workload lacks exit 1.
    for (args, code, want) in [
        (
            &["triggers", "--from-image=marsview:latest"][..],
            2,
            "you must specify --containers when setting --from-image",
        ),
        (
            &["triggers", "--from-image=marsview:latest", "-c", "nope"],
            1,
            "not all container names exist: nope (accepts: migrate, sidecar, web)",
        ),
        (
            &["triggers", "--from-image=marsview", "-c", "web"],
            2,
            "must include the tag you wish to pull from",
        ),
        (
            &["triggers", "--from-image=quay.io/a/b:1", "-c", "web"],
            2,
            "must point to an image stream tag",
        ),
        (
            &["triggers", "--manual", "--auto"],
            2,
            "at most one of --auto or --manual",
        ),
        (&["triggers", "--remove"], 2, "--remove requires"),
        (
            &["triggers", "--remove-all", "--manual"],
            2,
            "--remove-all may not be used with any other flag",
        ),
        (
            &["triggers", "deploy/other", "--remove-all"],
            1,
            "holds no deployment.apps/other",
        ),
        (
            &["triggers", "pod/web", "--remove-all"],
            2,
            "TYPE must be one of deployments, statefulsets, daemonsets, cronjobs",
        ),
    ] {
        let out = set_file(d, &input, args);
        assert_code(&out, code, &format!("{args:?}"));
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            text(&out.stderr).contains(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // Workloads are not in the streams directory.
    let out = cli(d, &["set", "triggers", "deploy/web", "--remove-all"]);
    assert_code(&out, 2, "without -f in directory mode");
    assert!(
        text(&out.stderr).contains("-f FILE"),
        "{}",
        text(&out.stderr)
    );

    // A CronJob's path.
    let cj = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec:\n  schedule: \"0 3 * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{name: job, image: \"toolbox:stable\"}]\n";
    let out = set_file(
        d,
        cj,
        &["triggers", "--from-image=toolbox:stable", "-c", "job"],
    );
    assert_code(&out, 0, "cronjob");
    assert_eq!(
        annotation(&first_doc(&out)).as_deref(),
        Some(
            r#"[{"from":{"kind":"ImageStreamTag","name":"toolbox:stable"},"fieldPath":"spec.jobTemplate.spec.template.spec.containers[?(@.name==\"job\")].image"}]"#
        )
    );
    kubernetes_validate("set-triggers-cronjob", &text(&out.stdout));
}

/// What `review` makes of the sidecar's `toolbox:stable` in `manifest`.
fn sidecar_after_review(dir: &Path, manifest: &str) -> String {
    let file = dir.join("review.yaml.in");
    std::fs::write(&file, manifest).expect("write");
    let out = cli(dir, &["review", "-f", file.to_str().expect("path")]);
    assert_code(&out, 0, "review");
    first_doc(&out)["spec"]["template"]["spec"]["containers"][1]["image"]
        .as_str()
        .expect("image")
        .to_owned()
}

const TOOLBOX_PINNED: &str = "quay.io/marsrover/toolbox@sha256:ff5e74e316e839b3d7d3454ba6a56b901bb61af7efaca1004056a9a5d4cb8490";

#[test]
fn set_image_lookup_edits_the_stream_file_and_workload_files() {
    let dir = example_streams();
    let d = dir.path();
    // toolbox has no lookupPolicy.local: review leaves its short name alone.
    assert_eq!(sidecar_after_review(d, DEPLOYMENT), "toolbox:stable");
    let out = cli(d, &["set", "image-lookup"]);
    assert_code(&out, 0, "list");
    assert_eq!(
        text(&out.stdout),
        "NAME      LOCAL\nmarsview  true\ntoolbox   false\n"
    );

    let file = d.join("toolbox.yaml");
    let before = std::fs::read_to_string(&file).expect("read");
    let out = cli(d, &["set", "image-lookup", "toolbox"]);
    assert_code(&out, 0, "set image-lookup toolbox");
    assert_eq!(
        text(&out.stdout),
        "imagestream.image.openshift.io/toolbox image lookup updated\n"
    );
    let after = std::fs::read_to_string(&file).expect("read");
    // The file's other bytes stay: its comments, metadata and status.
    let (head, _) = before.split_once("spec:\n").expect("spec");
    let (_, status) = before.split_once("status:\n").expect("status");
    assert!(after.starts_with(&format!("{head}spec:\n")), "{after}");
    assert!(after.ends_with(&format!("status:\n{status}")), "{after}");
    assert!(
        after.contains("  lookupPolicy:\n    local: true\n"),
        "{after}"
    );
    assert_eq!(sidecar_after_review(d, DEPLOYMENT), TOOLBOX_PINNED);
    // Again: nothing to change, the file is left alone.
    let out = cli(d, &["set", "image-lookup", "toolbox"]);
    assert_code(&out, 0, "again");
    assert!(text(&out.stdout).contains("unchanged"));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), after);
    let out = cli(d, &["set", "image-lookup", "toolbox", "--enabled=false"]);
    assert_code(&out, 0, "--enabled=false");
    assert!(
        std::fs::read_to_string(&file)
            .expect("read")
            .contains("    local: false\n")
    );
    assert_eq!(sidecar_after_review(d, DEPLOYMENT), "toolbox:stable");
    let out = cli(d, &["set", "image-lookup", "nosuch"]);
    assert_code(&out, 1, "a stream that is not there");

    // A workload: the template gets resolve-names, and review resolves every short name in it.
    let input = format!("{DEPLOYMENT}---\n{SERVICE}");
    let out = set_file(d, &input, &["image-lookup", "deploy/web"]);
    assert_code(&out, 0, "set image-lookup deploy/web -f");
    let stdout = text(&out.stdout);
    assert!(stdout.ends_with(&format!("---\n{SERVICE}")), "{stdout}");
    let web = first_doc(&out);
    assert_eq!(
        web["spec"]["template"]["metadata"]["annotations"][RESOLVE],
        "*"
    );
    kubernetes_validate("set-image-lookup", &stdout);
    assert_eq!(sidecar_after_review(d, &stdout), TOOLBOX_PINNED);
    let out = set_file(d, &stdout, &["image-lookup", "--enabled=false"]);
    assert_code(&out, 0, "--enabled=false -f");
    assert!(
        first_doc(&out)["spec"]["template"]["metadata"]
            .get("annotations")
            .is_none()
    );
    // Without -f, a workload is not in the streams directory.
    let out = cli(d, &["set", "image-lookup", "deploy/web"]);
    assert_code(&out, 2, "a workload in directory mode");
}

async fn cluster_cli(kubeconfig: &Path, args: &[&str]) -> Output {
    let (kc, args): (std::path::PathBuf, Vec<String>) = (
        kubeconfig.to_owned(),
        args.iter().map(|a| a.to_string()).collect(),
    );
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .args(["-n", "team", "--kubeconfig"])
            .arg(&kc)
            .stdin(Stdio::null())
            .output()
            .expect("run")
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn set_in_cluster_mode_patches_the_objects() {
    use crate::fakeapi::{DEPLOYMENTS, FakeApi, STREAMS};
    let api = FakeApi::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(tmp.path());
    api.put(
        DEPLOYMENTS,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "team", "annotations": {"keep": "me"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "app:1"}]}}}}),
    );
    api.put_stream(
        json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": "app", "namespace": "team"}, "spec": {"tags": []}}),
    );

    let out = cluster_cli(
        &kubeconfig,
        &[
            "set",
            "triggers",
            "deploy/web",
            "--from-image=app:1",
            "-c",
            "web",
        ],
    )
    .await;
    assert_code(&out, 0, "set triggers in the cluster");
    assert_eq!(text(&out.stdout), "deployment.apps/web triggers updated\n");
    let web = api.get(DEPLOYMENTS, "team", "web").expect("deployment");
    assert_eq!(
        web["metadata"]["annotations"][TRIGGERS],
        r#"[{"from":{"kind":"ImageStreamTag","name":"app:1"},"fieldPath":"spec.template.spec.containers[?(@.name==\"web\")].image"}]"#
    );
    assert_eq!(web["metadata"]["annotations"]["keep"], "me");
    let patches: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/deployments/web"))
        .collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(
        (&patches[0].body[0]["op"], &patches[0].body[0]["path"]),
        (&json!("test"), &json!("/metadata/resourceVersion")),
        "the patch is guarded by the version read: {}",
        patches[0].body
    );
    let out = cluster_cli(&kubeconfig, &["set", "triggers", "deploy/web"]).await;
    assert_code(&out, 0, "list in the cluster");
    assert!(
        text(&out.stdout).contains("deployments/web  image  app:1 (web)  true"),
        "{}",
        text(&out.stdout)
    );

    let out = cluster_cli(&kubeconfig, &["set", "image-lookup", "deploy/web", "app"]).await;
    assert_code(&out, 0, "set image-lookup in the cluster");
    assert_eq!(
        text(&out.stdout),
        "deployment.apps/web image lookup updated\nimagestream.image.openshift.io/app image lookup updated\n"
    );
    let web = api.get(DEPLOYMENTS, "team", "web").expect("deployment");
    assert_eq!(
        web["spec"]["template"]["metadata"]["annotations"][RESOLVE],
        "*"
    );
    let app = api.get(STREAMS, "team", "app").expect("stream");
    assert_eq!(app["spec"]["lookupPolicy"], json!({"local": true}));

    let out = cluster_cli(
        &kubeconfig,
        &["set", "triggers", "deploy/nosuch", "--remove-all"],
    )
    .await;
    assert_code(&out, 1, "a workload that is not there");
    assert!(
        text(&out.stderr).contains("deployment.apps/nosuch not found in namespace team"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_readme_openshift_session_runs_as_written() {
    let readme = std::fs::read_to_string(repo_path("README.md")).expect("README");
    let block = readme
        .split_once("$ cp -r manifests/examples /tmp/openshift\n")
        .expect("the session")
        .1
        .split_once("```")
        .expect("its end")
        .0;
    let copy = example_streams();
    let dir = copy.path().to_str().expect("path");
    let mut ran = 0;
    for step in block.split("$ ").filter(|s| !s.is_empty()) {
        let (command, expected) = step.split_once('\n').expect("a line");
        let argv = shlex::split(&command.replace("/tmp/openshift", dir)).expect("command");
        assert_eq!(argv[0], "imagestream-webhook", "{command}");
        let out = Command::new(BIN)
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert_code(&out, 0, command);
        assert_eq!(text(&out.stdout), expected, "{command}");
        ran += 1;
    }
    assert_eq!(ran, 3, "tag, set image-lookup, the list");
}
