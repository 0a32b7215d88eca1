//! The bypass matrix: every way we know to get an image of a stream past the
//! webhook that the pod's service account may not use, or to make it pin
//! something other than what the stream says. One test per row, each through
//! the real server's `/mutate` AND `/validate` (and `review` where it takes
//! the same input), each with the reason its answer is the right one.
//!
//! The cast (directory mode, the examples plus the files below):
//! - `vault/secret-sauce`: nobody outside `vault` may use it, except the
//!   service account `elsewhere/chef`, bound by name in `vault`;
//! - `lib/one` and `lib/two`: a Role with `resourceNames: [one]` is bound to
//!   the group `system:serviceaccounts:toms-project`;
//! - `shared-images/base`: every toms-project service account may use it;
//! - `toms-project/marsview` (local lookup) and `toms-project/toolbox` (none).

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::*;

const HOST: &str = "image-registry.openshift-image-registry.svc:5000";
/// The digest of vault/secret-sauce:1, in no other stream.
const SAUCE: &str = "sha256:5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
const ONE: &str = "sha256:0101010101010101010101010101010101010101010101010101010101010101";
const TWO: &str = "sha256:0202020202020202020202020202020202020202020202020202020202020202";

fn stream(ns: &str, name: &str, tag: &str, digest: &str) -> String {
    format!(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{lookupPolicy: {{local: true}}}}\nstatus:\n  tags:\n  - tag: \"{tag}\"\n    items:\n    - {{created: \"2026-11-26T00:00:00Z\", dockerImageReference: \"quay.io/{ns}/{name}@{digest}\", image: \"{digest}\", generation: 1}}\n"
    )
}

const VAULT_RBAC: &str = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: elsewhere-chef-pulls-secret-sauce, namespace: vault}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}
subjects:
- {kind: ServiceAccount, name: chef, namespace: elsewhere}
";

const LIB_RBAC: &str = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pull-one, namespace: lib}
rules:
- apiGroups: [image.openshift.io]
  resources: [imagestreams/layers]
  resourceNames: [one]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: toms-project-pulls-one, namespace: lib}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pull-one}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: \"system:serviceaccounts:toms-project\"}
";

fn streams() -> tempfile::TempDir {
    let dir = example_streams();
    std::fs::write(
        dir.path().join("vault.yaml"),
        format!(
            "{}---\n{VAULT_RBAC}",
            stream("vault", "secret-sauce", "1", SAUCE)
        ),
    )
    .expect("write vault");
    std::fs::write(
        dir.path().join("lib.yaml"),
        format!(
            "{}---\n{}---\n{LIB_RBAC}",
            stream("lib", "one", "1", ONE),
            stream("lib", "two", "1", TWO)
        ),
    )
    .expect("write lib");
    dir
}

fn start(dir: &tempfile::TempDir) -> Server {
    Server::start(dir.path(), &["--no-import", "--audit-log", "/dev/null"])
}

fn sauce() -> String {
    format!("{HOST}/vault/secret-sauce:1")
}

fn sauce_pinned() -> String {
    format!("quay.io/vault/secret-sauce@{SAUCE}")
}

fn base() -> String {
    format!("{HOST}/shared-images/base:9.4")
}

fn containers(images: &[(&str, &str)]) -> Value {
    Value::Array(
        images
            .iter()
            .map(|(n, i)| json!({"name": n, "image": i}))
            .collect(),
    )
}

fn pod(ns: &str, sa: &str, images: &[(&str, &str)]) -> Value {
    let mut spec = json!({"containers": containers(images)});
    if !sa.is_empty() {
        spec["serviceAccountName"] = json!(sa);
    }
    object("Pod", ns, "p", spec)
}

/// The answers of `/mutate` and `/validate` to one review.
async fn both(server: &Server, review: &Value) -> [Value; 2] {
    [
        server.review("/mutate", review).await,
        server.review("/validate", review).await,
    ]
}

/// Denied, with a 403, no patch, and every `want` in the message.
fn assert_denied(rsp: &Value, wants: &[&str]) -> String {
    let r = &rsp["response"];
    assert_eq!(r["allowed"], false, "{rsp}");
    assert_eq!(r["status"]["code"], 403, "{rsp}");
    assert!(r.get("patch").is_none(), "a denial carries no patch: {rsp}");
    let msg = r["status"]["message"].as_str().expect("message").to_owned();
    for want in wants {
        assert!(msg.contains(want), "missing {want:?} in: {msg}");
    }
    msg
}

/// Allowed with no patch at all.
fn assert_untouched(rsp: &Value) {
    assert_eq!(rsp["response"]["allowed"], true, "{rsp}");
    assert!(patch_of(rsp).is_empty(), "{rsp}");
}

/// `review -f -` over the streams in `dir`: exit code, stdout, stderr.
fn review_cli(dir: &std::path::Path, input: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(BIN)
        .arg("review")
        .arg("--streams-dir")
        .arg(dir)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn review");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("review output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `review` of a whole AdmissionReview: it answers as `/mutate` does.
fn review_cli_admission(dir: &std::path::Path, review: &Value) -> (Option<i32>, Value) {
    let (code, out, err) = review_cli(dir, &review.to_string());
    let rsp = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, rsp)
}

