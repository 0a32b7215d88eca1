//! The AdmissionReview response bytes: allowed, the JSONPatch, the denial, and
//! the audit annotations the API server copies into its own audit log.

use crate::admission::decision::{Endpoint, Evaluation, ImageDecision, ImagePath, Verdict};
use crate::admission::jsonw;
use crate::stream::resolve::pinned;

/// Audit annotation values longer than this are cut, so one huge pod cannot
/// bloat every line of the API server's audit log.
pub const AUDIT_ANNOTATION_LIMIT: usize = 10 * 1024;

/// Serializes the review response for `verdict`, with the audit annotations
/// of `eval` when the request was evaluated. Written by hand into one buffer
/// (see `jsonw`): this runs for every admission request.
pub fn encode(
    api_version: &str,
    uid: &str,
    verdict: &Verdict,
    eval: Option<(&Evaluation<'_>, Endpoint)>,
) -> Vec<u8> {
    // Room for a usual answer; a huge request's answer grows as it needs.
    let mut out = Vec::with_capacity(512 + eval.map_or(0, |(e, _)| e.images.len().min(64) * 512));
    out.extend_from_slice(b"{\"apiVersion\":");
    jsonw::string(&mut out, api_version);
    out.extend_from_slice(b",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":");
    jsonw::string(&mut out, uid);
    match verdict {
        Verdict::Allow => out.extend_from_slice(b",\"allowed\":true"),
        Verdict::Patch(ops) => {
            out.extend_from_slice(b",\"allowed\":true,\"patchType\":\"JSONPatch\",\"patch\":\"");
            patch_base64(&mut out, ops);
            out.push(b'"');
        }
        Verdict::Deny(message) => {
            out.extend_from_slice(b",\"allowed\":false,\"status\":{\"status\":\"Failure\",\"code\":403,\"reason\":\"Forbidden\",\"message\":");
            jsonw::string(&mut out, message);
            out.push(b'}');
        }
    }
    if let Some((eval, endpoint)) = eval {
        audit_annotations(&mut out, eval, endpoint);
    }
    out.extend_from_slice(b"}}");
    out
}

/// The JSONPatch of `replace` operations, one per rewritten image, as JSON.
pub fn json_patch(ops: &[(ImagePath, std::sync::Arc<str>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ops.len() * 224);
    out.push(b'[');
    for (i, (path, image)) in ops.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"op\":\"replace\",\"path\":\"");
        path.write(&mut out);
        out.extend_from_slice(b"\",\"value\":");
        jsonw::string(&mut out, image);
        out.push(b'}');
    }
    out.push(b']');
    out
}

/// base64-simd rather than the base64 crate used elsewhere: this runs for
/// every patched review, and its SIMD encoder (chosen at run time) took the
/// encoding, with the zeroing of its room, from 8% of the server's
/// instructions per review to 1% (callgrind: 16,100 → 2,300 a review).
fn patch_base64(out: &mut Vec<u8>, ops: &[(ImagePath, std::sync::Arc<str>)]) {
    let patch = json_patch(ops);
    base64_simd::STANDARD.encode_append(&patch, out);
}

/// `,"auditAnnotations":{…}` with `denied-images`, `resolved-images` and `unpinned-images`,
/// each a JSON array (as a string) cut to the limit; nothing when both are empty.
fn audit_annotations(out: &mut Vec<u8>, eval: &Evaluation<'_>, endpoint: Endpoint) {
    let mut annotations = Annotations {
        out,
        scratch: Vec::new(),
        opened: false,
    };
    // Past the limit, items are only counted: their reasons are not built.
    let denied = eval.images.iter().filter(|img| img.is_denied(endpoint));
    annotations.array("denied-images", "reason", denied, |img| {
        img.denial(endpoint).unwrap_or_default()
    });
    let resolved = eval.images.iter().filter(|img| img.resolved().is_some());
    annotations.array("resolved-images", "resolved", resolved, |img| {
        img.resolved().map(|i| &**i).unwrap_or_default()
    });
    // `reference: true` tags resolve to their source unpinned: listed apart,
    // so that an operator can find every image that may change under a pod.
    let unpinned = eval
        .images
        .iter()
        .filter(|img| img.resolved().is_some_and(|r| !pinned(r)));
    annotations.array("unpinned-images", "resolved", unpinned, |img| {
        img.resolved().map(|i| &**i).unwrap_or_default()
    });
    if annotations.opened {
        annotations.out.push(b'}');
    }
}

/// Room kept for the `{"truncated":N}` marker.
const MARKER_ROOM: usize = 32;

struct Annotations<'o> {
    out: &'o mut Vec<u8>,
    scratch: Vec<u8>,
    opened: bool,
}

