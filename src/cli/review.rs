//! `review -f FILE|-`: what the webhook would do to manifest files, offline.
//!
//! Each workload is wrapped in the AdmissionReview the API server would send
//! and answered by the same handler the webhook serves; the patch in the
//! answer is then applied to the document.

use std::io::Read as _;
use std::process::ExitCode;

use base64::Engine as _;
use serde_json::{Value, json};

use imagestream_core::admission::decision::Endpoint;
use imagestream_core::admission::workload::Kind;
use imagestream_core::manifest;
use imagestream_core::openshift::{OpenShiftKind, object_id};

use crate::cli::{CmdError, EXIT_FAILED, bad};
use crate::serving::admission::Admission;

/// Reads `file` (`-` for stdin).
pub fn read_input(file: &str) -> Result<String, CmdError> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| bad(format!("cannot read stdin: {e}")))?;
        Ok(s)
    } else {
        std::fs::read_to_string(file).map_err(|e| bad(format!("cannot read {file}: {e}")))
    }
}

/// Reports a failure of a command that read `file`: a bad input names the
/// file when its message does not already.
pub fn report_input_error(e: CmdError, file: &str) -> ExitCode {
    match e {
        CmdError::BadInput(e) if file != "-" && !e.contains(file) => {
            bad(format!("{file}: {e}")).report()
        }
        e => e.report(),
    }
}

/// The printed result and the denials.
pub struct Reviewed {
    /// What goes to stdout: the AdmissionReview answer, or the manifests
    /// (those that needed no change exactly as read). Manifests are not
    /// printed when anything was denied, so `review | kubectl apply -f -`
    /// never applies an unpinned image.
    pub stdout: String,
    pub denials: Vec<String>,
}

/// One document of the input and where it is in the text.
pub(super) struct Document {
    /// Byte range of the document in the input (YAML); the whole input (JSON).
    pub(super) span: std::ops::Range<usize>,
    pub(super) line: usize,
    pub(super) value: Value,
}

/// Reviews the text: an AdmissionReview JSON gets its response; manifests come back mutated.
pub async fn review_text(
    admission: &Admission,
    text: &str,
    default_ns: &str,
) -> Result<Reviewed, CmdError> {
    let trimmed = text.trim_start();
    let json = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        serde_json::from_str::<Value>(trimmed).ok()
    } else {
        None
    };
    if let Some(v) = &json
        && v.get("kind").and_then(Value::as_str) == Some("AdmissionReview")
    {
        let answer = admission
            .review(Endpoint::Mutate, trimmed.as_bytes())
            .await
            .map_err(bad)?;
        let rsp: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
        let denials = denial(&rsp).into_iter().collect();
        let stdout = serde_json::to_string_pretty(&rsp).map_err(|e| e.to_string())? + "\n";
        return Ok(Reviewed { stdout, denials });
    }
    let is_json = json.is_some();
    let docs = match json {
        Some(value) => vec![Document {
            span: 0..text.len(),
            line: 1,
            value,
        }],
        None => yaml_documents(text)?,
    };
    if docs.is_empty() {
        return Err(bad(
            "the input holds no Kubernetes object (it is empty or only comments)",
        ));
    }
    for doc in &docs {
        check_object(&doc.value, is_json, doc.line)?;
    }
    let mut denials = Vec::new();
    let mut changed = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let mut value = doc.value.clone();
        review_document(
            admission,
            &mut value,
            default_ns,
            &format!("review-{i}"),
            &mut denials,
        )
        .await
        .map_err(|e| bad(at_line(is_json, doc.line, e)))?;
        if value != doc.value {
            changed.push((doc, value));
        }
    }
    if !denials.is_empty() {
        return Ok(Reviewed {
            stdout: String::new(),
            denials,
        });
    }
    let stdout = if changed.is_empty() {
        text.to_owned()
    } else if is_json {
        let (_, value) = &changed[0];
        serde_json::to_string_pretty(value).map_err(|e| e.to_string())? + "\n"
    } else {
        let mut out = String::with_capacity(text.len() + 256);
        let mut at = 0;
        for (doc, value) in &changed {
            out.push_str(&text[at..doc.span.start]);
            out.push_str(&rewritten(text, doc.span.clone(), value)?);
            at = doc.span.end;
        }
        out.push_str(&text[at..]);
        out
    };
    Ok(Reviewed { stdout, denials })
}

fn at_line(is_json: bool, line: usize, e: String) -> String {
    if is_json {
        e
    } else {
        format!("document at line {line}: {e}")
    }
}

