//! The webhook end to end: a real server over TLS, AdmissionReviews as the API
//! server sends them, for every kind, both endpoints, CREATE and UPDATE.

use serde_json::{Value, json};

use crate::common::*;

const HOST: &str = "image-registry.openshift-image-registry.svc:5000";

fn pod_spec(images: &[(&str, &str)]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .map(|(n, i)| json!({"name": n, "image": i, "ports": [{"containerPort": 8080}]}))
        .collect();
    json!({"serviceAccountName": "default", "containers": containers})
}

fn marsview_latest() -> String {
    example_digest("marsview.yaml", 0)
}

#[tokio::test]
async fn every_kind_is_rewritten_on_create_and_validates_after() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &[]);
    let pinned = marsview_latest();
    for (_, _, kind, _) in KINDS {
        let obj = object(
            kind,
            "toms-project",
            "marsview",
            pod_spec(&[("main", "marsview:latest"), ("proxy", "nginx:1.27")]),
        );
        let rsp = server
            .review("/mutate", &admission_review("CREATE", &obj, None))
            .await;
        assert_eq!(rsp["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(rsp["kind"], "AdmissionReview");
        assert_eq!(
            rsp["response"]["uid"],
            format!("uid-create-{}", gvkr(kind).3)
        );
        assert_eq!(rsp["response"]["allowed"], true, "{kind}: {rsp}");
        let patch = patch_of(&rsp);
        let pointer = match kind {
            "Pod" => "/spec/containers/0/image",
            "CronJob" => "/spec/jobTemplate/spec/template/spec/containers/0/image",
            _ => "/spec/template/spec/containers/0/image",
        };
        assert_eq!(
            patch,
            vec![json!({"op": "replace", "path": pointer, "value": pinned})],
            "{kind}"
        );
        // Applying the patch changes that image and nothing else.
        let mutated = apply(&rsp, &obj);
        let mut expected = obj.clone();
        *expected.pointer_mut(pointer).expect("pointer") = json!(pinned);
        assert_eq!(mutated, expected, "{kind}");
        let audit = rsp["response"]["auditAnnotations"]["resolved-images"]
            .as_str()
            .expect("audit annotation");
        let audit: Value = serde_json::from_str(audit).expect("audit json");
        assert_eq!(
            audit,
            json!([{"container": "main", "image": "marsview:latest", "resolved": pinned}])
        );

        // The mutated object passes validation and a second mutation is a no-op.
        let v = server
            .review("/validate", &admission_review("CREATE", &mutated, None))
            .await;
        assert_eq!(v["response"]["allowed"], true, "{kind}: {v}");
        assert!(v["response"].get("patch").is_none());
        let again = server
            .review("/mutate", &admission_review("CREATE", &mutated, None))
            .await;
        assert!(
            patch_of(&again).is_empty(),
            "{kind}: mutation must be idempotent"
        );
    }
}

#[tokio::test]
async fn init_and_ephemeral_containers_and_annotations() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &[]);
    let toolbox = example_digest("toolbox.yaml", 0);
    let base = example_digest("shared-base.yaml", 0);
    let mut spec = pod_spec(&[
        ("main", "marsview"),
        (
            "base",
            &format!("{}/shared-images/base:9.4", HOST.to_uppercase()),
        ),
    ]);
    spec["initContainers"] = json!([{"name": "migrate", "image": "toolbox:stable"}]);
    spec["ephemeralContainers"] = json!([{"name": "debug", "image": "toolbox:stable"}]);

    // Without the annotation `toolbox` has no local lookup: left alone.
    let dep = object("Deployment", "toms-project", "d", spec.clone());
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &dep, None))
        .await;
    let paths: Vec<_> = patch_of(&rsp)
        .iter()
        .map(|p| p["path"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        paths,
        vec![
            "/spec/template/spec/containers/0/image",
            "/spec/template/spec/containers/1/image"
        ]
    );
    assert_eq!(patch_of(&rsp)[1]["value"], base);

    // The annotation on the pod template, on the workload, or on a CronJob's job template turns it on.
    for pointer in ["/spec/template/metadata", "/metadata"] {
        let mut annotated = dep.clone();
        annotated
            .pointer_mut(pointer)
            .and_then(Value::as_object_mut)
            .expect("metadata")
            .insert(
                "annotations".into(),
                json!({"alpha.image.policy.openshift.io/resolve-names": "*"}),
            );
        let rsp = server
            .review("/mutate", &admission_review("CREATE", &annotated, None))
            .await;
        let mutated = apply(&rsp, &annotated);
        assert_eq!(
            mutated["spec"]["template"]["spec"]["initContainers"][0]["image"], toolbox,
            "{pointer}"
        );
        assert_eq!(
            mutated["spec"]["template"]["spec"]["ephemeralContainers"][0]["image"], toolbox,
            "{pointer}"
        );
    }
    // Any other value does not count.
    let mut wrong = dep.clone();
    wrong["metadata"]["annotations"] =
        json!({"alpha.image.policy.openshift.io/resolve-names": "true"});
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &wrong, None))
        .await;
    assert_eq!(patch_of(&rsp).len(), 2);

    let mut cron = object(
        "CronJob",
        "toms-project",
        "c",
        pod_spec(&[("main", "toolbox:stable")]),
    );
    cron["spec"]["jobTemplate"]["metadata"] =
        json!({"annotations": {"alpha.image.policy.openshift.io/resolve-names": "*"}});
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &cron, None))
        .await;
    assert_eq!(patch_of(&rsp)[0]["value"], toolbox);
}

