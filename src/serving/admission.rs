//! The admission handler: request bytes in, response bytes out. The HTTP
//! routes and the offline `review` command both call it, so they cannot differ.

use std::sync::Arc;
use std::time::Instant;

use imagestream_core::admission::audit_record::{self, RequestFacts};
use imagestream_core::admission::decision::{Endpoint, Policy, Unevaluated, Verdict, evaluate};
use imagestream_core::admission::response;
use imagestream_core::admission::wire::parse_review;
use imagestream_core::admission::workload::Kind;
use imagestream_core::config::Config;
use imagestream_core::text::clip;

use crate::access::AccessChecker;
use crate::serving::audit_log::AuditLog;
use crate::store::Store;

/// Bytes of the uid and of the denial message in the log line of a denial.
const LOG_UID_LIMIT: usize = 128;
const LOG_MESSAGE_LIMIT: usize = 2048;

/// What the webhook decided, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do.
    Allow,
    Mutate,
    Deny,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Mutate => "mutate",
            Outcome::Deny => "deny",
        }
    }
}

/// An answered review.
#[derive(Debug)]
pub struct Answer {
    pub body: Vec<u8>,
    pub outcome: Outcome,
    /// `None` for kinds the webhook leaves untouched.
    pub kind: Option<Kind>,
}

/// Everything admission reads.
pub struct Admission {
    pub store: Arc<Store>,
    pub config: Arc<Config>,
    pub access: AccessChecker,
    /// `None` writes no audit records (tests, benchmarks).
    pub audit: Option<AuditLog>,
}

impl Admission {
    /// Answers one AdmissionReview body; `Err` is the one-line reason of a 400.
    pub async fn review(&self, endpoint: Endpoint, body: &[u8]) -> Result<Answer, String> {
        let started = Instant::now();
        let review = parse_review(body)?;
        let api_version = match review.api_version.as_deref() {
            None => "admission.k8s.io/v1",
            Some(v @ ("admission.k8s.io/v1" | "admission.k8s.io/v1beta1")) => v,
            Some(other) => {
                return Err(format!(
                    "unsupported AdmissionReview apiVersion {other:?}; send admission.k8s.io/v1"
                ));
            }
        };
        let req = review.request.ok_or("AdmissionReview has no request")?;
        let object_name = req
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .or_else(|| req.object.as_ref().and_then(|o| o.metadata.name.as_deref()))
            .or_else(|| {
                req.object
                    .as_ref()
                    .and_then(|o| o.metadata.generate_name.as_deref())
            })
            .unwrap_or_default();
        let facts = RequestFacts::of(endpoint, &req, object_name);
        let policy = Policy {
            stream_hosts: &self.config.stream_registry_hosts,
        };
        // The snapshot is held as an Arc: access checks may await.
        let snap = self.store.load_full();
        let mut eval = match evaluate(&snap, &policy, &req) {
            Ok(e) => e,
            Err(Unevaluated::Invalid(reason)) => return Err(reason),
            Err(Unevaluated::Skip(_)) => {
                let body = response::encode(api_version, &req.uid, &Verdict::Allow, None);
                self.audit(&facts, None, Outcome::Allow, None, started);
                return Ok(Answer {
                    body,
                    outcome: Outcome::Allow,
                    kind: Kind::from_group_kind(&req.kind.group, &req.kind.kind),
                });
            }
        };
        eval.check_access(&self.access, &snap).await;
        let verdict = eval.verdict(endpoint, object_name);
        let (outcome, reason) = match &verdict {
            Verdict::Allow => (Outcome::Allow, None),
            Verdict::Patch(_) => (Outcome::Mutate, None),
            Verdict::Deny(message) => (Outcome::Deny, Some(message.as_str())),
        };
        if let Some(message) = reason {
            // One line, bounded: Debug escapes the line breaks a name may
            // carry, and the uid and message are the request's to choose.
            tracing::info!(
                endpoint = endpoint.as_str(),
                uid = ?clip(&req.uid, LOG_UID_LIMIT),
                message = ?clip(message, LOG_MESSAGE_LIMIT),
                "denied"
            );
        }
        self.audit(&facts, Some(&eval), outcome, reason, started);
        Ok(Answer {
            body: response::encode(api_version, &req.uid, &verdict, Some((&eval, endpoint))),
            outcome,
            kind: Some(eval.kind),
        })
    }

    fn audit(
        &self,
        facts: &RequestFacts<'_>,
        eval: Option<&imagestream_core::admission::decision::Evaluation<'_>>,
        outcome: Outcome,
        reason: Option<&str>,
        started: Instant,
    ) {
        if let Some(log) = &self.audit {
            let latency = started.elapsed();
            log.append(|out| {
                audit_record::write_line(out, facts, eval, outcome.as_str(), reason, latency)
            });
        }
    }
}
