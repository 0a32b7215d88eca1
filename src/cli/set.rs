//! `set triggers` and `set image-lookup`, as `oc set`: the edits are
//! `imagestream_core::openshift::{trigger_edit, image_lookup}`'s; this module
//! finds the objects and writes them back.
//!
//! Workloads do not live in the streams directory: with `-f FILE|-` they are
//! edited in the file's text and the whole input is printed (as oc's
//! `--local -o yaml`), documents left alone exactly as read; without `-f`
//! they are read from the cluster and patched there, the patch guarded by
//! the object's resourceVersion. Streams are edited where they live: their
//! file in directory mode, the cluster otherwise.

use std::process::ExitCode;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use imagestream_core::admission::workload::Kind;
use imagestream_core::openshift::resource::{self, WorkloadRef};
use imagestream_core::openshift::tag_source::check_stream;
use imagestream_core::openshift::{image_lookup, object_id, trigger_edit};

use crate::cli::args::{GlobalArgs, SetImageLookupArgs, SetTriggersArgs};
use crate::cli::review::{read_input, rewritten, yaml_documents};
use crate::cli::streams::{Ctx, Target, connect, read_dir};
use crate::cli::{CmdError, bad};
use crate::store::cluster;

/// The kinds `set triggers` edits: those the trigger controller watches.
const TRIGGER_KINDS: [Kind; 4] = [
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::DaemonSet,
    Kind::CronJob,
];

/// What a command does to one object: its new value (the same when
/// unchanged), and notes for stderr.
type ObjectEdit<'a> = dyn FnMut(&Value, Kind) -> Result<(Value, Vec<String>), String> + 'a;

pub async fn triggers(global: &GlobalArgs, args: SetTriggersArgs) -> ExitCode {
    crate::cli::exit(triggers_inner(global, args).await)
}