#[tokio::test]
async fn unresolvable_references_are_denied_with_the_fix() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &[]);
    let cases = [
        ("marsview:nope", "has no tag \"nope\""),
        (
            "marsview:next",
            "not yet imported: ImportSuccess=False: NotFound",
        ),
        (
            "marsview@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "has no image sha256:0000",
        ),
        (
            &format!("{HOST}/nowhere/thing:1"),
            "imagestream nowhere/thing not found",
        ),
    ];
    for (image, why) in cases {
        let obj = object(
            "Deployment",
            "toms-project",
            "web",
            pod_spec(&[("main", image)]),
        );
        for endpoint in ["/mutate", "/validate"] {
            let rsp = server
                .review(endpoint, &admission_review("CREATE", &obj, None))
                .await;
            let r = &rsp["response"];
            assert_eq!(r["allowed"], false, "{image} {endpoint}");
            assert_eq!(r["status"]["code"], 403);
            let msg = r["status"]["message"].as_str().expect("message");
            assert!(msg.contains("container \"main\""), "{msg}");
            assert!(msg.contains(image), "{msg}");
            assert!(msg.contains(why), "{msg}");
            assert!(r.get("patch").is_none());
            let denied = r["auditAnnotations"]["denied-images"]
                .as_str()
                .expect("denied-images");
            assert!(denied.contains(image), "{denied}");
        }
    }
}

#[tokio::test]
async fn controller_owned_objects_are_not_rewritten() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &[]);
    let mut pod = object(
        "Pod",
        "toms-project",
        "web-abc",
        pod_spec(&[("main", "marsview:latest")]),
    );
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d4", "uid": "x", "controller": true, "blockOwnerDeletion": true}]);
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &pod, None))
        .await;
    assert_eq!(rsp["response"]["allowed"], true);
    assert!(
        patch_of(&rsp).is_empty(),
        "owned pods keep their owner's template"
    );
    let v = server
        .review("/validate", &admission_review("CREATE", &pod, None))
        .await;
    assert_eq!(v["response"]["allowed"], true);

    // A non-controller owner reference does not count.
    pod["metadata"]["ownerReferences"][0]["controller"] = json!(false);
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &pod, None))
        .await;
    assert_eq!(patch_of(&rsp).len(), 1);

    // The stream host is no real registry: an owned pod naming a missing stream there is still denied.
    pod["metadata"]["ownerReferences"][0]["controller"] = json!(true);
    pod["spec"]["containers"][0]["image"] = json!(format!("{HOST}/nowhere/x:1"));
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &pod, None))
        .await;
    assert_eq!(rsp["response"]["allowed"], false);
}

#[tokio::test]
async fn ephemeral_containers_subresource_on_an_owned_pod() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &[]);
    let pinned = marsview_latest();
    let mut old = object(
        "Pod",
        "toms-project",
        "web-abc",
        pod_spec(&[("main", &pinned)]),
    );
    old["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "x", "controller": true}]);
    let mut new = old.clone();
    new["spec"]["ephemeralContainers"] =
        json!([{"name": "debugger", "image": "marsview:latest", "targetContainerName": "main"}]);
    let mut review = admission_review("UPDATE", &new, Some(&old));
    review["request"]["subResource"] = json!("ephemeralcontainers");
    review["request"]["requestSubResource"] = json!("ephemeralcontainers");
    let rsp = server.review("/mutate", &review).await;
    assert_eq!(
        patch_of(&rsp),
        vec![
            json!({"op": "replace", "path": "/spec/ephemeralContainers/0/image", "value": pinned})
        ]
    );
    // A status update is not ours to look at.
    review["request"]["subResource"] = json!("status");
    let rsp = server.review("/mutate", &review).await;
    assert!(patch_of(&rsp).is_empty());
}

