//! Service-account access to streams, end to end: the webhook's denials, the
//! audit log, `check-access` and `review`.

use std::process::Command;

use serde_json::{Value, json};

use imagestream_core::admission::audit_record::AuditRecord;

use crate::common::*;

const HOST: &str = "image-registry.openshift-image-registry.svc:5000";
const SAUCE: &str = "sha256:5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// The examples plus a `vault/secret-sauce` stream nobody outside `vault` was granted,
/// and a `vault/recipes` stream that one service account of toms-project may use.
fn streams() -> tempfile::TempDir {
    let dir = example_streams();
    let stream = |name: &str| {
        format!(
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {{name: {name}, namespace: vault}}\nspec: {{lookupPolicy: {{local: true}}}}\nstatus:\n  tags:\n  - tag: \"1\"\n    items:\n    - {{created: \"2026-11-26T00:00:00Z\", dockerImageReference: \"quay.io/vault/{name}@{SAUCE}\", image: \"{SAUCE}\", generation: 1}}\n"
        )
    };
    let rbac = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: recipe-reader, namespace: vault}
rules:
- apiGroups: [image.openshift.io]
  resources: [imagestreams/layers]
  resourceNames: [recipes]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: chef-reads-recipes, namespace: vault}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: recipe-reader}
subjects:
- {kind: ServiceAccount, name: chef, namespace: toms-project}
";
    std::fs::write(
        dir.path().join("vault.yaml"),
        format!(
            "{}---\n{}---\n{rbac}",
            stream("secret-sauce"),
            stream("recipes")
        ),
    )
    .expect("write");
    dir
}

fn pod(sa: &str, images: &[(&str, &str)]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .map(|(n, i)| json!({"name": n, "image": i}))
        .collect();
    let mut spec = json!({"containers": containers});
    if !sa.is_empty() {
        spec["serviceAccountName"] = json!(sa);
    }
    object("Pod", "toms-project", "p", spec)
}

