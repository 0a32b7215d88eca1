//! `convert`: DeploymentConfigs made Deployments that kubectl accepts and
//! `review` admits; refusals that print nothing; other documents untouched;
//! and `review` pointing a DeploymentConfig at `convert`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::*;
use crate::manifests::kubernetes_validate;

/// The walkthrough's DeploymentConfig, verbatim: its trigger names the
/// container `marsview`, and the container is called `main`.
const WALKTHROUGH: &str = r#"kind: DeploymentConfig
apiVersion: apps.openshift.io/v1
metadata:
  name: marsview
spec:
  selector:
    deploymentconfig: marsview
  replicas: 1
  template:
    metadata:
      labels:
        deploymentconfig: marsview
    spec:
      containers:
        - name: main
          image: marsview    # OpenShift will replace this with the 'real' image URL
          ports:
            - containerPort: 8080
              protocol: TCP
          imagePullPolicy: Always
      restartPolicy: Always
  triggers:
    - type: ConfigChange
    - type: ImageChange
      imageChangeParams:
        automatic: true       # Set automatic=true to trigger a redeployment on image change
        containerNames:
          - marsview
        from:
          kind: ImageStreamTag
          namespace: toms-project
          name: 'marsview:latest'
"#;

/// Runs the CLI with `input` on stdin.
fn run_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn convert(input: &str, extra: &[&str]) -> Output {
    let mut args = vec!["convert", "-f", "-"];
    args.extend(extra);
    run_stdin(&args, input)
}

fn docs(out: &Output) -> Vec<Value> {
    serde_saphyr::from_multiple(&text(&out.stdout)).expect("output is YAML")
}

fn triggers(deployment: &Value) -> Value {
    let raw = deployment["metadata"]["annotations"]["image.openshift.io/triggers"]
        .as_str()
        .expect("the triggers annotation");
    serde_json::from_str(raw).expect("the annotation is JSON")
}

/// `review` of `manifest` against the example streams, as toms-project.
fn review(dir: &Path, manifest: &str) -> Output {
    let d = dir.to_str().expect("path");
    run_stdin(
        &[
            "review",
            "-f",
            "-",
            "--streams-dir",
            d,
            "-n",
            "toms-project",
        ],
        manifest,
    )
}

