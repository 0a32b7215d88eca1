//! The audit record of one admission decision: its typed form and the
//! hand-written line admission appends for every request (the writer that
//! puts lines in a file is the binary's).

use std::time::Duration;

use serde::Serialize;

use crate::admission::decision::{Access, Endpoint, Evaluation, ImageDecision};
use crate::admission::jsonw;
use crate::admission::workload::Holder;
use crate::stream::resolve::{Resolution, StreamName, pinned};

/// One admission decision, as written to the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// RFC 3339, UTC, milliseconds.
    pub ts: String,
    pub endpoint: String,
    pub uid: String,
    pub operation: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The requesting user (who created or changed the object).
    pub user: String,
    /// `NS/SA`: the identity that runs the pod and pulls its images.
    pub service_account: String,
    pub dry_run: bool,
    /// `allow`, `mutate`, `deny` or `trigger`.
    pub decision: String,
    pub images: Vec<AuditImage>,
    /// Images left out of `images` past `AUDIT_IMAGES_LIMIT` bytes, when any were.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub images_omitted: Option<u64>,
    /// The denial message, or what a trigger did.
    pub reason: Option<String>,
    pub latency_micros: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditImage {
    /// The container's name; absent for an image volume.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub container: Option<String>,
    /// The image volume's name (`volumes[].image.reference` is pulled like a
    /// container's image); absent for a container.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub volume: Option<String>,
    /// JSON pointer of the image field.
    pub path: String,
    pub requested: String,
    /// The pinned reference, when the image resolved.
    pub resolved: Option<String>,
    /// `false` when `resolved` names no digest (a `reference: true` tag, as
    /// OpenShift resolves it): absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pinned: Option<bool>,
    /// `NS/NAME` of the stream the image names, if any.
    pub stream: Option<String>,
    pub tag: Option<String>,
    /// `allowed`, `denied` or `not-a-stream`.
    pub access: String,
    /// Why this image was denied, when it was.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// Request facts the evaluation does not hold.
pub struct RequestFacts<'a> {
    pub endpoint: Endpoint,
    pub uid: &'a str,
    pub operation: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub user: &'a str,
    pub dry_run: bool,
}

impl<'a> RequestFacts<'a> {
    /// The facts of `req`, whose object is called `name` in messages.
    pub fn of(
        endpoint: Endpoint,
        req: &'a crate::admission::wire::Request<'_>,
        name: &'a str,
    ) -> Self {
        RequestFacts {
            endpoint,
            uid: &req.uid,
            operation: &req.operation,
            kind: &req.kind.kind,
            namespace: req.namespace.as_deref().unwrap_or_default(),
            name,
            user: req.user_info.username.as_deref().unwrap_or_default(),
            dry_run: req.dry_run.unwrap_or(false),
        }
    }
}