/// Ephemeral containers (`kubectl debug`) come through the
/// `pods/ephemeralcontainers` subresource as an UPDATE of the whole Pod. They
/// run as the pod's service account and are pulled like any container, so a
/// forbidden stream there is denied; and since no template made them, even
/// an owned pod has them pinned, never skipped.
#[tokio::test]
async fn ephemeral_containers_naming_a_forbidden_stream_are_denied() {
    let dir = streams();
    let server = start(&dir);
    let marsview = example_digest("marsview.yaml", 0);
    for owned in [false, true] {
        let mut old = pod("toms-project", "", &[("main", &marsview)]);
        if owned {
            old["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]);
        }
        let mut new = old.clone();
        new["spec"]["ephemeralContainers"] =
            json!([{"name": "debug", "image": sauce(), "targetContainerName": "main"}]);
        let mut review = admission_review("UPDATE", &new, Some(&old));
        review["request"]["subResource"] = json!("ephemeralcontainers");
        review["request"]["requestSubResource"] = json!("ephemeralcontainers");
        for rsp in both(&server, &review).await {
            assert_denied(
                &rsp,
                &[
                    "container \"debug\"",
                    "service account toms-project/default may not use imagestream vault/secret-sauce",
                ],
            );
        }
        let (code, rsp) = review_cli_admission(dir.path(), &review);
        assert_eq!(code, Some(1), "owned={owned}");
        assert_denied(&rsp, &["container \"debug\""]);

        // The control: a stream it may use is pinned (owned or not), then passes validation.
        new["spec"]["ephemeralContainers"][0]["image"] = json!(base());
        let mut review = admission_review("UPDATE", &new, Some(&old));
        review["request"]["subResource"] = json!("ephemeralcontainers");
        let rsp = server.review("/mutate", &review).await;
        assert_eq!(
            patch_of(&rsp),
            vec![
                json!({"op": "replace", "path": "/spec/ephemeralContainers/0/image", "value": example_digest("shared-base.yaml", 0)})
            ],
            "owned={owned}"
        );
        let mut pinned = admission_review("UPDATE", &apply(&rsp, &new), Some(&old));
        pinned["request"]["subResource"] = json!("ephemeralcontainers");
        assert_eq!(
            server.review("/validate", &pinned).await["response"]["allowed"],
            true
        );
    }
}

/// On a pod UPDATE the kubelet pulls whatever image changed, so a changed
/// image is checked like a new one, whatever the container is called now. An
/// image left as it was is not a new pull decision (it was decided when it
/// was written, and resolving it again would roll workloads on every edit),
/// so it is not checked again, even if it names a stream that would be
/// refused today.
#[tokio::test]
async fn a_pod_update_to_a_forbidden_stream_is_denied_and_unchanged_images_are_not_rechecked() {
    let dir = streams();
    let server = start(&dir);
    let marsview = example_digest("marsview.yaml", 0);
    // Stored before access to the sauce was withdrawn, say.
    let old = pod(
        "toms-project",
        "",
        &[("main", &marsview), ("sidecar", &sauce())],
    );

    let mut relabelled = old.clone();
    relabelled["metadata"]["labels"] = json!({"edited": "yes"});
    for rsp in both(
        &server,
        &admission_review("UPDATE", &relabelled, Some(&old)),
    )
    .await
    {
        assert_untouched(&rsp);
    }

    let mut changed = old.clone();
    changed["spec"]["containers"][0]["image"] = json!(sauce());
    for rsp in both(&server, &admission_review("UPDATE", &changed, Some(&old))).await {
        let msg = assert_denied(&rsp, &["container \"main\"", "vault/secret-sauce"]);
        assert!(
            !msg.contains("container \"sidecar\""),
            "unchanged: not re-checked: {msg}"
        );
    }

    // The same image under a new name is a new container, not an unchanged one.
    let mut renamed = old.clone();
    renamed["spec"]["containers"][1]["name"] = json!("sidecar2");
    for rsp in both(&server, &admission_review("UPDATE", &renamed, Some(&old))).await {
        assert_denied(&rsp, &["container \"sidecar2\"", "vault/secret-sauce"]);
    }

    // Moved from initContainers to containers under the same name: not the same container.
    let mut old_init = pod("toms-project", "", &[("main", &marsview)]);
    old_init["spec"]["initContainers"] = json!([{"name": "prep", "image": sauce()}]);
    let mut moved = pod(
        "toms-project",
        "",
        &[("main", &marsview), ("prep", &sauce())],
    );
    moved["spec"]["initContainers"] = json!([]);
    for rsp in both(
        &server,
        &admission_review("UPDATE", &moved, Some(&old_init)),
    )
    .await
    {
        assert_denied(&rsp, &["container \"prep\"", "vault/secret-sauce"]);
    }
}

/// Init containers are pulled and run with the pod's identity before any
/// other container: the same check applies, in every kind.
#[tokio::test]
async fn init_containers_naming_a_forbidden_stream_are_denied() {
    let dir = streams();
    let server = start(&dir);
    let marsview = example_digest("marsview.yaml", 0);
    for kind in ["Pod", "Deployment", "Job"] {
        let mut spec = json!({"containers": containers(&[("main", &marsview)])});
        spec["initContainers"] = json!([{"name": "init", "image": sauce()}]);
        let obj = object(kind, "toms-project", "w", spec);
        for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
            assert_denied(&rsp, &["container \"init\"", "vault/secret-sauce"]);
        }
    }
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: toms-project}}\nspec:\n  initContainers:\n  - {{name: init, image: \"{}\"}}\n  containers:\n  - {{name: main, image: \"{marsview}\"}}\n",
        sauce()
    );
    let (code, _, err) = review_cli(dir.path(), &manifest);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("container \"init\"") && err.contains("vault/secret-sauce"),
        "{err}"
    );
}

/// A CronJob's pods come from `spec.jobTemplate.spec.template`, two levels
/// down: that template is where its images are pinned and checked; the Jobs
/// and Pods it creates later are owned, so this is the only chance.
#[tokio::test]
async fn cronjob_templates_are_resolved_and_checked() {
    let dir = streams();
    let server = start(&dir);
    let path = "/spec/jobTemplate/spec/template/spec/containers/0/image";
    let ok = object(
        "CronJob",
        "toms-project",
        "nightly",
        json!({"containers": containers(&[("main", &base())])}),
    );
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &ok, None))
        .await;
    let base_pinned = example_digest("shared-base.yaml", 0);
    assert_eq!(
        patch_of(&rsp),
        vec![json!({"op": "replace", "path": path, "value": base_pinned})]
    );
    let v = server
        .review(
            "/validate",
            &admission_review("CREATE", &apply(&rsp, &ok), None),
        )
        .await;
    assert_eq!(v["response"]["allowed"], true, "{v}");

    let mut bad = ok.clone();
    *bad.pointer_mut(path).expect("image") = json!(sauce());
    bad["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] = json!("cron");
    for rsp in both(&server, &admission_review("CREATE", &bad, None)).await {
        assert_denied(
            &rsp,
            &[
                "CronJob toms-project/nightly",
                "service account toms-project/cron may not use imagestream vault/secret-sauce",
            ],
        );
    }
    let manifest = format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: nightly, namespace: toms-project}}\nspec:\n  schedule: \"0 3 * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n          - {{name: main, image: \"{}\"}}\n",
        base()
    );
    let (code, out, err) = review_cli(dir.path(), &manifest);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&base_pinned), "{out}");
    let (code, _, err) = review_cli(dir.path(), &manifest.replace(&base(), &sauce()));
    assert_eq!(code, Some(1));
    assert!(err.contains("vault/secret-sauce"), "{err}");
}

