//! Image-change triggers against a fake API server at the wire: `serve` in
//! cluster mode follows annotated workloads and patches them with a JSON patch
//! that tests the old image before replacing it. `cargo test trigger` runs these.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use imagestream_core::admission::audit_record::AuditRecord;

use crate::common::*;
use crate::fakeapi::*;

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn pinned(ns: &str, name: &str, n: u8) -> String {
    format!("quay.io/{ns}/{name}@{}", digest(n))
}

fn stream(ns: &str, name: &str, tags: &[(&str, Option<u8>)]) -> Value {
    let spec_tags: Vec<Value> = tags
        .iter()
        .map(|(t, _)| json!({"name": t, "from": {"kind": "DockerImage", "name": format!("quay.io/{ns}/{name}:{t}")}}))
        .collect();
    let status_tags: Vec<Value> = tags
        .iter()
        .filter_map(|(t, d)| {
            d.map(|d| {
                json!({"tag": t, "items": [{"created": "2026-11-26T17:00:00Z",
                    "dockerImageReference": pinned(ns, name, d), "image": digest(d), "generation": 1}]})
            })
        })
        .collect();
    json!({"metadata": {"name": name, "namespace": ns}, "spec": {"tags": spec_tags}, "status": {"tags": status_tags}})
}

fn triggers(list: &[(&str, Option<&str>, &str, bool)]) -> String {
    let v: Vec<Value> = list
        .iter()
        .map(|(from, ns, path, paused)| {
            let mut from = json!({"kind": "ImageStreamTag", "name": from});
            if let Some(ns) = ns {
                from["namespace"] = json!(ns);
            }
            json!({"from": from, "fieldPath": path, "paused": paused})
        })
        .collect();
    Value::Array(v).to_string()
}

