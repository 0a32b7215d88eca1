//! `convert -f FILE|-`: manifests with every DeploymentConfig replaced by
//! its Deployment (the decisions are `imagestream_core::openshift::convert`'s).
//!
//! Nothing is printed unless everything converts: a refusal (or a
//! BuildConfig, which has no counterpart) stops the command with exit 1 and
//! each reason on stderr, so `convert -f x | kubectl apply -f -` never
//! applies half a conversion. `--force` leaves those parts out instead,
//! naming each on stderr.

use std::process::ExitCode;

use serde_json::Value;

use imagestream_core::openshift::convert::convert;
use imagestream_core::openshift::{OpenShiftKind, object_id};

use crate::cli::review::{read_input, rewritten, yaml_documents};
use crate::cli::{CmdError, EXIT_FAILED, bad};

/// What one run produced: the text to print and what to say on stderr.
#[derive(Debug, Default)]
pub struct Conversion {
    pub stdout: String,
    /// `note: …` lines: differences that need no decision, and what `--force` left out.
    pub notes: Vec<String>,
    /// Why nothing is printed (exit 1).
    pub refusals: Vec<String>,
}

/// What is done to each object.
#[derive(Default)]
struct Work {
    notes: Vec<String>,
    refusals: Vec<String>,
    /// Refusals `--force` would turn into things left out.
    forceable: usize,
}

/// Converts `text` (multi-document YAML, or JSON).
pub fn convert_text(text: &str, force: bool) -> Result<Conversion, CmdError> {
    let trimmed = text.trim_start();
    let mut work = Work::default();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: Value = serde_json::from_str(trimmed)
            .map_err(|e| bad(format!("the input is not valid JSON: {e}")))?;
        let out = object(value, force, &mut work)?;
        // Left out (forced), the only object leaves nothing to print.
        return finish(work, force, || match out {
            Some(v) => serde_json::to_string_pretty(&v)
                .map(|s| s + "\n")
                .map_err(|e| e.to_string()),
            None => Ok(String::new()),
        });
    }
    let docs = yaml_documents(text)?;
    if docs.is_empty() {
        return Err(bad(
            "the input holds no Kubernetes object (it is empty or only comments)",
        ));
    }
    let mut changed: Vec<(std::ops::Range<usize>, Option<Value>)> = Vec::new();
    for doc in docs {
        let line = doc.line;
        let out = object(doc.value.clone(), force, &mut work)
            .map_err(|e| bad(format!("document at line {line}: {e}")))?;
        if out.as_ref() != Some(&doc.value) {
            changed.push((doc.span, out));
        }
    }
    finish(work, force, || {
        let mut out = String::with_capacity(text.len() + 512);
        let mut at = 0;
        for (span, value) in &changed {
            out.push_str(&text[at..span.start]);
            // Left out (forced): its `---` stays, an empty document.
            if let Some(v) = value {
                out.push_str(&rewritten(text, span.clone(), v)?);
            }
            at = span.end;
        }
        out.push_str(&text[at..]);
        Ok(out)
    })
}

fn finish(
    work: Work,
    force: bool,
    print: impl FnOnce() -> Result<String, String>,
) -> Result<Conversion, CmdError> {
    if !work.refusals.is_empty() {
        let mut refusals = work.refusals;
        refusals.push(if force || work.forceable < refusals.len() {
            "nothing converted".to_owned()
        } else {
            "nothing converted; --force converts the rest and leaves these out".to_owned()
        });
        return Ok(Conversion {
            stdout: String::new(),
            notes: work.notes,
            refusals,
        });
    }
    Ok(Conversion {
        stdout: print()?,
        notes: work.notes,
        refusals: Vec::new(),
    })
}

/// One object: the same, its replacement, or `None` when left out.
fn object(value: Value, force: bool, work: &mut Work) -> Result<Option<Value>, CmdError> {
    if !value.is_object() {
        return Err(bad(
            "not a Kubernetes object (a mapping with apiVersion and kind); convert reads manifests, as kubectl apply -f does",
        ));
    }
    if value.get("kind").and_then(Value::as_str) == Some("List") {
        let mut value = value;
        if let Some(Value::Array(items)) = value.get_mut("items") {
            let mut kept = Vec::with_capacity(items.len());
            for (i, item) in std::mem::take(items).into_iter().enumerate() {
                let item = object(item, force, work)
                    .map_err(|e| bad(format!("item {i} of the List: {e}")))?;
                kept.extend(item);
            }
            *items = kept;
        }
        return Ok(Some(value));
    }
    let id = object_id(&value);
    match OpenShiftKind::of(&value) {
        None => Ok(Some(value)),
        Some(OpenShiftKind::Build(_)) if force => {
            work.notes.push(format!(
                "{id} left out: {}",
                OpenShiftKind::BUILD_UNSUPPORTED
            ));
            Ok(None)
        }
        Some(OpenShiftKind::Build(_)) => {
            work.forceable += 1;
            work.refusals
                .push(format!("{id}: {}", OpenShiftKind::BUILD_UNSUPPORTED));
            Ok(Some(value))
        }
        Some(OpenShiftKind::DeploymentConfig) => match convert(&value, force) {
            Ok(c) => {
                let to = object_id(&c.deployment);
                for n in c.notes {
                    work.notes.push(format!("{to}: {n}"));
                }
                for l in c.left_out {
                    work.notes.push(format!("{to}: left out (--force): {l}"));
                }
                Ok(Some(c.deployment))
            }
            Err(problems) => {
                for p in problems {
                    if p.forceable {
                        work.forceable += 1;
                    }
                    work.refusals.push(format!("{id}: {}", p.text));
                }
                Ok(Some(value))
            }
        },
    }
}

/// Runs the command: 0 converted, 1 refused (nothing printed), 2 input that is not manifests.
pub fn run(file: &str, force: bool) -> ExitCode {
    let converted = read_input(file).and_then(|text| convert_text(&text, force));
    match converted {
        Ok(c) => {
            print!("{}", c.stdout);
            for n in &c.notes {
                eprintln!("note: {n}");
            }
            for r in &c.refusals {
                eprintln!("error: {r}");
            }
            if c.refusals.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }
        Err(e) => super::review::report_input_error(e, file),
    }
}