impl AuditRecord {
    /// The record of a decision; `eval` is `None` for requests left untouched unexamined.
    /// Admission writes the same bytes with `write_line` without building it; this is
    /// the typed form (the property tests hold `write_line` to it).
    pub fn new(
        facts: &RequestFacts<'_>,
        eval: Option<&Evaluation<'_>>,
        decision: &str,
        reason: Option<&str>,
        latency: Duration,
    ) -> AuditRecord {
        let mut images = Vec::new();
        let mut omitted = 0u64;
        let mut used = 0usize;
        for img in eval.map_or(&[][..], |e| &e.images) {
            if omitted > 0 {
                omitted += 1;
                continue;
            }
            let Some(e) = eval else { break };
            let img = image(e, img, facts.endpoint);
            let len = serde_json::to_vec(&img).map_or(0, |v| v.len()) + usize::from(used > 0);
            if used + len > AUDIT_IMAGES_LIMIT {
                omitted = 1;
                continue;
            }
            used += len;
            images.push(img);
        }
        AuditRecord {
            ts: now_rfc3339(),
            endpoint: facts.endpoint.as_str().to_owned(),
            uid: facts.uid.to_owned(),
            operation: facts.operation.to_owned(),
            kind: facts.kind.to_owned(),
            namespace: facts.namespace.to_owned(),
            name: facts.name.to_owned(),
            user: facts.user.to_owned(),
            service_account: eval.map_or_else(String::new, |e| e.service_account.to_string()),
            dry_run: facts.dry_run,
            decision: decision.to_owned(),
            images,
            images_omitted: (omitted > 0).then_some(omitted),
            reason: reason.map(str::to_owned),
            latency_micros: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

/// What the audit record says of one image, borrowed from the decision.
struct ImageFacts<'e> {
    stream: Option<StreamName<'e>>,
    tag: Option<&'e str>,
    resolved: Option<&'e str>,
    access: &'static str,
    error: Option<String>,
}

impl<'e> ImageFacts<'e> {
    fn of(img: &'e ImageDecision<'_>, endpoint: Endpoint) -> ImageFacts<'e> {
        let (stream, selector, resolved) = match &img.resolution {
            Resolution::NotAStream => (None, None, None),
            Resolution::Resolved {
                stream,
                selector,
                image,
                ..
            } => (Some(*stream), Some(selector), Some(&**image)),
            Resolution::Unresolvable {
                stream, selector, ..
            } => (Some(*stream), Some(selector), None),
        };
        let error = img.denial(endpoint);
        let access = match (&img.access, &error, stream) {
            (Some(Access::Denied(_)), _, _) | (_, Some(_), _) => "denied",
            (_, None, Some(_)) => "allowed",
            (_, None, None) => "not-a-stream",
        };
        ImageFacts {
            stream,
            tag: selector.and_then(|s| s.tag()),
            resolved,
            access,
            error,
        }
    }
}

fn image(eval: &Evaluation<'_>, img: &ImageDecision<'_>, endpoint: Endpoint) -> AuditImage {
    let facts = ImageFacts::of(img, endpoint);
    let name = Some(img.name.to_owned());
    let (container, volume) = match img.holder {
        Holder::Container(_) => (name, None),
        Holder::Volume => (None, name),
    };
    AuditImage {
        container,
        volume,
        path: img.path(eval.kind).to_string(),
        requested: img.requested.to_owned(),
        resolved: facts.resolved.map(str::to_owned),
        pinned: facts.resolved.filter(|r| !pinned(r)).map(|_| false),
        stream: facts.stream.map(|s| s.to_string()),
        tag: facts.tag.map(str::to_owned),
        access: facts.access.to_owned(),
        error: facts.error,
    }
}

/// Now, as records write it: RFC 3339, UTC, milliseconds.
pub fn now_rfc3339() -> String {
    let ts = jiff::Timestamp::now();
    format!("{ts:.3}")
}

/// Bytes of a record's `images` array: past them, images are counted in
/// `imagesOmitted` rather than listed, so a record stays within a small
/// multiple of its request (a 3 MB review of 31,000 containers made a 44 MB
/// line). No real pod comes near: ten images take about 3 KB.
pub const AUDIT_IMAGES_LIMIT: usize = 256 * 1024;

/// Appends the record of a decision as one JSON line, newline included,
/// written from the borrowed request and evaluation: the same bytes as
/// serializing `AuditRecord::new(…)`, without building it (this runs for
/// every admission request).
pub fn write_line(
    out: &mut Vec<u8>,
    facts: &RequestFacts<'_>,
    eval: Option<&Evaluation<'_>>,
    decision: &str,
    reason: Option<&str>,
    latency: Duration,
) {
    use std::io::Write as _;
    out.extend_from_slice(b"{\"ts\":\"");
    let _ = write!(out, "{:.3}", jiff::Timestamp::now());
    out.extend_from_slice(b"\",\"endpoint\":\"");
    out.extend_from_slice(facts.endpoint.as_str().as_bytes());
    out.push(b'"');
    for (key, value) in [
        ("uid", facts.uid),
        ("operation", facts.operation),
        ("kind", facts.kind),
        ("namespace", facts.namespace),
        ("name", facts.name),
        ("user", facts.user),
    ] {
        out.push(b',');
        jsonw::key(out, key);
        jsonw::string(out, value);
    }
    out.extend_from_slice(b",\"serviceAccount\":\"");
    if let Some(e) = eval {
        jsonw::escaped(out, e.service_account.namespace);
        out.push(b'/');
        jsonw::escaped(out, e.service_account.name);
    }
    out.extend_from_slice(b"\",\"dryRun\":");
    jsonw::boolean(out, facts.dry_run);
    out.extend_from_slice(b",\"decision\":");
    jsonw::string(out, decision);
    out.extend_from_slice(b",\"images\":[");
    let start = out.len();
    let mut omitted = 0u64;
    for (i, img) in eval.map_or(&[][..], |e| &e.images).iter().enumerate() {
        if omitted > 0 {
            omitted += 1;
            continue;
        }
        let Some(e) = eval else { break };
        let mark = out.len();
        if i > 0 {
            out.push(b',');
        }
        write_image(out, e, img, facts.endpoint);
        if out.len() - start > AUDIT_IMAGES_LIMIT {
            out.truncate(mark);
            omitted = 1;
        }
    }
    out.push(b']');
    if omitted > 0 {
        out.extend_from_slice(b",\"imagesOmitted\":");
        jsonw::unsigned(out, omitted);
    }
    out.extend_from_slice(b",\"reason\":");
    jsonw::opt_string(out, reason);
    out.extend_from_slice(b",\"latencyMicros\":");
    jsonw::unsigned(out, u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    out.extend_from_slice(b"}\n");
}

fn write_image(
    out: &mut Vec<u8>,
    eval: &Evaluation<'_>,
    img: &ImageDecision<'_>,
    endpoint: Endpoint,
) {
    let ImageFacts {
        stream,
        tag,
        resolved,
        access,
        error,
    } = ImageFacts::of(img, endpoint);
    out.extend_from_slice(match img.holder {
        Holder::Container(_) => b"{\"container\":",
        Holder::Volume => b"{\"volume\":",
    });
    jsonw::string(out, img.name);
    out.extend_from_slice(b",\"path\":\"");
    img.path(eval.kind).write(out);
    out.extend_from_slice(b"\",\"requested\":");
    jsonw::string(out, img.requested);
    out.extend_from_slice(b",\"resolved\":");
    jsonw::opt_string(out, resolved);
    if resolved.is_some_and(|r| !pinned(r)) {
        out.extend_from_slice(b",\"pinned\":false");
    }
    out.extend_from_slice(b",\"stream\":");
    match stream {
        Some(s) => {
            out.push(b'"');
            jsonw::escaped(out, s.namespace);
            out.push(b'/');
            jsonw::escaped(out, s.name);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"tag\":");
    jsonw::opt_string(out, tag);
    out.extend_from_slice(b",\"access\":\"");
    out.extend_from_slice(access.as_bytes());
    out.push(b'"');
    if let Some(error) = &error {
        out.extend_from_slice(b",\"error\":");
        jsonw::string(out, error);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_millis_utc() {
        let ts = now_rfc3339();
        assert_eq!(ts.len(), "2026-11-26T17:00:00.123Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }

    /// Past `AUDIT_IMAGES_LIMIT`, images are counted rather than listed, and
    /// the hand-written line stays byte for byte the typed record.
    #[test]
    fn a_record_of_many_images_is_capped_and_matches_the_typed_record() {
        use crate::access::ServiceAccount;
        use crate::admission::decision::{Evaluation, ImageDecision, Operation};
        use crate::admission::workload::{ContainerList, Kind};
        use crate::stream::resolve::{Form, Selector};

        let names: Vec<String> = (0..3000).map(|i| format!("container-{i:04}")).collect();
        let images = names
            .iter()
            .enumerate()
            .map(|(i, name)| ImageDecision {
                holder: if i % 3 == 0 {
                    Holder::Volume
                } else {
                    Holder::Container(ContainerList::Containers)
                },
                index: i,
                name,
                requested: "app:latest",
                resolution: Resolution::Unresolvable {
                    stream: StreamName {
                        namespace: "ns",
                        name: "app",
                    },
                    selector: Selector::Tag("latest"),
                    form: Form::Local,
                    reason: "x".repeat(5000),
                },
                unchanged: false,
                rewritable: true,
                access: None,
                via: None,
            })
            .collect();
        let eval = Evaluation {
            kind: Kind::Pod,
            operation: Operation::Create,
            namespace: "ns",
            service_account: ServiceAccount {
                namespace: "ns",
                name: "default",
            },
            images,
        };
        let facts = RequestFacts {
            endpoint: Endpoint::Mutate,
            uid: "u",
            operation: "CREATE",
            kind: "Pod",
            namespace: "ns",
            name: "p",
            user: "alice",
            dry_run: false,
        };
        let latency = Duration::from_micros(7);
        let mut line = Vec::new();
        write_line(&mut line, &facts, Some(&eval), "deny", Some("why"), latency);
        assert!(line.len() < AUDIT_IMAGES_LIMIT + 1024, "{}", line.len());
        let written: AuditRecord = serde_json::from_slice(&line).expect("json");
        let listed = written.images.len();
        assert!(listed > 100, "{listed}");
        assert_eq!(written.images_omitted, Some((3000 - listed) as u64));
        // Each image's error is cut, not dropped.
        let error = written.images[0].error.as_deref().expect("error");
        assert!(error.len() <= crate::admission::decision::REASON_LIMIT && error.ends_with('…'));
        assert_eq!(written.images[0].volume.as_deref(), Some("container-0000"));
        assert_eq!(
            written.images[1].container.as_deref(),
            Some("container-0001")
        );

        let mut record = AuditRecord::new(&facts, Some(&eval), "deny", Some("why"), latency);
        record.ts = written.ts.clone();
        let mut want = serde_json::to_vec(&record).expect("json");
        want.push(b'\n');
        assert_eq!(
            String::from_utf8_lossy(&line),
            String::from_utf8_lossy(&want)
        );
    }
}