fn workload(resource: &str, ns: &str, name: &str, annotation: &str, sa: Option<&str>) -> Value {
    let mut pod = json!({
        "initContainers": [{"name": "migrate", "image": "quay.io/x/migrate:1"}],
        "containers": [{"name": "web", "image": "quay.io/x/web:1"}, {"name": "side", "image": "quay.io/x/side:1"}]
    });
    if let Some(sa) = sa {
        pod["serviceAccountName"] = json!(sa);
    }
    let template = json!({"metadata": {"labels": {"app": name}}, "spec": pod});
    let spec = if resource == CRONJOBS {
        json!({"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}})
    } else {
        json!({"selector": {"matchLabels": {"app": name}}, "template": template})
    };
    json!({"metadata": {"name": name, "namespace": ns, "annotations": {"image.openshift.io/triggers": annotation}}, "spec": spec})
}

fn image_at(api: &FakeApi, resource: &str, ns: &str, name: &str, pointer: &str) -> String {
    api.get(resource, ns, name)
        .and_then(|o| {
            o.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn patches(api: &FakeApi, path_end: &str) -> Vec<crate::fakeapi::Recorded> {
    api.requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(path_end))
        .collect()
}

/// The patches the API server applied (a patch refused by its `test` after a late watch
/// event is a retry, not a second rollout).
fn applied_patches(api: &FakeApi, path_end: &str) -> Vec<crate::fakeapi::Recorded> {
    patches(api, path_end)
        .into_iter()
        .filter(|r| (200..300).contains(&r.status))
        .collect()
}

fn events(api: &FakeApi, reason: &str) -> Vec<Value> {
    api.all(EVENTS)
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .collect()
}

const WEB: &str = r#"spec.template.spec.containers[?(@.name=="web")].image"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_tag_moves_patch_exactly_the_followed_fields() {
    let api = FakeApi::start().await;
    api.put_stream(stream(
        "team",
        "app",
        &[("latest", Some(1)), ("never", None)],
    ));
    api.put(
        DEPLOYMENTS,
        workload(
            DEPLOYMENTS,
            "team",
            "web",
            &triggers(&[("app:latest", None, WEB, false)]),
            None,
        ),
    );
    api.put(
        STATEFULSETS,
        workload(
            STATEFULSETS,
            "team",
            "db",
            &triggers(&[(
                "app:latest",
                None,
                "spec.template.spec.initContainers[0].image",
                false,
            )]),
            None,
        ),
    );
    api.put(
        DAEMONSETS,
        workload(
            DAEMONSETS,
            "team",
            "agent",
            &triggers(&[(
                "app:latest",
                None,
                "spec.template.spec.containers[1].image",
                false,
            )]),
            None,
        ),
    );
    api.put(
        CRONJOBS,
        workload(
            CRONJOBS,
            "team",
            "nightly",
            &triggers(&[(
                "app:latest",
                None,
                r#"spec.jobTemplate.spec.template.spec.containers[?(@.name=="web")].image"#,
                false,
            )]),
            None,
        ),
    );
    api.put(
        DEPLOYMENTS,
        workload(
            DEPLOYMENTS,
            "team",
            "paused",
            &triggers(&[("app:latest", None, WEB, true)]),
            None,
        ),
    );
    api.put(
        DEPLOYMENTS,
        workload(
            DEPLOYMENTS,
            "team",
            "waiting",
            &triggers(&[("app:never", None, WEB, false)]),
            None,
        ),
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let audit = tmp.path().join("audit.log");
    let server = Server::start_cluster(
        &api.kubeconfig(tmp.path()),
        &["--audit-log", audit.to_str().expect("path")],
    );

    let p1 = pinned("team", "app", 1);
    let a = api.clone();
    let p = p1.clone();
    eventually("every kind patched", move || {
        image_at(
            &a,
            DEPLOYMENTS,
            "team",
            "web",
            "/spec/template/spec/containers/0/image",
        ) == p
            && image_at(
                &a,
                STATEFULSETS,
                "team",
                "db",
                "/spec/template/spec/initContainers/0/image",
            ) == p
            && image_at(
                &a,
                DAEMONSETS,
                "team",
                "agent",
                "/spec/template/spec/containers/1/image",
            ) == p
            && image_at(
                &a,
                CRONJOBS,
                "team",
                "nightly",
                "/spec/jobTemplate/spec/template/spec/containers/0/image",
            ) == p
    })
    .await;
    // Only the followed fields moved.
    assert_eq!(
        image_at(
            &api,
            DEPLOYMENTS,
            "team",
            "web",
            "/spec/template/spec/containers/1/image"
        ),
        "quay.io/x/side:1"
    );
    assert_eq!(
        image_at(
            &api,
            DEPLOYMENTS,
            "team",
            "web",
            "/spec/template/spec/initContainers/0/image"
        ),
        "quay.io/x/migrate:1"
    );
    assert_eq!(
        image_at(
            &api,
            STATEFULSETS,
            "team",
            "db",
            "/spec/template/spec/containers/0/image"
        ),
        "quay.io/x/web:1"
    );
    // Paused and never-imported triggers are skipped.
    assert_eq!(
        image_at(
            &api,
            DEPLOYMENTS,
            "team",
            "paused",
            "/spec/template/spec/containers/0/image"
        ),
        "quay.io/x/web:1"
    );
    assert_eq!(
        image_at(
            &api,
            DEPLOYMENTS,
            "team",
            "waiting",
            "/spec/template/spec/containers/0/image"
        ),
        "quay.io/x/web:1"
    );

    // The patch tests the old value before replacing it.
    let web = applied_patches(&api, "/deployments/web");
    assert_eq!(web.len(), 1, "{web:?}");
    assert_eq!(web[0].content_type, "application/json-patch+json");
    assert_eq!(
        web[0].body,
        json!([{"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "quay.io/x/web:1"},
               {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": p1}])
    );

    // The tag moves: everything follows; nothing is patched twice for one move.
    api.put_stream(stream(
        "team",
        "app",
        &[("latest", Some(2)), ("never", None)],
    ));
    let p2 = pinned("team", "app", 2);
    let a = api.clone();
    let p = p2.clone();
    eventually("the move followed", move || {
        image_at(
            &a,
            DEPLOYMENTS,
            "team",
            "web",
            "/spec/template/spec/containers/0/image",
        ) == p
            && image_at(
                &a,
                CRONJOBS,
                "team",
                "nightly",
                "/spec/jobTemplate/spec/template/spec/containers/0/image",
            ) == p
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        applied_patches(&api, "/deployments/web").len(),
        2,
        "already-current workloads are left alone: {:?}",
        patches(&api, "/deployments/web")
    );
    assert!(patches(&api, "/deployments/paused").is_empty());

    let (_, metrics) = server.admin_get("/metrics").await;
    assert!(
        metrics.contains(r#"imagestream_webhook_triggers_total{result="fired",reason=""}"#),
        "{metrics}"
    );
    let text = std::fs::read_to_string(&audit).unwrap_or_default();
    let records: Vec<AuditRecord> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let fired: Vec<_> = records
        .iter()
        .filter(|r| r.decision == "trigger" && r.name == "web")
        .collect();
    assert_eq!(fired.len(), 2, "{text}");
    assert_eq!(fired[1].images[0].resolved.as_deref(), Some(p2.as_str()));
    assert_eq!(fired[1].images[0].requested, p1);
    assert_eq!(fired[1].images[0].stream.as_deref(), Some("team/app"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_problems_are_events_not_patches() {
    let api = FakeApi::start().await;
    api.put_stream(stream("team", "app", &[("latest", Some(1))]));
    api.put_stream(stream("shared", "base", &[("9", Some(5))]));
    api.allow("system:serviceaccount:team:builder", "shared", "base");
    api.put(
        DEPLOYMENTS,
        workload(DEPLOYMENTS, "team", "broken", "[not json", None),
    );
    api.put(
        DEPLOYMENTS,
        workload(
            DEPLOYMENTS,
            "team",
            "unknown",
            &triggers(&[(
                "app:latest",
                None,
                r#"spec.template.spec.containers[?(@.name=="nope")].image"#,
                false,
            )]),
            None,
        ),
    );
    api.put(
        DEPLOYMENTS,
        workload(
            DEPLOYMENTS,
            "team",
            "nowhere",
            &triggers(&[(
                "app:latest",
                None,
                "spec.template.spec.containers[7].image",
                false,
            )]),
            None,
        ),
    );
    api.put(
        DEPLOYMENTS,
        workload(
            DEPLOYMENTS,
            "team",
            "forbidden",
            &triggers(&[("base:9", Some("shared"), WEB, false)]),
            None,
        ),
    );
    api.put(
        DEPLOYMENTS,
        workload(
            DEPLOYMENTS,
            "team",
            "granted",
            &triggers(&[("base:9", Some("shared"), WEB, false)]),
            Some("builder"),
        ),
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_cluster(&api.kubeconfig(tmp.path()), &[]);

    let a = api.clone();
    eventually("the allowed cross-namespace trigger fired", move || {
        image_at(
            &a,
            DEPLOYMENTS,
            "team",
            "granted",
            "/spec/template/spec/containers/0/image",
        ) == pinned("shared", "base", 5)
    })
    .await;
    let a = api.clone();
    eventually("events recorded", move || {
        events(&a, "InvalidTrigger").len() >= 3 && !events(&a, "TriggerForbidden").is_empty()
    })
    .await;
    for name in ["broken", "unknown", "nowhere", "forbidden"] {
        assert!(
            patches(&api, &format!("/deployments/{name}")).is_empty(),
            "{name} must not be patched"
        );
    }
    let invalid = events(&api, "InvalidTrigger");
    let by = |name: &str| {
        invalid
            .iter()
            .find(|e| e["involvedObject"]["name"] == name)
            .cloned()
            .expect(name)
    };
    assert!(
        by("broken")["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not a JSON array")
    );
    assert!(
        by("unknown")["message"]
            .as_str()
            .unwrap_or_default()
            .contains("\"nope\"")
    );
    assert!(
        by("nowhere")["message"]
            .as_str()
            .unwrap_or_default()
            .contains("points nowhere")
    );
    let e = by("broken");
    assert_eq!(e["type"], "Warning");
    assert_eq!(e["involvedObject"]["kind"], "Deployment");
    assert_eq!(e["involvedObject"]["namespace"], "team");
    assert_eq!(e["source"]["component"], "imagestream-webhook");
    let forbidden = events(&api, "TriggerForbidden");
    let msg = forbidden[0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("service account team/default may not use imagestream shared/base"),
        "{msg}"
    );

    // An unchanged problem is reported once, not on every pass.
    api.put_stream(stream("team", "app", &[("latest", Some(2))]));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        events(&api, "InvalidTrigger").len(),
        3,
        "no duplicate events"
    );
    let (_, metrics) = server.admin_get("/metrics").await;
    assert!(
        metrics.contains(r#"triggers_total{result="failed",reason="InvalidTrigger"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"triggers_total{result="failed",reason="TriggerForbidden"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_conflicts_reread_and_restarts_converge() {
    let api = FakeApi::start().await;
    api.put_stream(stream("team", "app", &[("latest", Some(1))]));
    api.put(
        DEPLOYMENTS,
        workload(
            DEPLOYMENTS,
            "team",
            "web",
            &triggers(&[("app:latest", None, WEB, false)]),
            None,
        ),
    );
    // Someone edits the image between the controller's read and its patch.
    api.edit_before_next_patch(
        DEPLOYMENTS,
        "team",
        "web",
        "/spec/template/spec/containers/0/image",
        json!("quay.io/x/web:hotfix"),
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(tmp.path());
    let server = Server::start_cluster(&kubeconfig, &[]);
    let p1 = pinned("team", "app", 1);
    let a = api.clone();
    let p = p1.clone();
    eventually("converged after the conflict", move || {
        image_at(
            &a,
            DEPLOYMENTS,
            "team",
            "web",
            "/spec/template/spec/containers/0/image",
        ) == p
    })
    .await;
    let sent = patches(&api, "/deployments/web");
    // A late watch event may still show the edited object and cost one more refused attempt; what
    // matters is that the first patch was refused by its test and the next one tested the edit.
    assert!(
        sent.len() >= 2,
        "one refused by its test, one after re-reading: {sent:?}"
    );
    assert_eq!(sent[0].body[0]["value"], "quay.io/x/web:1");
    assert_eq!(
        sent[1].body[0],
        json!({"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "quay.io/x/web:hotfix"})
    );
    drop(server);

    // While no controller runs, the tag moves; a new one converges from the list alone.
    api.put_stream(stream("team", "app", &[("latest", Some(3))]));
    let _server = Server::start_cluster(&kubeconfig, &[]);
    let a = api.clone();
    eventually("a restarted controller converged", move || {
        image_at(
            &a,
            DEPLOYMENTS,
            "team",
            "web",
            "/spec/template/spec/containers/0/image",
        ) == pinned("team", "app", 3)
    })
    .await;
}