/// Anyone who can create a pod can write an ownerReference with
/// `controller: true`. It only means "the owner's template was already
/// pinned", so it skips the rewrite and never the access check: a forbidden
/// stream is still denied, an allowed one is left as written.
#[tokio::test]
async fn fake_controller_owner_references_skip_the_rewrite_never_the_check() {
    let dir = streams();
    let server = start(&dir);
    let owners = json!([
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "decoy", "uid": "d"},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "not-really", "uid": "fake", "controller": true}
    ]);
    for kind in ["Pod", "ReplicaSet", "Job"] {
        let mut obj = object(
            kind,
            "toms-project",
            "owned",
            json!({"containers": containers(&[("main", &sauce())])}),
        );
        obj["metadata"]["ownerReferences"] = owners.clone();
        for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
            assert_denied(&rsp, &["container \"main\"", "vault/secret-sauce"]);
        }

        let mut allowed = obj.clone();
        let pointer = format!(
            "{}/containers/0/image",
            if kind == "Pod" {
                "/spec"
            } else {
                "/spec/template/spec"
            }
        );
        *allowed.pointer_mut(&pointer).expect("image") = json!(base());
        for rsp in both(&server, &admission_review("CREATE", &allowed, None)).await {
            assert_untouched(&rsp);
        }
        // A missing stream behind the stream host cannot be pulled from anywhere: denied too.
        *allowed.pointer_mut(&pointer).expect("image") = json!(format!("{HOST}/vault/nothing:1"));
        for rsp in both(&server, &admission_review("CREATE", &allowed, None)).await {
            assert_denied(&rsp, &["imagestream vault/nothing not found"]);
        }
    }
}

/// Host names compare without letter case (DNS does), so every spelling of
/// the stream registry host is the stream host: resolved and checked, never
/// passed through as "some other registry".
#[tokio::test]
async fn stream_hosts_in_other_letter_cases_are_resolved_and_checked() {
    let dir = streams();
    let server = start(&dir);
    for host in [
        "IMAGE-REGISTRY.Openshift-Image-Registry.SVC:5000",
        "Image-Registry.openshift-image-registry.svc:5000",
        "image-registry.OPENSHIFT-IMAGE-REGISTRY.svc:5000",
    ] {
        let allowed = pod(
            "toms-project",
            "",
            &[("main", &format!("{host}/shared-images/base:9.4"))],
        );
        let rsp = server
            .review("/mutate", &admission_review("CREATE", &allowed, None))
            .await;
        assert_eq!(
            patch_of(&rsp)[0]["value"],
            example_digest("shared-base.yaml", 0),
            "{host}"
        );
        // Unpinned at /validate means the mutating webhook did not run: refused.
        let v = server
            .review("/validate", &admission_review("CREATE", &allowed, None))
            .await;
        assert_denied(&v, &["was not pinned to a digest"]);

        let forbidden = pod(
            "toms-project",
            "",
            &[("main", &format!("{host}/vault/secret-sauce:1"))],
        );
        for rsp in both(&server, &admission_review("CREATE", &forbidden, None)).await {
            assert_denied(&rsp, &["vault/secret-sauce", "may not use"]);
        }
        let missing = pod(
            "toms-project",
            "",
            &[("main", &format!("{host}/nowhere/x:1"))],
        );
        for rsp in both(&server, &admission_review("CREATE", &missing, None)).await {
            assert_denied(&rsp, &["imagestream nowhere/x not found"]);
        }
    }
    let (code, _, err) = review_cli(
        dir.path(),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: toms-project}\nspec:\n  containers:\n  - {name: main, image: \"IMAGE-REGISTRY.Openshift-Image-Registry.SVC:5000/vault/secret-sauce:1\"}\n",
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("vault/secret-sauce"), "{err}");
}

/// `STREAM@DIGEST` pins a history item of that stream. A digest that belongs
/// to another stream (one the account may not use) is not an image of this
/// one, so it is refused as unknown, never resolved to the other stream's
/// repository; with a tag written too, the digest is what the runtime pulls,
/// so the digest decides.
#[tokio::test]
async fn a_digest_of_another_stream_is_not_resolved_through_this_one() {
    let dir = streams();
    let server = start(&dir);
    let images = [
        format!("marsview@{SAUCE}"),
        format!("marsview:latest@{SAUCE}"),
        format!("{HOST}/toms-project/marsview@{SAUCE}"),
        format!("{HOST}/shared-images/base@{SAUCE}"),
        format!("{HOST}/shared-images/base:9.4@{SAUCE}"),
        format!("{HOST}/lib/one@{SAUCE}"),
    ];
    for image in &images {
        let obj = pod("toms-project", "", &[("main", image)]);
        for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
            let msg = assert_denied(&rsp, &[&format!("has no image {SAUCE}")]);
            assert!(!msg.contains(&sauce_pinned()), "{msg}");
        }
    }
    // Through its own stream, the digest is refused for the account, as the tag is.
    let obj = pod(
        "toms-project",
        "",
        &[("main", &format!("{HOST}/vault/secret-sauce@{SAUCE}"))],
    );
    for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
        assert_denied(&rsp, &["may not use imagestream vault/secret-sauce"]);
    }
}

/// A tag or digest the stream does not have (or never imported) cannot be
/// pinned; left alone, the kubelet would pull the short name from Docker Hub
/// or fail on the stream host. So it is denied, with which and how to fix it.
#[tokio::test]
async fn tags_and_digests_that_do_not_exist_are_denied_with_the_reason() {
    let dir = streams();
    let server = start(&dir);
    let zero = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let cases = [
        ("marsview:nope".to_owned(), "has no tag \"nope\""),
        // Tags are case-sensitive: LATEST is another tag.
        ("marsview:LATEST".to_owned(), "has no tag \"LATEST\""),
        ("marsview:next".to_owned(), "is not yet imported"),
        (format!("marsview@{zero}"), "has no image sha256:0000"),
        (
            format!("{HOST}/shared-images/base:9.5"),
            "has no tag \"9.5\"",
        ),
        (format!("{HOST}/shared-images/base@{zero}"), "has no image"),
        (format!("{HOST}/lib/one:2"), "has no tag \"2\""),
    ];
    for (image, why) in &cases {
        let obj = object(
            "Deployment",
            "toms-project",
            "web",
            json!({"containers": containers(&[("main", image)])}),
        );
        for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
            assert_denied(&rsp, &["container \"main\"", image, why]);
        }
        let (code, _, err) = review_cli(
            dir.path(),
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: toms-project}}\nspec:\n  containers:\n  - {{name: main, image: \"{image}\"}}\n"
            ),
        );
        assert_eq!(code, Some(1), "{image}");
        assert!(err.contains(why), "{image}: {err}");
    }
}