async fn triggers_inner(global: &GlobalArgs, args: SetTriggersArgs) -> Result<ExitCode, CmdError> {
    let edit = trigger_mode(&args)?;
    let wanted = args
        .workload
        .as_deref()
        .map(|w| resource::parse(w, &TRIGGER_KINDS))
        .transpose()
        .map_err(bad)?;
    let default_ns = global.namespace.as_deref().unwrap_or("default").to_owned();
    let Some(edit) = edit else {
        // No mode flag: the table of what each workload follows.
        let mut rows = Vec::new();
        let mut list = |obj: &Value, kind: Kind| -> Result<(Value, Vec<String>), String> {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            rows.extend(trigger_edit::rows(obj, kind, &default_ns, name)?);
            Ok((obj.clone(), Vec::new()))
        };
        match &args.file {
            Some(file) => {
                edit_file(file, wanted.as_ref(), &TRIGGER_KINDS, &mut list)?;
            }
            None => {
                let w = wanted.ok_or_else(|| bad(needs_workload("set triggers")))?;
                let ctx = connect(global).await?;
                let obj = get_workload(&ctx, &w).await?;
                list(&obj, w.kind).map_err(CmdError::Failed)?;
            }
        }
        print!("{}", table(&["NAME", "TYPE", "VALUE", "AUTO"], &rows));
        return Ok(ExitCode::SUCCESS);
    };
    let mut apply = |obj: &Value, kind: Kind| trigger_edit::apply(obj, kind, &default_ns, &edit);
    match &args.file {
        Some(file) => {
            let (text, notes) = edit_file(file, wanted.as_ref(), &TRIGGER_KINDS, &mut apply)?;
            print!("{text}");
            for n in notes {
                eprintln!("note: {n}");
            }
        }
        None => {
            let w = wanted.ok_or_else(|| bad(needs_workload("set triggers")))?;
            let ctx = connect(global).await?;
            patch_workload(&ctx, &w, "triggers", &mut apply).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn needs_workload(cmd: &str) -> String {
    format!(
        "{cmd} needs TYPE/NAME of a workload in the cluster, or -f FILE (workloads do not live in the streams directory)"
    )
}

/// The edit the flags ask for, checked as oc checks them; `None` lists.
fn trigger_mode(args: &SetTriggersArgs) -> Result<Option<trigger_edit::Edit>, CmdError> {
    if args.manual && args.auto {
        return Err(bad("you must specify at most one of --auto or --manual"));
    }
    if args.remove_all && (args.remove || args.manual || args.auto || args.from_image.is_some()) {
        return Err(bad("--remove-all may not be used with any other flag"));
    }
    if !args.containers.is_empty() && args.from_image.is_none() {
        return Err(bad(
            "--containers names the containers that follow --from-image",
        ));
    }
    let from = args
        .from_image
        .as_deref()
        .map(trigger_edit::parse_from_image)
        .transpose()
        .map_err(bad)?;
    use trigger_edit::Edit;
    Ok(match (from, args.remove, args.remove_all) {
        (_, _, true) => Some(Edit::RemoveAll),
        (Some(from), true, _) => Some(Edit::Remove { from }),
        (None, true, _) => {
            return Err(bad(
                "--remove requires a flag defining a trigger type to be specified (--from-image)",
            ));
        }
        (Some(from), false, _) => {
            if args.containers.is_empty() {
                return Err(bad(
                    "you must specify --containers when setting --from-image",
                ));
            }
            Some(Edit::Follow {
                from,
                containers: args.containers.clone(),
                paused: args.manual,
            })
        }
        (None, false, _) if args.manual => Some(Edit::Pause(true)),
        (None, false, _) if args.auto => Some(Edit::Pause(false)),
        (None, false, _) => None,
    })
}

pub async fn image_lookup(global: &GlobalArgs, args: SetImageLookupArgs) -> ExitCode {
    crate::cli::exit(image_lookup_inner(global, args).await)
}

/// An argument of `set image-lookup`: a stream, or a workload.
enum LookupTarget {
    Stream(String),
    Workload(WorkloadRef),
}

async fn image_lookup_inner(
    global: &GlobalArgs,
    args: SetImageLookupArgs,
) -> Result<ExitCode, CmdError> {
    let targets: Vec<LookupTarget> = args
        .names
        .iter()
        .map(|n| {
            if n.contains('/') {
                resource::parse(n, &Kind::ALL).map(LookupTarget::Workload)
            } else {
                check_stream(n).map(|()| LookupTarget::Stream(n.clone()))
            }
        })
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    let enabled = args.enabled;
    let mut apply = |obj: &Value, kind: Kind| {
        image_lookup::set_workload(obj, kind, enabled).map(|v| (v, Vec::new()))
    };
    if let Some(file) = &args.file {
        let wanted: Vec<&WorkloadRef> = targets
            .iter()
            .filter_map(|t| match t {
                LookupTarget::Workload(w) => Some(w),
                LookupTarget::Stream(_) => None,
            })
            .collect();
        if wanted.len() != targets.len() {
            return Err(bad(
                "with -f, name workloads as TYPE/NAME: streams are edited where they live (without -f)",
            ));
        }
        let (text, _) = match wanted.as_slice() {
            [] => edit_file(file, None, &Kind::ALL, &mut apply)?,
            [one] => edit_file(file, Some(one), &Kind::ALL, &mut apply)?,
            _ => {
                return Err(bad(
                    "with -f, name at most one workload (or none: all of the file)",
                ));
            }
        };
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let ctx = connect(global).await?;
    if targets.is_empty() {
        print!("{}", stream_table(&ctx).await?);
        return Ok(ExitCode::SUCCESS);
    }
    for t in &targets {
        match t {
            LookupTarget::Stream(name) => set_stream(&ctx, name, enabled).await?,
            LookupTarget::Workload(w) => {
                if matches!(ctx.target, Target::Dir(_)) {
                    return Err(bad(needs_workload("set image-lookup TYPE/NAME")));
                }
                patch_workload(&ctx, w, "image lookup", &mut apply).await?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn set_stream(ctx: &Ctx, name: &str, enabled: bool) -> Result<(), CmdError> {
    let ns = &ctx.namespace;
    let stored = ctx
        .load(name)
        .await?
        .ok_or_else(|| CmdError::Failed(format!("imagestream {ns}/{name} not found")))?;
    let mut stream = stored.stream.clone();
    if image_lookup::set_stream(&mut stream.spec, enabled) {
        ctx.save_spec(Some(stored), stream).await?;
        println!("imagestream.image.openshift.io/{name} image lookup updated");
    } else {
        println!("imagestream.image.openshift.io/{name} image lookup unchanged (local: {enabled})");
    }
    Ok(())
}

/// `NAME LOCAL` for every stream of the namespace.
async fn stream_table(ctx: &Ctx) -> Result<String, CmdError> {
    let ns = ctx.namespace.as_str();
    let mut rows: Vec<[String; 2]> = match &ctx.target {
        Target::Dir(dir) => read_dir(dir, true)?
            .streams()
            .filter(|e| &*e.namespace == ns)
            .map(|e| [e.name.to_string(), local(&e.head.spec).to_string()])
            .collect(),
        Target::Api(client) => cluster::list_streams(client, Some(ns))
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .map(|s| {
                [
                    s.metadata.name.clone().unwrap_or_default(),
                    local(&s.spec).to_string(),
                ]
            })
            .collect(),
    };
    rows.sort();
    Ok(table(&["NAME", "LOCAL"], &rows))
}

fn local(spec: &imagestream_core::stream::ImageStreamSpec) -> bool {
    spec.lookup_policy
        .as_ref()
        .and_then(|p| p.local)
        .unwrap_or(false)
}

/// Columns two spaces apart, as oc's tables.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// Applies `edit` to the workloads of `file` (of `kinds`; only `wanted` when
/// given) and returns the whole input with those documents rewritten, and
/// the notes. Nothing matching is an error, as a typo would otherwise print
/// the file back unchanged.
fn edit_file(
    file: &str,
    wanted: Option<&WorkloadRef>,
    kinds: &[Kind],
    edit: &mut ObjectEdit<'_>,
) -> Result<(String, Vec<String>), CmdError> {
    let text = read_input(file)?;
    let mut notes = Vec::new();
    let mut matched = 0usize;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let mut value: Value = serde_json::from_str(trimmed)
            .map_err(|e| bad(format!("{file}: not valid JSON: {e}")))?;
        edit_object(&mut value, wanted, kinds, edit, &mut matched, &mut notes)?;
        check_matched(file, wanted, matched)?;
        let out = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())? + "\n";
        return Ok((out, notes));
    }
    let docs = yaml_documents(&text).map_err(|e| bad(format!("{file}: {e}")))?;
    let mut out = String::with_capacity(text.len() + 256);
    let mut at = 0;
    for doc in docs {
        let mut value = doc.value.clone();
        edit_object(&mut value, wanted, kinds, edit, &mut matched, &mut notes)
            .map_err(|e| prefix(&format!("{file}: document at line {}", doc.line), e))?;
        if value != doc.value {
            out.push_str(&text[at..doc.span.start]);
            out.push_str(&rewritten(&text, doc.span.clone(), &value).map_err(CmdError::Failed)?);
            at = doc.span.end;
        }
    }
    out.push_str(&text[at..]);
    check_matched(file, wanted, matched)?;
    Ok((out, notes))
}

fn prefix(at: &str, e: CmdError) -> CmdError {
    match e {
        CmdError::BadInput(m) => CmdError::BadInput(format!("{at}: {m}")),
        CmdError::Failed(m) => CmdError::Failed(format!("{at}: {m}")),
    }
}

fn check_matched(file: &str, wanted: Option<&WorkloadRef>, matched: usize) -> Result<(), CmdError> {
    match (matched, wanted) {
        (0, Some(w)) => Err(CmdError::Failed(format!(
            "{file} holds no {}",
            resource::shown(w.kind, &w.name)
        ))),
        (0, None) => Err(CmdError::Failed(format!(
            "{file} holds no workload this command edits"
        ))),
        _ => Ok(()),
    }
}

/// One object, and the items of a `List`.
fn edit_object(
    value: &mut Value,
    wanted: Option<&WorkloadRef>,
    kinds: &[Kind],
    edit: &mut ObjectEdit<'_>,
    matched: &mut usize,
    notes: &mut Vec<String>,
) -> Result<(), CmdError> {
    if value.get("kind").and_then(Value::as_str) == Some("List") {
        if let Some(Value::Array(items)) = value.get_mut("items") {
            for item in items {
                edit_object(item, wanted, kinds, edit, matched, notes)?;
            }
        }
        return Ok(());
    }
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind_name = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(kind) = Kind::from_group_kind(group, kind_name).filter(|k| kinds.contains(k)) else {
        return Ok(());
    };
    let name = value.pointer("/metadata/name").and_then(Value::as_str);
    if let Some(w) = wanted
        && (w.kind != kind || name != Some(w.name.as_str()))
    {
        return Ok(());
    }
    *matched += 1;
    let id = object_id(value);
    let (new, more) = edit(value, kind).map_err(|e| CmdError::Failed(format!("{id}: {e}")))?;
    notes.extend(more.into_iter().map(|n| format!("{id}: {n}")));
    *value = new;
    Ok(())
}

fn api_resource(kind: Kind) -> ApiResource {
    let (group, version) = kind
        .api_version()
        .split_once('/')
        .unwrap_or(("", kind.api_version()));
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind.as_str()))
}

fn workload_error(e: kube::Error, ctx: &Ctx, w: &WorkloadRef) -> CmdError {
    let shown = resource::shown(w.kind, &w.name);
    match e {
        kube::Error::Api(s) if s.code == 404 => {
            CmdError::Failed(format!("{shown} not found in namespace {}", ctx.namespace))
        }
        kube::Error::Api(s) if s.code == 409 => CmdError::Failed(format!(
            "{shown} changed while it was being updated; run the command again"
        )),
        other => CmdError::Failed(format!("{shown}: {other}")),
    }
}

async fn get_workload(ctx: &Ctx, w: &WorkloadRef) -> Result<Value, CmdError> {
    let Target::Api(client) = &ctx.target else {
        return Err(bad(needs_workload("this command")));
    };
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ctx.namespace, &api_resource(w.kind));
    let obj = api
        .get(&w.name)
        .await
        .map_err(|e| workload_error(e, ctx, w))?;
    serde_json::to_value(&obj).map_err(|e| CmdError::Failed(e.to_string()))
}

/// Reads the workload, applies `edit`, and sends the difference as a JSON
/// patch that first tests the resourceVersion read.
async fn patch_workload(
    ctx: &Ctx,
    w: &WorkloadRef,
    what: &str,
    edit: &mut ObjectEdit<'_>,
) -> Result<(), CmdError> {
    let Target::Api(client) = &ctx.target else {
        return Err(bad(needs_workload("this command")));
    };
    let old = get_workload(ctx, w).await?;
    let shown = resource::shown(w.kind, &w.name);
    let (new, notes) = edit(&old, w.kind).map_err(|e| CmdError::Failed(format!("{shown}: {e}")))?;
    for n in notes {
        eprintln!("note: {shown}: {n}");
    }
    if new == old {
        println!("{shown} {what} unchanged");
        return Ok(());
    }
    let version = old
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(Value::Null);
    let mut ops =
        vec![json!({"op": "test", "path": "/metadata/resourceVersion", "value": version})];
    let diff = serde_json::to_value(json_patch::diff(&old, &new))
        .map_err(|e| CmdError::Failed(e.to_string()))?;
    ops.extend(diff.as_array().cloned().unwrap_or_default());
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(ops)).map_err(|e| CmdError::Failed(e.to_string()))?;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ctx.namespace, &api_resource(w.kind));
    api.patch(&w.name, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .map_err(|e| workload_error(e, ctx, w))?;
    println!("{shown} {what} updated");
    Ok(())
}
