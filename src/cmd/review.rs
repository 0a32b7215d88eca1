//! `review -f FILE|-`: what the webhook would do to manifest files, offline.
//!
//! Each workload is wrapped in the AdmissionReview the API server would send
//! and answered by the same handler the webhook serves; the patch in the
//! answer is then applied to the document.

use std::io::Read as _;
use std::process::ExitCode;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::admission::Admission;
use crate::decision::Endpoint;
use crate::manifest;
use crate::workload::Kind;

/// Exit codes: 0 clean, 1 any denial, 2 unreadable input.
pub const EXIT_DENIED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;

/// Reads `file` (`-` for stdin).
pub fn read_input(file: &str) -> Result<String, String> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        Ok(s)
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))
    }
}

/// The printed result and the denials.
pub struct Reviewed {
    pub stdout: String,
    pub denials: Vec<String>,
}

/// Reviews the text: an AdmissionReview JSON gets its response; manifests come back mutated.
pub async fn review_text(
    admission: &Admission,
    text: &str,
    default_ns: &str,
) -> Result<Reviewed, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        && let Ok(v) = serde_json::from_str::<Value>(trimmed)
        && v.get("kind").and_then(Value::as_str) == Some("AdmissionReview")
    {
        let answer = admission
            .review(Endpoint::Mutate, trimmed.as_bytes())
            .await?;
        let rsp: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
        let denials = denial(&rsp).into_iter().collect();
        let stdout = serde_json::to_string_pretty(&rsp).map_err(|e| e.to_string())? + "\n";
        return Ok(Reviewed { stdout, denials });
    }
    let json = trimmed.starts_with('{') || trimmed.starts_with('[');
    let docs = manifest::documents_preserving_lists(text, json)?;
    let mut denials = Vec::new();
    let mut out = Vec::with_capacity(docs.len());
    for (i, mut doc) in docs.into_iter().enumerate() {
        review_document(
            admission,
            &mut doc,
            default_ns,
            &format!("review-{i}"),
            &mut denials,
        )
        .await?;
        out.push(doc);
    }
    let stdout = if json {
        let mut s = String::new();
        for doc in &out {
            s.push_str(&serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?);
            s.push('\n');
        }
        s
    } else {
        let mut s = String::new();
        for (i, doc) in out.iter().enumerate() {
            if i > 0 {
                s.push_str("---\n");
            }
            s.push_str(&manifest::to_yaml(doc)?);
        }
        s
    };
    Ok(Reviewed { stdout, denials })
}

/// Reviews one document, and each item of a `List`, in place.
async fn review_document(
    admission: &Admission,
    doc: &mut Value,
    default_ns: &str,
    uid: &str,
    denials: &mut Vec<String>,
) -> Result<(), String> {
    if doc.get("kind").and_then(Value::as_str) == Some("List") {
        if let Some(Value::Array(items)) = doc.get_mut("items") {
            for (i, item) in items.iter_mut().enumerate() {
                Box::pin(review_document(
                    admission,
                    item,
                    default_ns,
                    &format!("{uid}-{i}"),
                    denials,
                ))
                .await?;
            }
        }
        return Ok(());
    }
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind_name = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let Some(kind) = Kind::from_group_kind(group, kind_name) else {
        return Ok(());
    };
    // An empty namespace is the default one, as for kubectl; the review
    // always carries one (without it the webhook refuses the review).
    let namespace = doc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .unwrap_or(default_ns);
    let namespace = if namespace.is_empty() {
        "default"
    } else {
        namespace
    }
    .to_owned();
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind.as_str()},
            "resource": {"group": group, "version": version, "resource": format!("{}s", kind.as_str().to_lowercase())},
            "namespace": namespace,
            "name": name,
            "operation": "CREATE",
            "userInfo": {"username": "imagestream-webhook-review"},
            "object": &*doc,
            "dryRun": true,
        }
    });
    let body = serde_json::to_vec(&review).map_err(|e| e.to_string())?;
    let answer = admission.review(Endpoint::Mutate, &body).await?;
    let rsp: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
    if let Some(message) = denial(&rsp) {
        denials.push(message);
        return Ok(());
    }
    if let Some(patch) = rsp.pointer("/response/patch").and_then(Value::as_str) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(patch)
            .map_err(|e| format!("webhook answered a patch that is not base64: {e}"))?;
        let patch: json_patch::Patch = serde_json::from_slice(&raw)
            .map_err(|e| format!("webhook answered an invalid patch: {e}"))?;
        json_patch::patch(doc, &patch)
            .map_err(|e| format!("patch does not apply to {kind} {name}: {e}"))?;
    }
    Ok(())
}

fn denial(rsp: &Value) -> Option<String> {
    if rsp.pointer("/response/allowed").and_then(Value::as_bool) == Some(false) {
        let message = rsp
            .pointer("/response/status/message")
            .and_then(Value::as_str)
            .unwrap_or("denied");
        return Some(message.to_owned());
    }
    None
}

/// Runs the command and turns the result into an exit code.
pub async fn run(admission: &Admission, file: &str, default_ns: &str) -> ExitCode {
    let text = match read_input(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    match review_text(admission, &text, default_ns).await {
        Ok(r) => {
            print!("{}", r.stdout);
            for d in &r.denials {
                eprintln!("denied: {d}");
            }
            if r.denials.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_DENIED)
            }
        }
        Err(e) => {
            eprintln!("error: {file}: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