/// The identity that pulls is `system:serviceaccount:NS:SA` where NS is the
/// namespace of the request: a pod cannot run as another namespace's service
/// account. So a binding for `elsewhere/chef` does not help `toms-project/chef`,
/// whatever the object's own metadata or `serviceAccountName` claims.
#[tokio::test]
async fn service_accounts_of_other_namespaces_cannot_be_borrowed() {
    let dir = streams();
    let server = start(&dir);
    // The control: the bound account itself may.
    let rsp = server
        .review(
            "/mutate",
            &admission_review(
                "CREATE",
                &pod("elsewhere", "chef", &[("main", &sauce())]),
                None,
            ),
        )
        .await;
    assert_eq!(patch_of(&rsp)[0]["value"], sauce_pinned());

    for sa in [
        "chef",
        "elsewhere/chef",
        "system:serviceaccount:elsewhere:chef",
    ] {
        let obj = pod("toms-project", sa, &[("main", &sauce())]);
        for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
            assert_denied(
                &rsp,
                &[&format!(
                    "service account toms-project/{sa} may not use imagestream vault/secret-sauce"
                )],
            );
        }
    }
    // The object claims another namespace; the API server's request namespace is what
    // counts. Claiming `elsewhere` (where chef is bound) or `vault` itself (where the
    // same-namespace rule would allow) changes nothing.
    for (claimed, sa) in [("elsewhere", "chef"), ("vault", "default")] {
        let claims = pod(claimed, sa, &[("main", &sauce())]);
        let mut review = admission_review("CREATE", &claims, None);
        review["request"]["namespace"] = json!("toms-project");
        for rsp in both(&server, &review).await {
            assert_denied(
                &rsp,
                &[&format!(
                    "service account toms-project/{sa} may not use imagestream vault/secret-sauce"
                )],
            );
        }
        // A short name resolves in the request's namespace, never in the claimed one
        // (vault/secret-sauce has local lookup; toms-project has no such stream).
        let claims = pod(claimed, sa, &[("main", "secret-sauce:1")]);
        let mut review = admission_review("CREATE", &claims, None);
        review["request"]["namespace"] = json!("toms-project");
        for rsp in both(&server, &review).await {
            assert_untouched(&rsp);
        }
    }
    // The control for that: in vault itself the short name resolves.
    let rsp = server
        .review(
            "/mutate",
            &admission_review(
                "CREATE",
                &pod("vault", "", &[("main", "secret-sauce:1")]),
                None,
            ),
        )
        .await;
    assert_eq!(patch_of(&rsp)[0]["value"], sauce_pinned());
}

/// RBAC grants what the rule names: a Role with `resourceNames: [one]` bound
/// to the group `system:serviceaccounts:toms-project` lets every account of
/// toms-project use lib/one, and no account use lib/two, and nobody outside
/// the group use either.
#[tokio::test]
async fn a_group_binding_to_one_stream_grants_that_stream_and_not_its_neighbour() {
    let dir = streams();
    let server = start(&dir);
    let one = format!("{HOST}/lib/one:1");
    let two = format!("{HOST}/lib/two:1");
    for sa in ["", "builder", "anyone"] {
        let rsp = server
            .review(
                "/mutate",
                &admission_review("CREATE", &pod("toms-project", sa, &[("main", &one)]), None),
            )
            .await;
        assert_eq!(patch_of(&rsp)[0]["value"], format!("quay.io/lib/one@{ONE}"));
        let obj = pod("toms-project", sa, &[("main", &two)]);
        for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
            assert_denied(&rsp, &["may not use imagestream lib/two"]);
        }
    }
    let outsider = pod("elsewhere", "", &[("main", &one)]);
    for rsp in both(&server, &admission_review("CREATE", &outsider, None)).await {
        assert_denied(
            &rsp,
            &["service account elsewhere/default may not use imagestream lib/one"],
        );
    }
    let (code, out, err) = review_cli(
        dir.path(),
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: toms-project}}\nspec:\n  containers:\n  - {{name: main, image: \"{one}\"}}\n  - {{name: side, image: \"{two}\"}}\n"
        ),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        err.contains("container \"side\"") && !err.contains("container \"main\""),
        "{err}"
    );
}

/// `alpha.image.policy.openshift.io/resolve-names` turns on short-name
/// resolution for streams without local lookup only with the value `*`, as in
/// OpenShift: any other value must not silently turn `toolbox` (which could
/// be Docker Hub's library/toolbox) into a stream reference.
#[tokio::test]
async fn the_resolve_names_annotation_counts_only_with_star() {
    let dir = streams();
    let server = start(&dir);
    let toolbox = example_digest("toolbox.yaml", 0);
    let annotated = |value: Value, key: &str| {
        let mut obj = object(
            "Deployment",
            "toms-project",
            "d",
            json!({"containers": containers(&[("main", "toolbox:stable")])}),
        );
        obj["spec"]["template"]["metadata"]["annotations"] = json!({ key: value });
        obj
    };
    let key = "alpha.image.policy.openshift.io/resolve-names";
    let rsp = server
        .review(
            "/mutate",
            &admission_review("CREATE", &annotated(json!("*"), key), None),
        )
        .await;
    assert_eq!(patch_of(&rsp)[0]["value"], toolbox, "the control: * counts");
    for value in [
        json!("true"),
        json!(""),
        json!(" *"),
        json!("* "),
        json!("**"),
        json!("toolbox"),
        Value::Null,
    ] {
        let obj = annotated(value.clone(), key);
        for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
            assert_untouched(&rsp);
        }
    }
    for other_key in [
        "Alpha.Image.Policy.Openshift.Io/resolve-names",
        "alpha.image.policy.openshift.io/resolve-names ",
        "image.policy.openshift.io/resolve-names",
    ] {
        let obj = annotated(json!("*"), other_key);
        for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
            assert_untouched(&rsp);
        }
    }
}

/// `NAME:TAG@DIGEST`: container runtimes pull the digest and ignore the tag,
/// so the digest is what gets pinned and checked; a tag that points elsewhere
/// changes nothing.
#[tokio::test]
async fn an_image_with_both_tag_and_digest_is_decided_by_its_digest() {
    let dir = streams();
    let server = start(&dir);
    // marsview:1.0's digest, written with the `latest` tag.
    let one_o = example_digest("marsview.yaml", 2);
    let digest = one_o.split_once('@').expect("digest").1;
    let obj = pod(
        "toms-project",
        "",
        &[("main", &format!("marsview:latest@{digest}"))],
    );
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &obj, None))
        .await;
    assert_eq!(patch_of(&rsp)[0]["value"], one_o);

    let forbidden = pod(
        "toms-project",
        "",
        &[(
            "main",
            &format!("{HOST}/vault/secret-sauce:anything@{SAUCE}"),
        )],
    );
    for rsp in both(&server, &admission_review("CREATE", &forbidden, None)).await {
        assert_denied(&rsp, &["may not use imagestream vault/secret-sauce"]);
    }
    // An allowed stream's tag cannot carry a digest it does not have.
    let smuggled = pod(
        "toms-project",
        "",
        &[("main", &format!("{HOST}/lib/one:1@{TWO}"))],
    );
    for rsp in both(&server, &admission_review("CREATE", &smuggled, None)).await {
        assert_denied(&rsp, &[&format!("has no image {TWO}")]);
    }
}

