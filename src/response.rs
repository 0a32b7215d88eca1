//! The AdmissionReview response bytes: allowed, the JSONPatch, the denial, and
//! the audit annotations the API server copies into its own audit log.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use json_patch::jsonptr::PointerBuf;
use json_patch::{Patch, PatchOperation, ReplaceOperation};
use serde::Serialize;

use crate::decision::{Endpoint, Evaluation, Verdict};

/// Audit annotation values longer than this are cut, so one huge pod cannot
/// bloat every line of the API server's audit log.
pub const AUDIT_ANNOTATION_LIMIT: usize = 10 * 1024;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'a str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    audit_annotations: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct StatusOut<'a> {
    status: &'static str,
    code: u16,
    reason: &'static str,
    message: &'a str,
}

/// Serializes the review response for `verdict`.
pub fn encode(
    api_version: &str,
    uid: &str,
    verdict: &Verdict,
    audit: BTreeMap<&'static str, String>,
) -> Vec<u8> {
    let (allowed, status, patch) = match verdict {
        Verdict::Allow => (true, None, None),
        Verdict::Patch(ops) => (true, None, Some(patch_base64(ops))),
        Verdict::Deny(message) => (
            false,
            Some(StatusOut {
                status: "Failure",
                code: 403,
                reason: "Forbidden",
                message,
            }),
            None,
        ),
    };
    let out = ReviewOut {
        api_version,
        kind: "AdmissionReview",
        response: ResponseOut {
            uid,
            allowed,
            status,
            patch_type: patch.as_ref().map(|_| "JSONPatch"),
            patch,
            audit_annotations: audit,
        },
    };
    // Serializing these plain structs into memory cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

/// The JSONPatch of `replace` operations, one per rewritten image.
pub fn json_patch(ops: &[(String, Arc<str>)]) -> Patch {
    Patch(
        ops.iter()
            .filter_map(|(path, image)| {
                Some(PatchOperation::Replace(ReplaceOperation {
                    path: PointerBuf::parse(path.as_str()).ok()?,
                    value: serde_json::Value::String(image.to_string()),
                }))
            })
            .collect(),
    )
}

fn patch_base64(ops: &[(String, Arc<str>)]) -> String {
    let bytes = serde_json::to_vec(&json_patch(ops)).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Serialize)]
struct ResolvedImage<'a> {
    container: &'a str,
    image: &'a str,
    resolved: &'a str,
}

#[derive(Serialize)]
struct DeniedImage<'a> {
    container: &'a str,
    image: &'a str,
    reason: &'a str,
}

/// `resolved-images` and `denied-images`, each a JSON array cut to the limit.
pub fn audit_annotations(
    eval: &Evaluation<'_>,
    endpoint: Endpoint,
) -> BTreeMap<&'static str, String> {
    let resolved = eval.images.iter().filter_map(|img| {
        Some(ResolvedImage {
            container: img.container,
            image: img.requested,
            resolved: img.resolved()?,
        })
    });
    let denials: Vec<(usize, String)> = eval
        .images
        .iter()
        .enumerate()
        .filter_map(|(i, img)| Some((i, img.denial(endpoint)?)))
        .collect();
    let denied = denials.iter().map(|(i, reason)| DeniedImage {
        container: eval.images[*i].container,
        image: eval.images[*i].requested,
        reason,
    });
    let mut out = BTreeMap::new();
    if let Some(v) = capped_json_array(resolved) {
        out.insert("resolved-images", v);
    }
    if let Some(v) = capped_json_array(denied) {
        out.insert("denied-images", v);
    }
    out
}

/// A JSON array of the items that fit in the limit, then `{"truncated":N}` for
/// the N left out, so the value stays valid JSON. `None` when there are no items.
fn capped_json_array<T: Serialize>(items: impl Iterator<Item = T>) -> Option<String> {
    // Room kept for the marker element.
    const MARKER_ROOM: usize = 32;
    let mut out = String::from("[");
    let mut count = 0usize;
    let mut left_out = 0usize;
    for item in items {
        count += 1;
        if left_out > 0 {
            left_out += 1;
            continue;
        }
        let json = serde_json::to_string(&item).unwrap_or_default();
        if out.len() + json.len() + 2 + MARKER_ROOM > AUDIT_ANNOTATION_LIMIT {
            left_out = 1;
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&json);
    }
    if count == 0 {
        return None;
    }
    if left_out > 0 {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&format!("{{\"truncated\":{left_out}}}"));
    }
    out.push(']');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_has_403_and_echoes_uid() {
        let body = encode(
            "admission.k8s.io/v1",
            "u-1",
            &Verdict::Deny("no".into()),
            BTreeMap::new(),
        );
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["response"]["uid"], "u-1");
        assert_eq!(v["response"]["allowed"], false);
        assert_eq!(v["response"]["status"]["code"], 403);
        assert_eq!(v["response"]["status"]["message"], "no");
        assert!(v["response"].get("patch").is_none());
    }

    #[test]
    fn patch_is_base64_json_patch_of_replaces() {
        let ops = vec![(
            "/spec/containers/0/image".to_owned(),
            Arc::from("a@sha256:1"),
        )];
        let body = encode(
            "admission.k8s.io/v1",
            "u",
            &Verdict::Patch(ops),
            BTreeMap::new(),
        );
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["response"]["patchType"], "JSONPatch");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v["response"]["patch"].as_str().expect("patch"))
            .expect("base64");
        let patch: serde_json::Value = serde_json::from_slice(&raw).expect("patch json");
        assert_eq!(
            patch,
            serde_json::json!([{"op":"replace","path":"/spec/containers/0/image","value":"a@sha256:1"}])
        );
    }

    #[test]
    fn capped_array_stays_valid_json() {
        let long = "x".repeat(1000);
        let items = (0..50).map(|i| ResolvedImage {
            container: "c",
            image: if i % 2 == 0 { &long } else { "short" },
            resolved: "r",
        });
        let s = capped_json_array(items).expect("some");
        assert!(s.len() <= AUDIT_ANNOTATION_LIMIT, "{}", s.len());
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid json");
        let arr = v.as_array().expect("array");
        let marker = arr.last().expect("marker");
        let kept = arr.len() - 1;
        assert_eq!(marker["truncated"].as_u64(), Some((50 - kept) as u64));
        assert!(capped_json_array(std::iter::empty::<ResolvedImage>()).is_none());
    }
}
