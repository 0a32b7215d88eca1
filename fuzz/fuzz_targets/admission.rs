//! Arbitrary bytes as an AdmissionReview body, for both endpoints, in process
//! over a small fixed snapshot: never a panic, and every answer is an
//! AdmissionReview JSON with `response.uid` (the request's, when it had one),
//! never a patch on a denial.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

use imagestream_core::config::{Config, SameNamespaceAccess};
use imagestream_core::admission::decision::Endpoint;
use imagestream_core::stream::ImageStream;
use imagestream_core::stream::snapshot::Snapshot;

use imagestream_webhook::access::AccessChecker;
use imagestream_webhook::serving::admission::Admission;
use imagestream_webhook::store::Store;

const D1: &str = "sha256:96eb1912832ca200ad10328de66a50ffff61d79b9baa9b07f102133ddcb5c7af";
const D2: &str = "sha256:e9a894206a0b01f10f78192d43213953d1697f0308c992ddc4e97d7a3a992493";
const HOST: &str = "image-registry.openshift-image-registry.svc:5000";

fn item(reference: String, image: &str) -> Value {
    json!({"created": "2026-11-26T17:00:00Z", "dockerImageReference": reference,
        "image": image, "generation": 1})
}

/// Streams that reach every kind of answer: local lookup, a failed import,
/// a spec-only tag, a digest in the history, another namespace, an
/// internal-registry item, a tag that cannot be pinned.
fn streams() -> Vec<Value> {
    let repo = "registry.marsrover.space/engine/marsview";
    vec![
        json!({"metadata": {"name": "marsview", "namespace": "toms-project"},
            "spec": {"lookupPolicy": {"local": true}, "tags": [{"name": "latest"}, {"name": "next"}, {"name": "v2"}]},
            "status": {"tags": [
                {"tag": "latest", "items": [item(format!("{repo}@{D1}"), D1), item(format!("{repo}:old"), D2)]},
                {"tag": "next", "items": null, "conditions": [{"type": "ImportSuccess", "status": "False",
                    "reason": "NotFound", "message": "manifest unknown", "generation": 1}]},
                {"tag": "bad", "items": [item(format!("{repo}:no-digest"), "")]}]}}),
        json!({"metadata": {"name": "toolbox", "namespace": "toms-project"},
            "spec": {"tags": [{"name": "stable"}]},
            "status": {"tags": [{"tag": "stable", "items": [item(format!("{HOST}/toms-project/toolbox@{D2}"), D2)]}]}}),
        json!({"metadata": {"name": "base", "namespace": "shared-images"},
            "spec": {"lookupPolicy": {"local": true}},
            "status": {"tags": [{"tag": "9.4", "items": [item(format!("quay.io/shared/base@{D1}"), D1)]}]}}),
    ]
}

fn admission() -> Admission {
    let streams = streams()
        .into_iter()
        .map(|v| Arc::new(serde_json::from_value::<ImageStream>(v).expect("stream parses")));
    let store = Store::new();
    store.publish(Snapshot::build(streams));
    Admission {
        store,
        config: Arc::new(Config::default()),
        access: AccessChecker::directory(SameNamespaceAccess::Allow),
        audit: None,
    }
}

thread_local! {
    static ADMISSION: Admission = admission();
}

fuzz_target!(|data: &[u8]| {
    let request: Option<Value> = serde_json::from_slice(data).ok();
    ADMISSION.with(|admission| {
        for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
            // Directory-mode access checks never wait: no runtime is needed.
            let Ok(answer) = futures::executor::block_on(admission.review(endpoint, data)) else {
                continue;
            };
            let v: Value = serde_json::from_slice(&answer.body).expect("the answer is JSON");
            assert_eq!(v["kind"], "AdmissionReview", "{v}");
            let uid = v["response"]["uid"]
                .as_str()
                .expect("the answer has response.uid");
            if let Some(want) = request.as_ref().and_then(|r| r["request"]["uid"].as_str()) {
                assert_eq!(uid, want, "uid not echoed");
            }
            let allowed = v["response"]["allowed"]
                .as_bool()
                .expect("the answer has response.allowed");
            if !allowed || endpoint == Endpoint::Validate {
                assert!(v["response"].get("patch").is_none(), "patch on {v}");
            }
        }
    });
});