#[test]
fn the_walkthroughs_deploymentconfig_is_refused_naming_both_containers() {
    let out = convert(WALKTHROUGH, &[]);
    assert_code(&out, 1, "convert of the walkthrough");
    assert!(out.stdout.is_empty(), "nothing is converted");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("DeploymentConfig marsview: spec.triggers[1] (ImageChange from toms-project/marsview:latest) names container \"marsview\", which the template does not have (its containers: main)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("name one of those in containerNames, or rename the container"),
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");

    // Forced: the Deployment, without the trigger that follows nothing, and said so.
    let out = convert(WALKTHROUGH, &["--force"]);
    assert_code(&out, 0, "convert --force");
    let d = docs(&out).remove(0);
    assert_eq!(d["kind"], "Deployment");
    assert!(d["metadata"].get("annotations").is_none(), "{d}");
    assert!(
        text(&out.stderr).contains("left out (--force): spec.triggers[1]"),
        "{}",
        text(&out.stderr)
    );
    kubernetes_validate("walkthrough-forced", &text(&out.stdout));
}

#[test]
fn the_corrected_walkthrough_converts_validates_and_review_pins_it() {
    let fixed = WALKTHROUGH.replace("- name: main", "- name: marsview");
    let out = convert(&fixed, &[]);
    assert_code(&out, 0, "convert");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let d = docs(&out).remove(0);
    assert_eq!(
        (&d["apiVersion"], &d["kind"], &d["metadata"]["name"]),
        (&json!("apps/v1"), &json!("Deployment"), &json!("marsview"))
    );
    assert_eq!(
        d["spec"]["selector"],
        json!({"matchLabels": {"deploymentconfig": "marsview"}})
    );
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        triggers(&d),
        json!([{"from": {"kind": "ImageStreamTag", "name": "marsview:latest", "namespace": "toms-project"},
            "fieldPath": "spec.template.spec.containers[?(@.name==\"marsview\")].image"}])
    );
    kubernetes_validate("walkthrough-converted", &text(&out.stdout));

    // review admits it and pins the short name, as for any Deployment.
    let dir = example_streams();
    let reviewed = review(dir.path(), &text(&out.stdout));
    assert_code(&reviewed, 0, "review of the converted Deployment");
    let pinned = docs(&reviewed).remove(0);
    let image = pinned["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .expect("image");
    assert!(
        image.starts_with("registry.marsrover.space/engine/marsview@sha256:"),
        "{image}"
    );

    // review of the DeploymentConfig itself points at convert, prints nothing, exits 1.
    let reviewed = review(dir.path(), &fixed);
    assert_code(&reviewed, 1, "review of a DeploymentConfig");
    assert!(reviewed.stdout.is_empty());
    let stderr = text(&reviewed.stderr);
    assert!(
        stderr.contains("DeploymentConfig marsview: Kubernetes has no DeploymentConfig")
            && stderr.contains("imagestream-webhook convert -f FILE"),
        "{stderr}"
    );
}

/// A DeploymentConfig of toms-project with `spec` edited.
fn dc(edit: impl FnOnce(&mut Value)) -> String {
    let mut v = json!({
        "apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
        "metadata": {"name": "web", "namespace": "toms-project", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2, "revisionHistoryLimit": 5, "minReadySeconds": 3, "paused": true,
            "selector": {"app": "web"},
            "strategy": {"type": "Rolling", "rollingParams": {"maxSurge": 1, "maxUnavailable": "10%"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "initContainers": [{"name": "migrate", "image": "toolbox:stable"}],
                "containers": [{"name": "web", "image": "marsview:latest"}]}},
            "triggers": [
                {"type": "ConfigChange"},
                {"type": "ImageChange", "imageChangeParams": {"automatic": true,
                    "containerNames": ["web"], "from": {"kind": "ImageStreamTag", "name": "marsview:latest"}}},
                {"type": "ImageChange", "imageChangeParams": {"automatic": false,
                    "containerNames": ["migrate"], "from": {"kind": "ImageStreamTag", "name": "base:9.4", "namespace": "shared-images"}}},
            ],
        },
    });
    edit(&mut v["spec"]);
    serde_json::to_string_pretty(&v).expect("json")
}

#[test]
fn conversion_table() {
    // Everything kept, both trigger forms, JSON in and out.
    let out = convert(&dc(|_| {}), &[]);
    assert_code(&out, 0, "convert");
    let d: Value = serde_json::from_slice(&out.stdout).expect("JSON out");
    assert_eq!(d["metadata"]["namespace"], "toms-project");
    assert_eq!(d["metadata"]["labels"], json!({"app": "web"}));
    for (key, want) in [
        ("replicas", json!(2)),
        ("revisionHistoryLimit", json!(5)),
        ("minReadySeconds", json!(3)),
        ("paused", json!(true)),
        ("selector", json!({"matchLabels": {"app": "web"}})),
        (
            "strategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}}),
        ),
    ] {
        assert_eq!(d["spec"][key], want, "{key}");
    }
    assert_eq!(
        triggers(&d),
        json!([
            {"from": {"kind": "ImageStreamTag", "name": "marsview:latest", "namespace": "toms-project"},
             "fieldPath": "spec.template.spec.containers[?(@.name==\"web\")].image"},
            {"from": {"kind": "ImageStreamTag", "name": "base:9.4", "namespace": "shared-images"},
             "fieldPath": "spec.template.spec.initContainers[?(@.name==\"migrate\")].image",
             "paused": true},
        ])
    );
    kubernetes_validate("converted-json", &text(&out.stdout));

    // Recreate stays Recreate.
    let out = convert(
        &dc(|s| {
            s["strategy"] = json!({"type": "Recreate", "recreateParams": {"timeoutSeconds": 600}})
        }),
        &[],
    );
    assert_code(&out, 0, "Recreate");
    let d: Value = serde_json::from_slice(&out.stdout).expect("JSON out");
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));

    // Each refusal: exit 1, nothing printed, the reason named; --force leaves it out.
    let refusals: [(String, &str); 5] = [
        (
            dc(|s| s["triggers"][1]["imageChangeParams"]["containerNames"] = json!(["nope"])),
            "names container \"nope\", which the template does not have (its containers: web, migrate)",
        ),
        (
            dc(
                |s| s["strategy"]["rollingParams"]["pre"] = json!({"failurePolicy": "Abort", "execNewPod": {"command": ["./migrate"], "containerName": "web"}}),
            ),
            "lifecycle hook spec.strategy.rollingParams.pre has no Deployment equivalent",
        ),
        (
            dc(
                |s| s["strategy"] = json!({"type": "Recreate", "recreateParams": {"mid": {"failurePolicy": "Ignore"}}}),
            ),
            "lifecycle hook spec.strategy.recreateParams.mid",
        ),
        (
            dc(|s| {
                s["strategy"] = json!({"type": "Custom", "customParams": {"image": "deployer:1"}})
            }),
            "spec.strategy.type Custom",
        ),
        (dc(|s| s["test"] = json!(true)), "spec.test: true"),
    ];
    for (input, want) in &refusals {
        let out = convert(input, &[]);
        assert_code(&out, 1, want);
        assert!(out.stdout.is_empty(), "{want}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("error: DeploymentConfig toms-project/web: ") && stderr.contains(want),
            "{want}: {stderr}"
        );
        let out = convert(input, &["--force"]);
        assert_code(&out, 0, &format!("{want} --force"));
        assert!(text(&out.stderr).contains("left out (--force)"), "{want}");
        let d: Value = serde_json::from_slice(&out.stdout).expect("JSON out");
        assert_eq!(d["kind"], "Deployment", "{want}");
        kubernetes_validate("converted-forced", &text(&out.stdout));
    }
}