fn message(rsp: &Value) -> String {
    assert_eq!(rsp["response"]["allowed"], false, "{rsp}");
    assert_eq!(rsp["response"]["status"]["code"], 403);
    rsp["response"]["status"]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

#[tokio::test]
async fn cross_namespace_use_needs_the_puller_permission() {
    let dir = streams();
    let audit = tempfile::tempdir().expect("tempdir");
    let audit_path = audit.path().join("audit.log");
    let server = Server::start(
        dir.path(),
        &["--audit-log", audit_path.to_str().expect("path")],
    );
    let sauce = format!("{HOST}/vault/secret-sauce:1");
    let recipes = format!("{HOST}/vault/recipes:1");
    let base = format!("{HOST}/shared-images/base:9.4");

    // Two offending containers: both are named, with the stream, the account and the fix.
    let denied = pod(
        "",
        &[
            ("main", "marsview"),
            ("sauce", &sauce),
            ("sidecar", &format!("{HOST}/vault/recipes@{SAUCE}")),
        ],
    );
    for endpoint in ["/mutate", "/validate"] {
        let rsp = server
            .review(endpoint, &admission_review("CREATE", &denied, None))
            .await;
        let msg = message(&rsp);
        for want in [
            "container \"sauce\"",
            &sauce,
            "container \"sidecar\"",
            "service account toms-project/default may not use imagestream vault/secret-sauce",
            "get on imagestreams/layers (image.openshift.io) in namespace vault",
            "kubectl create rolebinding toms-project-default-pulls-secret-sauce --clusterrole=system:image-puller --serviceaccount=toms-project:default -n vault",
        ] {
            assert!(msg.contains(want), "{endpoint}: missing {want:?} in {msg}");
        }
        // /validate sees the unmutated object: there the short name is (rightly) refused too.
        if endpoint == "/mutate" {
            assert!(
                !msg.contains("container \"main\""),
                "the same-namespace image is fine: {msg}"
            );
        }
        assert!(
            rsp["response"].get("patch").is_none(),
            "a denied object gets no patch"
        );
        let denied_images: Value = serde_json::from_str(
            rsp["response"]["auditAnnotations"]["denied-images"]
                .as_str()
                .expect("annotation"),
        )
        .expect("json");
        let want = if endpoint == "/mutate" { 2 } else { 3 };
        assert_eq!(
            denied_images.as_array().map(Vec::len),
            Some(want),
            "{endpoint}"
        );
    }

    // resourceNames grant one stream to one account, not the other stream, not another account.
    let rsp = server
        .review(
            "/mutate",
            &admission_review("CREATE", &pod("chef", &[("r", &recipes)]), None),
        )
        .await;
    assert_eq!(
        patch_of(&rsp)[0]["value"],
        format!("quay.io/vault/recipes@{SAUCE}")
    );
    let rsp = server
        .review(
            "/mutate",
            &admission_review("CREATE", &pod("chef", &[("s", &sauce)]), None),
        )
        .await;
    assert!(message(&rsp).contains("vault/secret-sauce"));
    let rsp = server
        .review(
            "/mutate",
            &admission_review("CREATE", &pod("waiter", &[("r", &recipes)]), None),
        )
        .await;
    assert!(message(&rsp).contains("service account toms-project/waiter"));

    // A group binding (system:serviceaccounts:toms-project) grants every account of the namespace.
    let rsp = server
        .review(
            "/mutate",
            &admission_review("CREATE", &pod("anyone", &[("b", &base)]), None),
        )
        .await;
    assert_eq!(rsp["response"]["allowed"], true);

    // Claiming a controller owner skips the rewrite, never the check.
    let mut owned = pod("", &[("sauce", &sauce)]);
    owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": "u", "controller": true}]);
    for endpoint in ["/mutate", "/validate"] {
        let rsp = server
            .review(endpoint, &admission_review("CREATE", &owned, None))
            .await;
        assert!(message(&rsp).contains("vault/secret-sauce"), "{endpoint}");
    }
    // Ephemeral containers are checked too.
    let old = pod("", &[("main", "marsview")]);
    let mut new = old.clone();
    new["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": sauce}]);
    let mut review = admission_review("UPDATE", &new, Some(&old));
    review["request"]["subResource"] = json!("ephemeralcontainers");
    let rsp = server.review("/validate", &review).await;
    assert!(message(&rsp).contains("container \"debug\""));

    let (_, metrics) = server.admin_get("/metrics").await;
    for result in ["denied", "allowed"] {
        let series = format!(
            r#"imagestream_webhook_access_checks_total{{result="{result}",source="local"}}"#
        );
        assert!(metric(&metrics, &series) >= 1.0, "{series}: {metrics}");
    }

    // The audit log has one typed line per decision, with the requester and the account.
    let records = read_audit(&audit_path, 9);
    let first = &records[0];
    assert_eq!(first.endpoint, "mutate");
    assert_eq!(first.decision, "deny");
    assert_eq!(first.uid, "uid-create-pods");
    assert_eq!(
        (
            first.kind.as_str(),
            first.namespace.as_str(),
            first.name.as_str()
        ),
        ("Pod", "toms-project", "p")
    );
    assert_eq!(first.user, "alice");
    assert_eq!(first.service_account, "toms-project/default");
    assert_eq!(first.operation, "CREATE");
    assert!(!first.dry_run);
    assert!(
        first
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("vault/secret-sauce")
    );
    let access: Vec<(&str, &str)> = first
        .images
        .iter()
        .map(|i| {
            (
                i.container.as_deref().unwrap_or_default(),
                i.access.as_str(),
            )
        })
        .collect();
    assert_eq!(
        access,
        vec![
            ("main", "allowed"),
            ("sauce", "denied"),
            ("sidecar", "denied")
        ]
    );
    assert_eq!(
        first.images[1].stream.as_deref(),
        Some("vault/secret-sauce")
    );
    assert_eq!(first.images[1].tag.as_deref(), Some("1"));
    assert_eq!(first.images[1].path, "/spec/containers/1/image");
    assert_eq!(records[1].endpoint, "validate");
    let mutated = &records[2];
    assert_eq!(mutated.decision, "mutate");
    assert_eq!(mutated.service_account, "toms-project/chef");
    assert_eq!(
        mutated.images[0].resolved.as_deref(),
        Some(format!("quay.io/vault/recipes@{SAUCE}").as_str())
    );
    assert_eq!(mutated.images[0].access, "allowed");
    assert!(mutated.reason.is_none());
    let log = std::fs::read_to_string(&audit_path).expect("audit");
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "one JSON object per line"
    );
}