#[tokio::test]
async fn update_rules() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &[]);
    let pinned = marsview_latest();
    let one = example_digest("marsview.yaml", 2);

    // An unchanged short name is not resolved again (that would roll the workload on every edit).
    let old = object(
        "Deployment",
        "toms-project",
        "web",
        pod_spec(&[("main", "marsview:latest")]),
    );
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(3);
    let rsp = server
        .review("/mutate", &admission_review("UPDATE", &new, Some(&old)))
        .await;
    assert!(patch_of(&rsp).is_empty());
    let v = server
        .review("/validate", &admission_review("UPDATE", &new, Some(&old)))
        .await;
    assert_eq!(v["response"]["allowed"], true);

    // Re-applying the short name over a stored digest asks for the tag's current image.
    let stored = object(
        "Deployment",
        "toms-project",
        "web",
        pod_spec(&[("main", &one)]),
    );
    let rsp = server
        .review("/mutate", &admission_review("UPDATE", &old, Some(&stored)))
        .await;
    assert_eq!(patch_of(&rsp)[0]["value"], pinned);

    // Adding the annotation resolves unchanged images too.
    let old = object(
        "Deployment",
        "toms-project",
        "web",
        pod_spec(&[("main", "toolbox:stable")]),
    );
    let mut new = old.clone();
    new["metadata"]["annotations"] = json!({"alpha.image.policy.openshift.io/resolve-names": "*"});
    let rsp = server
        .review("/mutate", &admission_review("UPDATE", &new, Some(&old)))
        .await;
    assert_eq!(patch_of(&rsp).len(), 1);

    // Jobs are never rewritten on UPDATE: their template is immutable.
    let old_job = object(
        "Job",
        "toms-project",
        "j",
        pod_spec(&[("main", "marsview:latest")]),
    );
    let mut job = old_job.clone();
    job["spec"]["template"]["spec"]["containers"][0]["image"] = json!("marsview:1.0");
    let rsp = server
        .review("/mutate", &admission_review("UPDATE", &job, Some(&old_job)))
        .await;
    assert!(patch_of(&rsp).is_empty());
}

#[tokio::test]
async fn untouched_kinds_dry_run_and_other_versions() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &[]);
    let mut review = admission_review(
        "CREATE",
        &object(
            "Pod",
            "toms-project",
            "p",
            pod_spec(&[("main", "marsview")]),
        ),
        None,
    );
    review["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Service"});
    review["request"]["object"] = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}});
    let rsp = server.review("/mutate", &review).await;
    assert_eq!(rsp["response"]["allowed"], true);
    assert!(rsp["response"].get("patch").is_none());
    assert!(rsp["response"].get("auditAnnotations").is_none());

    let obj = object(
        "Pod",
        "toms-project",
        "p",
        pod_spec(&[("main", "marsview")]),
    );
    let mut dry = admission_review("CREATE", &obj, None);
    dry["request"]["dryRun"] = json!(true);
    let wet = server
        .review("/mutate", &admission_review("CREATE", &obj, None))
        .await;
    let dry = server.review("/mutate", &dry).await;
    assert_eq!(dry["response"]["patch"], wet["response"]["patch"]);

    // generateName creates carry no name.
    let mut gen_obj = obj.clone();
    gen_obj["metadata"] = json!({"generateName": "web-", "namespace": "toms-project"});
    let mut review = admission_review("CREATE", &gen_obj, None);
    review["request"]["name"] = json!("");
    let rsp = server.review("/mutate", &review).await;
    assert_eq!(patch_of(&rsp).len(), 1);

    let mut beta = admission_review("CREATE", &obj, None);
    beta["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let rsp = server.review("/mutate", &beta).await;
    assert_eq!(rsp["apiVersion"], "admission.k8s.io/v1beta1");
}