/// Strings that are not valid references (upper-case repositories, white
/// space, look-alike characters) are left untouched, never "corrected" into
/// a stream reference: the API server refuses white space around an image,
/// and the runtime refuses the rest as an invalid reference format, so
/// nothing is pulled. Resolving them would invent a meaning.
#[tokio::test]
async fn letter_case_and_white_space_tricks_are_left_untouched() {
    let dir = streams();
    let server = start(&dir);
    let tricks = [
        "Marsview:latest".to_owned(),
        "MARSVIEW".to_owned(),
        " marsview:latest".to_owned(),
        "marsview:latest ".to_owned(),
        "marsview :latest".to_owned(),
        "marsview:latest\n".to_owned(),
        "\tmarsview".to_owned(),
        "marsview\u{200b}:latest".to_owned(),
        "ｍarsview:latest".to_owned(),
        format!("{HOST}/VAULT/secret-sauce:1"),
        format!("{HOST}/vault/Secret-Sauce:1"),
        format!("{HOST}/vault/secret-sauce:1 "),
        format!(" {HOST}/vault/secret-sauce:1"),
        format!("{HOST}//vault/secret-sauce:1"),
    ];
    for image in &tricks {
        let obj = pod("toms-project", "", &[("main", image)]);
        for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
            assert_untouched(&rsp);
            assert!(
                rsp["response"].get("auditAnnotations").is_none()
                    || !rsp["response"]["auditAnnotations"]
                        .to_string()
                        .contains("resolved"),
                "{image:?}: {rsp}"
            );
        }
    }
}

/// `kubectl apply --dry-run=server` must show what the real request would
/// get: the same denial or the same patch, on both endpoints.
#[tokio::test]
async fn dry_run_requests_get_the_same_decision() {
    let dir = streams();
    let server = start(&dir);
    let reviews = [
        pod("toms-project", "", &[("main", "marsview:latest")]),
        pod("toms-project", "", &[("main", &sauce())]),
        pod("toms-project", "", &[("main", "marsview:nope")]),
        pod("toms-project", "", &[("main", &base())]),
    ];
    for obj in &reviews {
        let wet = admission_review("CREATE", obj, None);
        let mut dry = wet.clone();
        dry["request"]["dryRun"] = json!(true);
        let [wet_m, wet_v] = both(&server, &wet).await;
        let [dry_m, dry_v] = both(&server, &dry).await;
        assert_eq!(wet_m, dry_m);
        assert_eq!(wet_v, dry_v);
        let (wet_code, wet_cli) = review_cli_admission(dir.path(), &wet);
        let (dry_code, dry_cli) = review_cli_admission(dir.path(), &dry);
        assert_eq!((wet_code, &wet_cli), (dry_code, &dry_cli));
        assert_eq!(wet_cli, wet_m, "review answers as /mutate does");
    }
}

/// A tag of a stream that toms-project owns may follow (`from.kind:
/// ImageStreamTag`) or pin (`ImageStreamImage`) a tag of a stream in another
/// namespace. OpenShift refuses such a spec unless its writer may use the
/// source stream; here the importer copies the source's image into the
/// toms-project stream, and the same-namespace rule then lets every
/// toms-project pod use vault's image through it. A stream in your own
/// namespace must not be a way around the access check of another's.
#[tokio::test]
async fn a_stream_tag_cannot_follow_a_stream_its_namespace_may_not_use() {
    // No registry sources anywhere: the importer runs, but only follows tags.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("vault.yaml"),
        stream("vault", "secret-sauce", "1", SAUCE),
    )
    .expect("write vault");
    std::fs::write(
        dir.path().join("thief.yaml"),
        format!(
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: thief\n  namespace: toms-project\n  generation: 1\nspec:\n  lookupPolicy:\n    local: true\n  tags:\n  - name: follow\n    from:\n      kind: ImageStreamTag\n      namespace: vault\n      name: secret-sauce:1\n    generation: 1\n  - name: pin\n    from:\n      kind: ImageStreamImage\n      namespace: vault\n      name: secret-sauce@{SAUCE}\n    generation: 1\n"
        ),
    )
    .expect("write thief");
    let server = Server::start(dir.path(), &["--audit-log", "/dev/null"]);
    // Give the importer time to act on the new tags.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let text = std::fs::read_to_string(dir.path().join("thief.yaml")).expect("read");
        if text.contains("status:") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut reached = Vec::new();
    for image in ["thief:follow", "thief:pin"] {
        let obj = pod("toms-project", "", &[("main", image)]);
        let [mutate, validate] = both(&server, &admission_review("CREATE", &obj, None)).await;
        // /validate refuses the unpinned short name anyway; /mutate is where it is decided.
        assert_eq!(validate["response"]["allowed"], false, "{validate}");
        if mutate["response"]["allowed"] != false {
            reached.push(format!("{image} -> {:?}", patch_of(&mutate)));
        }
    }
    assert!(
        reached.is_empty(),
        "toms-project/default reached vault/secret-sauce through its own stream: {reached:?}"
    );
    // The importer refused both tags, and says why in their status.
    let text = std::fs::read_to_string(dir.path().join("thief.yaml")).expect("read");
    assert_eq!(text.matches("reason: Forbidden").count(), 2, "{text}");
    assert!(
        text.contains("may not follow imagestream vault/secret-sauce"),
        "{text}"
    );
    assert!(!text.contains("items:"), "no image was copied: {text}");
}