#[test]
fn other_documents_pass_through_in_order_and_buildconfigs_are_named() {
    let service = "# the app's Service\napiVersion: v1\nkind: Service\nmetadata:\n  name: web   # keep me\nspec:\n  ports: [{port: 80}]\n";
    let stream = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: web}\n";
    let fixed = WALKTHROUGH.replace("- name: main", "- name: marsview");
    let input = format!("{service}---\n{fixed}---\n{stream}");
    let out = convert(&input, &[]);
    assert_code(&out, 0, "convert");
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("{service}---\n")), "{stdout}");
    assert!(stdout.ends_with(&format!("---\n{stream}")), "{stdout}");
    let kinds: Vec<Value> = docs(&out).iter().map(|d| d["kind"].clone()).collect();
    assert_eq!(
        kinds,
        [json!("Service"), json!("Deployment"), json!("ImageStream")]
    );

    // A BuildConfig is never dropped silently.
    let bc = "apiVersion: build.openshift.io/v1\nkind: BuildConfig\nmetadata: {name: marsview, namespace: toms-project}\nspec: {}\n";
    let input = format!("{service}---\n{bc}");
    let out = convert(&input, &[]);
    assert_code(&out, 1, "a BuildConfig");
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("BuildConfig toms-project/marsview: not supported"),
        "{stderr}"
    );
    let out = convert(&input, &["--force"]);
    assert_code(&out, 0, "a BuildConfig, forced");
    assert_eq!(
        docs(&out)
            .iter()
            .map(|d| d["kind"].clone())
            .collect::<Vec<_>>(),
        [json!("Service")]
    );
    assert!(
        text(&out.stderr).contains("BuildConfig toms-project/marsview left out: not supported"),
        "{}",
        text(&out.stderr)
    );

    // Not manifests: exit 2.
    let out = convert("- a\n- b\n", &[]);
    assert_code(&out, 2, "a YAML list");
}