#[tokio::test]
async fn bad_input_is_answered_not_crashed_on() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &[]);
    let obj = object(
        "Pod",
        "toms-project",
        "p",
        pod_spec(&[("main", "marsview")]),
    );
    let mut no_uid = admission_review("CREATE", &obj, None);
    no_uid["request"]
        .as_object_mut()
        .expect("request")
        .remove("uid");
    let mut wrong_version = admission_review("CREATE", &obj, None);
    wrong_version["apiVersion"] = json!("admission.k8s.io/v2");
    let mut bad_kind = admission_review("CREATE", &obj, None);
    bad_kind["request"]["kind"] = json!("Pod");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "invalid AdmissionReview"),
        (b"".to_vec(), "invalid AdmissionReview"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(), "has no request"),
        (serde_json::to_vec(&no_uid).expect("json"), "uid"),
        (serde_json::to_vec(&wrong_version).expect("json"), "unsupported AdmissionReview apiVersion"),
        (serde_json::to_vec(&bad_kind).expect("json"), "invalid AdmissionReview"),
        (br#"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","object":{"spec":{"containers":"nope"}}}}"#.to_vec(), "invalid AdmissionReview"),
    ];
    for (body, want) in cases {
        for endpoint in ["/mutate", "/validate"] {
            let (status, rsp) = server.post(endpoint, body.clone()).await;
            let text = String::from_utf8_lossy(&rsp);
            assert_eq!(status, 400, "{text}");
            assert!(text.contains(want), "{want}: {text}");
            assert_eq!(text.trim_end().lines().count(), 1, "one line: {text}");
        }
    }
    let (status, _) = server.post("/mutate", vec![b' '; 4 * 1024 * 1024]).await;
    assert_eq!(status, 413);
    let (status, _) = request(
        server.addr,
        &server.ca_pem,
        "GET",
        "/mutate",
        Default::default(),
    )
    .await;
    assert_eq!(status, 405);
    let (status, _) = server.post("/other", b"{}".to_vec()).await;
    assert_eq!(status, 404);
    // Still serving after all that.
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &obj, None))
        .await;
    assert_eq!(patch_of(&rsp).len(), 1);
    let (_, metrics) = server.admin_get("/metrics").await;
    assert!(metrics.contains(r#"decision="bad-request""#), "{metrics}");
}

#[tokio::test]
async fn admin_endpoints_and_directory_changes_while_serving() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &[]);
    assert_eq!(server.admin_get("/healthz").await.0, 200);
    assert_eq!(server.admin_get("/readyz").await.0, 200);
    let (_, metrics) = server.admin_get("/metrics").await;
    assert!(
        metrics.contains("imagestream_webhook_streams 3"),
        "{metrics}"
    );

    let obj = object("Pod", "toms-project", "p", pod_spec(&[("main", "fresh:1")]));
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &obj, None))
        .await;
    assert!(patch_of(&rsp).is_empty(), "no stream named fresh yet");

    let digest = "sha256:abababababababababababababababababababababababababababababababab";
    std::fs::write(
        dir.path().join("fresh.yaml"),
        format!(
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {{name: fresh, namespace: toms-project}}\nspec: {{lookupPolicy: {{local: true}}}}\nstatus:\n  tags:\n  - tag: \"1\"\n    items:\n    - {{created: \"2026-11-26T00:00:00Z\", dockerImageReference: \"quay.io/f/fresh@{digest}\", image: \"{digest}\", generation: 1}}\n"
        ),
    )
    .expect("write stream");
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let rsp = server
            .review("/mutate", &admission_review("CREATE", &obj, None))
            .await;
        if let Some(p) = patch_of(&rsp).first() {
            assert_eq!(p["value"], format!("quay.io/f/fresh@{digest}"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "new stream file not picked up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A broken file is reported and the last good state stays in force.
    std::fs::write(dir.path().join("fresh.yaml"), "kind: [broken").expect("break file");
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let (_, metrics) = server.admin_get("/metrics").await;
        if metrics.contains("imagestream_webhook_directory_reload_errors_total 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reload error not counted: {metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &obj, None))
        .await;
    assert_eq!(patch_of(&rsp).len(), 1, "last good snapshot still resolves");
    let logged: Vec<String> = server.log.try_iter().collect();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("fresh.yaml") && l.contains("cannot parse")),
        "{logged:?}"
    );
}

#[tokio::test]
async fn sigterm_turns_readiness_off_and_exits_cleanly() {
    let dir = example_streams();
    let mut server = Server::start(dir.path(), &["--shutdown-delay-seconds", "1"]);
    assert_eq!(server.admin_get("/readyz").await.0, 200);
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.pid().to_string())
        .status();
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let (status, _) = server.admin_get("/readyz").await;
        if status == 503 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "readiness never went false"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // During the delay requests are still answered.
    let obj = object(
        "Pod",
        "toms-project",
        "p",
        pod_spec(&[("main", "marsview")]),
    );
    let rsp = server
        .review("/mutate", &admission_review("CREATE", &obj, None))
        .await;
    assert_eq!(patch_of(&rsp).len(), 1);
    assert!(server.terminate().await.success());
}