/// Asserts that `host` is treated as a stream host: a usable stream is
/// pinned, a forbidden one denied, a missing one denied as not found, on both
/// endpoints.
async fn assert_stream_host(server: &Server, host: &str) {
    let allowed = pod(
        "toms-project",
        "",
        &[("main", &format!("{host}/shared-images/base:9.4"))],
    );
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &allowed, None))
        .await;
    assert_eq!(
        patch_of(&rsp).first().map(|p| p["value"].clone()),
        Some(json!(example_digest("shared-base.yaml", 0))),
        "{host}: {rsp}"
    );
    let v = server
        .review("/validate", &admission_review("CREATE", &allowed, None))
        .await;
    assert_denied(&v, &["was not pinned to a digest"]);
    let forbidden = pod(
        "toms-project",
        "",
        &[("main", &format!("{host}/vault/secret-sauce:1"))],
    );
    for rsp in both(server, &admission_review("CREATE", &forbidden, None)).await {
        assert_denied(&rsp, &["vault/secret-sauce", "may not use"]);
    }
    let missing = pod(
        "toms-project",
        "",
        &[("main", &format!("{host}/nowhere/x:1"))],
    );
    for rsp in both(server, &admission_review("CREATE", &missing, None)).await {
        assert_denied(&rsp, &["imagestream nowhere/x not found"]);
    }
}

/// Other spellings of a stream host that the reference grammar accepts and
/// the runtimes pull from as that very host are the stream host: resolved
/// and checked. Left alone, `…svc:05000/vault/secret-sauce:1` would be
/// pulled from port 5000 of the stream host unchecked, wherever a registry
/// answers there. The equivalences, each one the runtimes make (Go's dialer
/// and resolver under containerd, CRI-O and dockerd):
/// - a port is a number: `05000` is 5000;
/// - no port is HTTPS on 443: `host:443` is `host`;
/// - an IPv6 literal is its address (`[0:0::1]` is `[::1]`), and an
///   IPv4-mapped one is the IPv4 address Go dials instead;
/// - an IPv4 address in `inet_aton`'s legacy forms (`127.1`, `0177.0.0.1`,
///   `0x7f.0.0.1`) is that address where the node resolves through glibc.
///
/// Spellings that are *not* the stream host are left untouched, each for its
/// reason: the grammar refuses a trailing dot and dotted IPv4 in brackets
/// (the runtime refuses the image too, so nothing is pulled); another port,
/// port 80 (used only for a host configured as plain HTTP) and another DNS
/// name of the same service are other registries, which the webhook does not
/// police (SECURITY.md, "Not defended").
#[tokio::test]
async fn stream_host_spellings_the_runtimes_pull_from_are_resolved_and_checked() {
    let dir = streams();
    let config = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(
        config.path(),
        format!(
            "streamRegistryHosts:\n- {HOST}\n- registry.example.com\n- \"[::1]:5000\"\n- 127.0.0.1:5000\n"
        ),
    )
    .expect("write config");
    let config = config.path().display().to_string();
    let server = Server::start(
        dir.path(),
        &[
            "--no-import",
            "--audit-log",
            "/dev/null",
            "--config",
            &config,
        ],
    );
    for host in [
        "image-registry.openshift-image-registry.svc:05000",
        "image-registry.openshift-image-registry.svc:0000000005000",
        "Image-Registry.OpenShift-Image-Registry.SVC:05000",
        "registry.example.com:443",
        "registry.example.com:0443",
        "REGISTRY.example.com",
        "[::1]:05000",
        "[0:0:0:0:0:0:0:1]:5000",
        "[0::0001]:5000",
        "[::ffff:7f00:1]:5000",
        "[::FFFF:7F00:0001]:5000",
        "127.1:5000",
        "0177.0.0.1:5000",
        "0x7f.0.0.1:05000",
        "2130706433:5000",
    ] {
        assert_stream_host(&server, host).await;
    }
    for image in [
        // Refused by the grammar, and so by the runtime.
        "image-registry.openshift-image-registry.svc.:5000/vault/secret-sauce:1",
        "[::ffff:127.0.0.1]:5000/vault/secret-sauce:1",
        "image-registry.openshift-image-registry.svc:+5000/vault/secret-sauce:1",
        // Other registries.
        "image-registry.openshift-image-registry.svc:50000/vault/secret-sauce:1",
        "image-registry.openshift-image-registry.svc/vault/secret-sauce:1",
        "image-registry.openshift-image-registry.svc.cluster.local:5000/vault/secret-sauce:1",
        "registry.example.com:80/vault/secret-sauce:1",
        "[::2]:5000/vault/secret-sauce:1",
        "127.0.0.2:5000/vault/secret-sauce:1",
    ] {
        let obj = pod("toms-project", "", &[("main", image)]);
        for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
            assert_untouched(&rsp);
        }
    }
    // The CLI's offline review decides the same.
    let (code, _, err) = review_cli(
        dir.path(),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: toms-project}\nspec:\n  containers:\n  - {name: main, image: \"image-registry.openshift-image-registry.svc:05000/vault/secret-sauce:1\"}\n",
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("vault/secret-sauce"), "{err}");
}

/// JSON pointer of the pod spec in an object of `kind`.
fn pod_spec_pointer(kind: &str) -> &'static str {
    match kind {
        "Pod" => "/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => "/spec/template/spec",
    }
}

/// An object of `kind` whose pod runs an already pinned image and mounts a
/// ConfigMap volume and, second, an image volume `models` of `reference`.
fn with_image_volume(kind: &str, reference: &str) -> Value {
    let mut spec =
        json!({"containers": containers(&[("main", &example_digest("marsview.yaml", 0))])});
    spec["containers"][0]["volumeMounts"] = json!([{"name": "models", "mountPath": "/models"}]);
    spec["volumes"] = json!([
        {"name": "config", "configMap": {"name": "settings"}},
        {"name": "models", "image": {"reference": reference, "pullPolicy": "IfNotPresent"}}
    ]);
    object(kind, "toms-project", "w", spec)
}

/// The audit annotation `key` of an answer, parsed.
fn annotation(rsp: &Value, key: &str) -> Value {
    let text = rsp["response"]["auditAnnotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key}: {rsp}"));
    serde_json::from_str(text).expect("annotation is JSON")
}

/// The first audit record in `path` whose uid is `uid`, waited for.
async fn audit_record(path: &std::path::Path, uid: &str) -> (Value, usize) {
    let needle = format!("\"uid\":{}", json!(uid));
    for _ in 0..200 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(&needle)) {
            return (serde_json::from_str(line).expect("audit line"), line.len());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no audit record for {uid} in {}", path.display());
}