/// The YAML documents of the input, each with its place in the text.
pub(super) fn yaml_documents(text: &str) -> Result<Vec<Document>, CmdError> {
    let mut out = Vec::new();
    for doc in manifest::yaml::split_yaml_documents(text) {
        let start = doc.text.as_ptr() as usize - text.as_ptr() as usize;
        let values = manifest::yaml_values(doc.text, doc.line)
            .map_err(|e| bad(format!("document at line {}: {e}", doc.line)))?;
        for value in values.into_iter().filter(|v| !v.is_null()) {
            out.push(Document {
                span: start..start + doc.text.len(),
                line: doc.line,
                value,
            });
        }
    }
    Ok(out)
}

/// A Kubernetes object: a mapping with `apiVersion` and `kind` (a `List`'s
/// items too). Anything else is not a manifest, and echoing it back as if
/// it had been reviewed would hide that.
fn check_object(value: &Value, is_json: bool, line: usize) -> Result<(), CmdError> {
    let what = if is_json {
        "the input".to_owned()
    } else {
        format!("document at line {line}")
    };
    let shape = match value {
        Value::Object(_) => None,
        Value::Array(_) => Some("a list"),
        Value::String(_) => Some("text"),
        Value::Number(_) => Some("a number"),
        Value::Bool(_) => Some("a boolean"),
        Value::Null => Some("empty"),
    };
    if let Some(shape) = shape {
        return Err(bad(format!(
            "{what} is {shape}, not a Kubernetes object (a mapping with apiVersion and kind); review reads manifests, as kubectl apply -f does"
        )));
    }
    let field = |f: &str| {
        value
            .get(f)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if field("apiVersion").is_none() || field("kind").is_none() {
        return Err(bad(format!(
            "{what} has no apiVersion and kind: it is not a Kubernetes object"
        )));
    }
    if field("kind") == Some("List") {
        for (i, item) in value
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_object(item, is_json, line)
                .map_err(|e| bad(format!("item {i} of the List: {e}")))?;
        }
    }
    Ok(())
}

/// A changed document, re-serialized: the comment lines before and after
/// it are kept, comments inside it and its quoting are not.
pub(super) fn rewritten(
    text: &str,
    span: std::ops::Range<usize>,
    value: &Value,
) -> Result<String, String> {
    let doc = &text[span.clone()];
    let is_comment = |l: &str| l.trim().is_empty() || l.starts_with('#');
    let mut lines = doc.split_inclusive('\n').peekable();
    let mut head = String::new();
    // The rest of a `---` line (` # Source: …`) and the comment lines that follow.
    if span.start > 0
        && !text[..span.start].ends_with('\n')
        && let Some(first) =
            lines.next_if(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        head.push_str(first);
    }
    while let Some(line) = lines.next_if(|l| is_comment(l)) {
        head.push_str(line);
    }
    if span.start > 0 && !text[..span.start].ends_with('\n') && head.is_empty() {
        head.push('\n');
    }
    let body: Vec<&str> = lines.collect();
    let tail_from = body
        .iter()
        .rposition(|l| !is_comment(l))
        .map_or(body.len(), |i| i + 1);
    let tail: String = body[tail_from..].concat();
    Ok(head + &manifest::to_yaml(value)? + &tail)
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
    if OpenShiftKind::of(doc) == Some(OpenShiftKind::DeploymentConfig) {
        // Passed through, it would reach a cluster with nothing to pin its
        // images or follow its triggers.
        denials.push(format!(
            "{}: Kubernetes has no DeploymentConfig, and review does not pin its images; run `imagestream-webhook convert -f FILE` to make it a Deployment with the {} annotation, then review that",
            object_id(doc),
            imagestream_core::trigger::TRIGGERS_ANNOTATION
        ));
        return Ok(());
    }
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

/// Runs the command and turns the result into an exit code: 0 clean, 1
/// any denial (and no manifest printed), 2 input that is not manifests.
pub async fn run(admission: &Admission, file: &str, default_ns: &str) -> ExitCode {
    let reviewed = match read_input(file) {
        Ok(text) => review_text(admission, &text, default_ns).await,
        Err(e) => Err(e),
    };
    match reviewed {
        Ok(r) => {
            print!("{}", r.stdout);
            for d in &r.denials {
                eprintln!("denied: {d}");
            }
            if r.denials.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }
        Err(e) => report_input_error(e, file),
    }
}