impl Annotations<'_> {
    /// `"key":"[{…},…]"`: a JSON array of `{"container"|"volume","image",third}`
    /// objects written straight in its escaped form, with the items that fit
    /// in the limit (counted unescaped, as the API server stores the value)
    /// and then `{"truncated":N}` for the N left out, so the value stays
    /// valid JSON. Nothing when there are no items.
    fn array<'e, 'r: 'e, S: AsRef<str>>(
        &mut self,
        key: &str,
        third: &str,
        items: impl Iterator<Item = &'e ImageDecision<'r>>,
        value: impl Fn(&'e ImageDecision<'r>) -> S,
    ) {
        let mut count = 0usize;
        let mut left_out = 0usize;
        // The unescaped length of the value so far, `[` included.
        let mut len = 1;
        for img in items {
            count += 1;
            if count == 1 {
                let out = &mut *self.out;
                out.extend_from_slice(if self.opened {
                    b","
                } else {
                    b",\"auditAnnotations\":{"
                });
                self.opened = true;
                jsonw::key(out, key);
                out.extend_from_slice(b"\"[");
            }
            if left_out > 0 {
                left_out += 1;
                continue;
            }
            let mark = self.out.len();
            let comma = usize::from(count > 1);
            if comma == 1 {
                self.out.push(b',');
            }
            let item = self.item([
                (img.holder.noun(), img.name),
                ("image", img.requested),
                (third, value(img).as_ref()),
            ]);
            if len + comma + item + 2 + MARKER_ROOM > AUDIT_ANNOTATION_LIMIT {
                self.out.truncate(mark);
                left_out = 1;
                continue;
            }
            len += comma + item;
        }
        if count == 0 {
            return;
        }
        if left_out > 0 {
            if len > 1 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(b"{\\\"truncated\\\":");
            jsonw::unsigned(self.out, left_out as u64);
            self.out.push(b'}');
        }
        self.out.extend_from_slice(b"]\"");
    }

    /// One `{"field":"value",…}` object, escaped; returns its unescaped length.
    fn item(&mut self, fields: [(&str, &str); 3]) -> usize {
        self.out.push(b'{');
        let mut len = 2;
        for (i, (field, value)) in fields.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
                len += 1;
            }
            self.out.extend_from_slice(b"\\\"");
            self.out.extend_from_slice(field.as_bytes());
            self.out.extend_from_slice(b"\\\":");
            len += field.len() + 3;
            len += jsonw::string_in_string(self.out, value, &mut self.scratch);
        }
        self.out.push(b'}');
        len
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::access::ServiceAccount;
    use crate::admission::decision::{Access, ImageDecision, Operation};
    use crate::admission::workload::{ContainerList, Holder, Kind};
    use crate::stream::resolve::{Form, Resolution, Selector, StreamName};

    #[test]
    fn deny_has_403_and_echoes_uid() {
        let body = encode(
            "admission.k8s.io/v1",
            "u-1",
            &Verdict::Deny("no \"quoted\"".into()),
            None,
        );
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["response"]["uid"], "u-1");
        assert_eq!(v["response"]["allowed"], false);
        assert_eq!(v["response"]["status"]["code"], 403);
        assert_eq!(v["response"]["status"]["status"], "Failure");
        assert_eq!(v["response"]["status"]["reason"], "Forbidden");
        assert_eq!(v["response"]["status"]["message"], "no \"quoted\"");
        assert!(v["response"].get("patch").is_none());
        assert!(v["response"].get("auditAnnotations").is_none());
    }

    #[test]
    fn patches_of_every_length_decode_with_padding() {
        use base64::Engine as _;
        let path = ImagePath {
            kind: Kind::Pod,
            holder: Holder::Container(ContainerList::Containers),
            index: 0,
        };
        // Image lengths 1..=40 give patch lengths of every residue mod 3 and
        // cross the SIMD encoder's block sizes.
        for len in 1..=40 {
            let ops = vec![(path, std::sync::Arc::from("x".repeat(len)))];
            let mut out = b"prefix:".to_vec();
            patch_base64(&mut out, &ops);
            let encoded = out.strip_prefix(b"prefix:").expect("appended");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .expect("standard padded base64");
            assert_eq!(raw, json_patch(&ops), "image of {len} bytes");
        }
    }

    #[test]
    fn patch_is_base64_json_patch_of_replaces() {
        use base64::Engine as _;
        let path = ImagePath {
            kind: Kind::Deployment,
            holder: Holder::Container(ContainerList::InitContainers),
            index: 12,
        };
        let ops = vec![(path, Arc::from("a@sha256:1"))];
        let body = encode("admission.k8s.io/v1beta1", "u", &Verdict::Patch(ops), None);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1beta1");
        assert_eq!(v["kind"], "AdmissionReview");
        assert_eq!(v["response"]["allowed"], true);
        assert_eq!(v["response"]["patchType"], "JSONPatch");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v["response"]["patch"].as_str().expect("patch"))
            .expect("base64");
        let patch: serde_json::Value = serde_json::from_slice(&raw).expect("patch json");
        assert_eq!(
            patch,
            serde_json::json!([{"op":"replace","path":"/spec/template/spec/initContainers/12/image","value":"a@sha256:1"}])
        );
    }

    fn image<'r>(
        container: &'r str,
        requested: &'r str,
        resolution: Resolution<'r>,
    ) -> ImageDecision<'r> {
        ImageDecision {
            holder: Holder::Container(ContainerList::Containers),
            index: 0,
            name: container,
            requested,
            resolution,
            unchanged: false,
            rewritable: true,
            access: Some(Access::Allowed),
            via: None,
        }
    }

    fn resolved(stream: StreamName<'_>) -> Resolution<'_> {
        Resolution::Resolved {
            stream,
            selector: Selector::Tag("latest"),
            form: Form::Local,
            image: Arc::from("reg.example/app@sha256:1"),
        }
    }

    fn evaluation(images: Vec<ImageDecision<'_>>) -> Evaluation<'_> {
        Evaluation {
            kind: Kind::Pod,
            operation: Operation::Create,
            namespace: "ns",
            service_account: ServiceAccount {
                namespace: "ns",
                name: "default",
            },
            images,
        }
    }

    #[test]
    fn annotations_are_json_arrays_in_strings() {
        let stream = StreamName {
            namespace: "ns",
            name: "app",
        };
        let mut denied = image(
            "side\"car",
            "other:1",
            Resolution::Unresolvable {
                stream,
                selector: Selector::Tag("1"),
                form: Form::Local,
                reason: "no tag \"1\"\n".into(),
            },
        );
        denied.index = 1;
        let eval = evaluation(vec![
            image("main", "app:latest", resolved(stream)),
            denied,
            image("plain", "nginx", Resolution::NotAStream),
        ]);
        let body = encode(
            "admission.k8s.io/v1",
            "u",
            &Verdict::Deny("x".into()),
            Some((&eval, Endpoint::Mutate)),
        );
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let annotations = &v["response"]["auditAnnotations"];
        let inner = |key: &str| -> serde_json::Value {
            serde_json::from_str(annotations[key].as_str().expect("a string")).expect("json inside")
        };
        assert_eq!(
            inner("resolved-images"),
            serde_json::json!([{"container":"main","image":"app:latest","resolved":"reg.example/app@sha256:1"}])
        );
        assert_eq!(
            inner("denied-images"),
            serde_json::json!([{"container":"side\"car","image":"other:1","reason":"no tag \"1\"\n"}])
        );
    }

    #[test]
    fn annotations_are_capped_and_stay_valid_json() {
        let long = "x".repeat(1000);
        let stream = StreamName {
            namespace: "ns",
            name: "app",
        };
        let images = (0..50)
            .map(|i| {
                image(
                    if i % 2 == 0 { &long } else { "short\"" },
                    "app:latest",
                    resolved(stream),
                )
            })
            .collect();
        let eval = evaluation(images);
        let body = encode(
            "admission.k8s.io/v1",
            "u",
            &Verdict::Allow,
            Some((&eval, Endpoint::Mutate)),
        );
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let value = v["response"]["auditAnnotations"]["resolved-images"]
            .as_str()
            .expect("a string");
        assert!(value.len() <= AUDIT_ANNOTATION_LIMIT, "{}", value.len());
        assert!(
            value.len() > AUDIT_ANNOTATION_LIMIT - 1100,
            "{}",
            value.len()
        );
        let v: serde_json::Value = serde_json::from_str(value).expect("valid json");
        let arr = v.as_array().expect("array");
        let marker = arr.last().expect("marker");
        let kept = arr.len() - 1;
        assert_eq!(marker["truncated"].as_u64(), Some((50 - kept) as u64));
        assert_eq!(arr[1]["container"], "short\"");
    }
}