/// Since Kubernetes 1.35 image volumes are on by default: the kubelet pulls
/// `volumes[].image.reference` with the pod's pull credentials, exactly as it
/// pulls a container's image. Left unexamined, a volume would carry any
/// stream's image past the access check, and a short name would be pulled
/// from Docker Hub. So it is resolved, pinned on its own path, checked and
/// denied like a container's image, in every kind, at both endpoints, in
/// `review`, the audit record and the audit annotations.
#[tokio::test]
async fn image_volumes_are_pinned_and_checked_like_container_images() {
    let dir = streams();
    let audit_dir = tempfile::tempdir().expect("tempdir");
    let audit_log = audit_dir.path().join("audit.log");
    let server = Server::start(
        dir.path(),
        &[
            "--no-import",
            "--audit-log",
            audit_log.to_str().expect("path"),
        ],
    );
    let base_pinned = example_digest("shared-base.yaml", 0);
    for (_, _, kind, _) in KINDS {
        let path = format!("{}/volumes/1/image/reference", pod_spec_pointer(kind));

        let forbidden = with_image_volume(kind, &sauce());
        for rsp in both(&server, &admission_review("CREATE", &forbidden, None)).await {
            let msg = assert_denied(
                &rsp,
                &[
                    "volume \"models\"",
                    "service account toms-project/default may not use imagestream vault/secret-sauce",
                ],
            );
            assert!(!msg.contains("container \"main\""), "{kind}: {msg}");
            let denied = annotation(&rsp, "denied-images");
            assert_eq!(denied[0]["volume"], "models", "{kind}: {denied}");
            assert_eq!(denied[0]["image"], sauce(), "{kind}");
            assert!(denied[0].get("container").is_none(), "{kind}: {denied}");
        }

        // An allowed stream is pinned on the volume's own path, then validates.
        let allowed = with_image_volume(kind, &base());
        let review = admission_review("CREATE", &allowed, None);
        let rsp = server.review("/mutate", &review).await;
        assert_eq!(
            patch_of(&rsp),
            vec![json!({"op": "replace", "path": path, "value": base_pinned})],
            "{kind}: {rsp}"
        );
        assert_eq!(
            annotation(&rsp, "resolved-images"),
            json!([{"volume": "models", "image": base(), "resolved": base_pinned}]),
            "{kind}"
        );
        let pinned = apply(&rsp, &allowed);
        let v = server
            .review("/validate", &admission_review("CREATE", &pinned, None))
            .await;
        assert_eq!(v["response"]["allowed"], true, "{kind}: {v}");
        let again = server
            .review("/mutate", &admission_review("CREATE", &pinned, None))
            .await;
        assert!(patch_of(&again).is_empty(), "{kind}: {again}");
        // Unpinned at /validate means the mutating webhook did not run on it.
        assert_denied(
            &server.review("/validate", &review).await,
            &["volume \"models\"", "was not pinned to a digest"],
        );

        // A stream reference that cannot be pinned is refused, as for a container.
        for (reference, why) in [
            ("marsview:nope", "has no tag \"nope\""),
            (
                &*format!("{HOST}/vault/nothing:1"),
                "imagestream vault/nothing not found",
            ),
        ] {
            let obj = with_image_volume(kind, reference);
            for rsp in both(&server, &admission_review("CREATE", &obj, None)).await {
                assert_denied(&rsp, &["volume \"models\"", why]);
            }
        }
        // Not a stream reference: left as it is.
        let other = with_image_volume(kind, "quay.io/models/llama:1");
        for rsp in both(&server, &admission_review("CREATE", &other, None)).await {
            assert_untouched(&rsp);
        }
    }

    // The audit record names the volume and the path of its reference.
    let mut review = admission_review("CREATE", &with_image_volume("Deployment", &sauce()), None);
    review["request"]["uid"] = json!("volume-audit");
    server.review("/mutate", &review).await;
    let (record, _) = audit_record(&audit_log, "volume-audit").await;
    let images = record["images"].as_array().expect("images");
    assert_eq!(images.len(), 2, "{record}");
    assert_eq!(images[0]["container"], "main");
    assert_eq!(images[1]["volume"], "models", "{record}");
    assert!(images[1].get("container").is_none(), "{record}");
    assert_eq!(
        images[1]["path"],
        "/spec/template/spec/volumes/1/image/reference"
    );
    assert_eq!(images[1]["stream"], "vault/secret-sauce");
    assert_eq!(images[1]["access"], "denied");
    assert!(
        record["reason"]
            .as_str()
            .is_some_and(|r| r.contains("volume \"models\"")),
        "{record}"
    );

    // `review` pins and refuses image volumes in manifests too.
    let manifest = |reference: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: toms-project}}\nspec:\n  containers:\n  - {{name: main, image: nginx}}\n  volumes:\n  - name: models\n    image: {{reference: \"{reference}\"}}\n"
        )
    };
    let (code, out, err) = review_cli(dir.path(), &manifest(&base()));
    assert_eq!(code, Some(0), "{err}");
    let doc: Value = serde_saphyr::from_str(&out).expect("yaml out");
    assert_eq!(doc["spec"]["volumes"][0]["image"]["reference"], base_pinned);
    let (code, _, err) = review_cli(dir.path(), &manifest(&sauce()));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("volume \"models\"") && err.contains("vault/secret-sauce"),
        "{err}"
    );
}

/// On UPDATE, an image volume whose reference equals the old object's (the
/// volume of the same name) is not a new pull decision, as for a container;
/// a changed reference, a renamed volume, or a container of the same name
/// that had the image are new, and checked.
#[tokio::test]
async fn image_volume_updates_are_matched_by_volume_name() {
    let dir = streams();
    let server = start(&dir);
    // Stored before access to the sauce was withdrawn, say.
    let old = with_image_volume("Pod", &sauce());

    let mut relabelled = old.clone();
    relabelled["metadata"]["labels"] = json!({"edited": "yes"});
    for rsp in both(
        &server,
        &admission_review("UPDATE", &relabelled, Some(&old)),
    )
    .await
    {
        assert_untouched(&rsp);
    }

    let stored = with_image_volume("Pod", &example_digest("shared-base.yaml", 0));
    for rsp in both(&server, &admission_review("UPDATE", &old, Some(&stored))).await {
        assert_denied(&rsp, &["volume \"models\"", "vault/secret-sauce"]);
    }

    let mut renamed = old.clone();
    renamed["spec"]["volumes"][1]["name"] = json!("models2");
    for rsp in both(&server, &admission_review("UPDATE", &renamed, Some(&old))).await {
        assert_denied(&rsp, &["volume \"models2\"", "vault/secret-sauce"]);
    }

    // A container called `models` with that image is not the volume `models`.
    let mut as_container = pod("toms-project", "", &[("models", &sauce())]);
    as_container["spec"]["volumes"] = json!([]);
    let volume_only = {
        let mut p = with_image_volume("Pod", &sauce());
        p["spec"]["containers"] = containers(&[("main", "nginx")]);
        p
    };
    for rsp in both(
        &server,
        &admission_review("UPDATE", &volume_only, Some(&as_container)),
    )
    .await
    {
        assert_denied(&rsp, &["volume \"models\""]);
    }
}