fn read_audit(path: &std::path::Path, at_least: usize) -> Vec<AuditRecord> {
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let records: Vec<AuditRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line parses"))
            .collect();
        if records.len() >= at_least {
            return records;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} audit records",
            records.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[tokio::test]
async fn audit_records_allow_and_untouched_kinds_on_stdout() {
    let dir = streams();
    let audit = tempfile::tempdir().expect("tempdir");
    let path = audit.path().join("a.log");
    let server = Server::start(dir.path(), &["--audit-log", path.to_str().expect("path")]);
    let mut review = admission_review("CREATE", &pod("", &[("main", "nginx:1.27")]), None);
    review["request"]["dryRun"] = json!(true);
    server.review("/mutate", &review).await;
    let mut other = admission_review("CREATE", &pod("", &[]), None);
    other["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "ConfigMap"});
    server.review("/validate", &other).await;
    let records = read_audit(&path, 2);
    assert_eq!(records[0].decision, "allow");
    assert!(records[0].dry_run);
    assert_eq!(records[0].images[0].access, "not-a-stream");
    assert!(records[0].images[0].stream.is_none() && records[0].images[0].resolved.is_none());
    assert_eq!(
        (records[1].kind.as_str(), records[1].decision.as_str()),
        ("ConfigMap", "allow")
    );
    assert!(records[1].images.is_empty());
}

#[tokio::test]
async fn same_namespace_access_rbac_restricts_a_namespace_to_chosen_accounts() {
    let dir = streams();
    let config = dir.path().join("config.yaml.conf");
    std::fs::write(&config, "sameNamespaceAccess: rbac\n").expect("config");
    let server = Server::start(dir.path(), &["--config", config.to_str().expect("path")]);
    let rsp = server
        .review(
            "/mutate",
            &admission_review("CREATE", &pod("", &[("main", "marsview")]), None),
        )
        .await;
    assert!(message(&rsp).contains(
        "service account toms-project/default may not use imagestream toms-project/marsview"
    ));
}

fn check_access(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .arg("check-access")
        .arg("--streams-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run check-access");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_access_says_yes_or_no_and_why() {
    let dir = streams();
    let (code, out, _) = check_access(
        dir.path(),
        &["vault/recipes", "--service-account", "toms-project/chef"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("yes: service account toms-project/chef may use imagestream vault/recipes"),
        "{out}"
    );
    assert!(
        out.contains("RoleBinding vault/chef-reads-recipes")
            && out.contains("Role vault/recipe-reader"),
        "{out}"
    );

    let (code, out, _) = check_access(
        dir.path(),
        &[
            "vault/secret-sauce",
            "--service-account",
            "toms-project/chef",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with(
            "no: service account toms-project/chef may not use imagestream vault/secret-sauce"
        ),
        "{out}"
    );
    assert!(out.contains("kubectl create rolebinding"), "{out}");

    let (code, out, _) = check_access(
        dir.path(),
        &["shared-images/base", "--service-account", "toms-project/x"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("RoleBinding shared-images/toms-project-pulls-shared-images"),
        "{out}"
    );

    let (code, out, _) = check_access(
        dir.path(),
        &[
            "marsview",
            "-n",
            "toms-project",
            "--service-account",
            "toms-project/x",
        ],
    );
    assert_eq!(code, Some(0));
    assert!(out.contains("same namespace"), "{out}");

    for bad in [
        ["nope", "--service-account", "a/b"],
        ["a/b", "--service-account", "b"],
        ["a/B", "--service-account", "a/b"],
    ] {
        let (code, _, err) = check_access(dir.path(), &bad);
        assert_eq!(code, Some(2), "{bad:?}");
        assert!(err.starts_with("error: "), "{err}");
    }
}

#[test]
fn review_applies_the_same_access_decision_and_audits() {
    let dir = streams();
    let audit = tempfile::tempdir().expect("tempdir");
    let path = audit.path().join("review.log");
    let manifest = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: toms-project}}\nspec:\n  selector: {{matchLabels: {{a: b}}}}\n  template:\n    metadata: {{labels: {{a: b}}}}\n    spec:\n      containers:\n      - {{name: main, image: \"{HOST}/vault/secret-sauce:1\"}}\n"
    );
    let file = audit.path().join("web.yaml");
    std::fs::write(&file, manifest).expect("write");
    let out = Command::new(BIN)
        .args(["review", "--streams-dir"])
        .arg(dir.path())
        .arg("-f")
        .arg(&file)
        .arg("--audit-log")
        .arg(&path)
        .output()
        .expect("review");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("may not use imagestream vault/secret-sauce"),
        "{stderr}"
    );
    let records = read_audit(&path, 1);
    assert_eq!(records[0].decision, "deny");
    assert_eq!(records[0].kind, "Deployment");
    assert_eq!(
        records[0].images[0].path,
        "/spec/template/spec/containers/0/image"
    );
}

/// In directory mode an aggregated ClusterRole has exactly what the
/// aggregation controller would write into it: the rules of the ClusterRoles
/// its selectors match. Rules written into it by hand (a copy of
/// `system:image-puller`'s, say) grant nothing, in the webhook, in
/// `check-access` and in `review`; a role its selector matches does.
#[tokio::test]
async fn aggregated_cluster_roles_hold_only_what_they_aggregate() {
    let dir = streams();
    let rbac = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: vault-pullers}
aggregationRule:
  clusterRoleSelectors:
  - matchExpressions: [{key: example.com/aggregate-to-vault-pullers, operator: In, values: [\"true\"]}]
rules:
- apiGroups: [image.openshift.io]
  resources: [imagestreams/layers]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: toms-project-vault-pullers, namespace: vault}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: vault-pullers}
subjects:
- {kind: Group, name: \"system:serviceaccounts:toms-project\"}
";
    std::fs::write(dir.path().join("aggregate.yaml"), rbac).expect("write");
    let sauce = format!("{HOST}/vault/secret-sauce:1");

    // The hand-written rule is all the role has: nobody may pull.
    let (code, out, _) = check_access(
        dir.path(),
        &[
            "vault/secret-sauce",
            "--service-account",
            "toms-project/default",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.starts_with("no: "), "{out}");
    let server = Server::start(dir.path(), &["--no-import", "--audit-log", "/dev/null"]);
    for path in ["/mutate", "/validate"] {
        let rsp = server
            .review(
                path,
                &admission_review("CREATE", &pod("", &[("main", &sauce)]), None),
            )
            .await;
        assert!(
            message(&rsp).contains("may not use imagestream vault/secret-sauce"),
            "{path}: {rsp}"
        );
    }
    let manifest = dir.path().join("pod.yaml.in");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: toms-project}}\nspec:\n  containers:\n  - {{name: main, image: \"{sauce}\"}}\n"
        ),
    )
    .expect("write pod");
    let review = Command::new(BIN)
        .args(["review", "--streams-dir"])
        .arg(dir.path())
        .arg("-f")
        .arg(&manifest)
        .output()
        .expect("review");
    assert_eq!(review.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&review.stderr)
            .contains("may not use imagestream vault/secret-sauce")
    );

    // A ClusterRole the selector matches brings its rules in.
    std::fs::write(
        dir.path().join("part.yaml"),
        "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: vault-pullers-part
  labels: {example.com/aggregate-to-vault-pullers: \"true\"}
rules:
- apiGroups: [image.openshift.io]
  resources: [imagestreams/layers]
  verbs: [get]
",
    )
    .expect("write part");
    let (code, out, _) = check_access(
        dir.path(),
        &[
            "vault/secret-sauce",
            "--service-account",
            "toms-project/default",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("RoleBinding vault/toms-project-vault-pullers -> ClusterRole vault-pullers"),
        "{out}"
    );
}