/// The namespace whose streams a short name resolves in, and whose service
/// account pulls, is the API server's `request.namespace`. A review of a
/// namespaced kind without it is not one the API server sends: it is refused,
/// never decided by the object's own `metadata.namespace`, which the
/// requester wrote.
#[tokio::test]
async fn a_review_without_request_namespace_is_refused() {
    let dir = streams();
    let server = start(&dir);
    // In vault, `secret-sauce:1` resolves (local lookup) and its default account may use it.
    let claims = pod("vault", "", &[("main", "secret-sauce:1")]);
    for kind in ["Pod", "Deployment", "CronJob"] {
        let obj = if kind == "Pod" {
            claims.clone()
        } else {
            object(
                kind,
                "vault",
                "w",
                json!({"containers": containers(&[("main", "secret-sauce:1")])}),
            )
        };
        for namespace in [None, Some(json!("")), Some(Value::Null)] {
            let mut review = admission_review("CREATE", &obj, None);
            let request = review["request"].as_object_mut().expect("request");
            match &namespace {
                None => {
                    request.remove("namespace");
                }
                Some(v) => {
                    request.insert("namespace".into(), v.clone());
                }
            }
            for endpoint in ["/mutate", "/validate"] {
                let (status, body) = server
                    .post(endpoint, serde_json::to_vec(&review).expect("json"))
                    .await;
                let text = String::from_utf8_lossy(&body);
                assert_eq!(status, 400, "{kind} {namespace:?} {endpoint}: {text}");
                assert!(text.contains("request.namespace"), "{text}");
            }
            let (code, out, err) = review_cli(dir.path(), &review.to_string());
            assert_eq!(code, Some(2), "{out} {err}");
            assert!(err.contains("request.namespace"), "{err}");
        }
    }
    // The control: with the request's namespace it is decided there.
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &claims, None))
        .await;
    assert_eq!(patch_of(&rsp)[0]["value"], sauce_pinned());
    // Kinds the webhook does not handle are still allowed untouched.
    let mut review = admission_review("CREATE", &claims, None);
    review["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Namespace"});
    review["request"]
        .as_object_mut()
        .expect("request")
        .remove("namespace");
    assert_untouched(&server.review("/mutate", &review).await);
}

/// A review of thousands of forbidden images is denied with a message that
/// names the first few in full and counts the rest: the answer, the audit
/// record and the log line stay bounded whatever the request holds (the
/// 18 MB answers of a 3 MB review, sixteen at a time, took the process far
/// past its memory limit). Names the request chooses cannot break the log
/// line in two.
#[tokio::test]
async fn a_denial_of_many_images_is_bounded() {
    let dir = streams();
    let audit_dir = tempfile::tempdir().expect("tempdir");
    let audit_log = audit_dir.path().join("audit.log");
    let server = Server::start(
        dir.path(),
        &[
            "--no-import",
            "--audit-log",
            audit_log.to_str().expect("path"),
        ],
    );
    let n = 20_000;
    let names: Vec<String> = (0..n)
        .map(|i| {
            if i == 0 {
                "c0\nFORGED log line".to_owned()
            } else {
                format!("c{i}")
            }
        })
        .collect();
    let images: Vec<(&str, String)> = names.iter().map(|n| (n.as_str(), sauce())).collect();
    let images: Vec<(&str, &str)> = images.iter().map(|(n, i)| (*n, i.as_str())).collect();
    let mut review = admission_review("CREATE", &pod("toms-project", "", &images), None);
    review["request"]["uid"] = json!("many-denials");
    let body = serde_json::to_vec(&review).expect("json");
    assert!(body.len() > 1_500_000, "{}", body.len());

    for endpoint in ["/mutate", "/validate"] {
        let (status, answer) = server.post(endpoint, body.clone()).await;
        assert_eq!(status, 200);
        assert!(
            answer.len() < 64 * 1024,
            "{endpoint}: {} bytes",
            answer.len()
        );
        let rsp: Value = serde_json::from_slice(&answer).expect("json");
        let msg = assert_denied(
            &rsp,
            &[
                "container \"c0\\nFORGED log line\"",
                "container \"c7\"",
                &format!("; …and {} more", n - 8),
            ],
        );
        assert!(!msg.contains("container \"c8\""), "{msg}");
        let denied = annotation(&rsp, "denied-images");
        let denied = denied.as_array().expect("array");
        let listed = denied.len() - 1;
        assert_eq!(
            denied[listed]["truncated"].as_u64(),
            Some((n - listed) as u64)
        );
    }

    // One audit record, well under the size of the request, that still counts every image.
    let (record, line) = audit_record(&audit_log, "many-denials").await;
    assert!(
        line < body.len() / 2,
        "audit line {line} bytes for a {} byte review",
        body.len()
    );
    let listed = record["images"].as_array().expect("images").len();
    assert!(listed > 100, "{listed}");
    assert_eq!(
        record["imagesOmitted"].as_u64(),
        Some((n - listed) as u64),
        "{}",
        &record.to_string()[..200]
    );
    assert!(record["reason"].as_str().expect("reason").len() < 16 * 1024);

    // One log line per denial, bounded, with the forged line break escaped.
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        if let Ok(line) = server
            .log
            .recv_timeout(std::time::Duration::from_millis(100))
        {
            lines.push(line);
        }
    }
    let denials: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("many-denials"))
        .collect();
    assert_eq!(denials.len(), 2, "one per endpoint: {lines:?}");
    for line in denials {
        assert!(line.len() < 4096, "{} bytes", line.len());
    }
    assert!(
        !lines.iter().any(|l| l.starts_with("FORGED")),
        "a name broke the log line: {lines:?}"
    );

    // One image whose reason quotes a service account name of 200,000 bytes.
    let sa = "s".repeat(200_000);
    let review = admission_review(
        "CREATE",
        &pod("toms-project", &sa, &[("main", &sauce())]),
        None,
    );
    let (status, answer) = server
        .post("/mutate", serde_json::to_vec(&review).expect("json"))
        .await;
    assert_eq!(status, 200);
    assert!(answer.len() < 32 * 1024, "{} bytes", answer.len());
    let rsp: Value = serde_json::from_slice(&answer).expect("json");
    assert_denied(&rsp, &["container \"main\"", "…"]);
}
