//! `tag [--source=KIND] SOURCE DEST…` and `tag -d DEST…`, as `oc tag`: the
//! grammar is `imagestream_core::openshift::tag_source`'s; this module reads
//! the streams, checks access and writes each DEST.
//!
//! A SOURCE stream of another namespace is used only when the `default`
//! service account of the DEST's namespace may use it (a tag makes its image
//! usable by every service account there), checked before anything is
//! written; the importer checks it again on every pass.

use std::process::ExitCode;

use imagestream_core::access::{AccessDecision, AccessPort as _, ServiceAccount};
use imagestream_core::openshift::tag_source::{
    Resolved, SourceKind, TagDest, TagFlags, TagSource, check_flags, parse_dest, parse_source,
    spec_tag,
};
use imagestream_core::stream::resolve::StreamName;
use imagestream_core::stream::snapshot::Snapshot;

use crate::cli::args::{GlobalArgs, TagArgs};
use crate::cli::images::{new_stream, next_generation, report, upsert_tag};
use crate::cli::streams::{Ctx, Target, api_error, blocking, connect, read_dir};
use crate::cli::{CmdError, bad};
use crate::store::cluster;
use crate::store::directory::write;

/// At most this many DESTs in one command: each is a write and an import.
const MAX_DESTS: usize = 64;

pub async fn run(global: &GlobalArgs, args: TagArgs) -> ExitCode {
    crate::cli::exit(tag(global, args).await)
}

async fn tag(global: &GlobalArgs, args: TagArgs) -> Result<ExitCode, CmdError> {
    if args.delete {
        if args.source.is_some() || args.alias || args.reference {
            return Err(bad(
                "tag -d deletes tags: --source, --alias and --reference do not apply",
            ));
        }
        if args.args.is_empty() {
            return Err(bad("tag -d needs at least one [NS/]STREAM:TAG to delete"));
        }
        let dests = dests(&args.args, true)?;
        let ctx = connect(global).await?;
        for d in &dests {
            let ns = d.namespace.as_deref().unwrap_or(&ctx.namespace);
            delete_tag(&ctx.in_namespace(ns), &d.stream, &d.tag).await?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some((source, dest_args)) = args.args.split_first().filter(|(_, d)| !d.is_empty()) else {
        return Err(bad(
            "tag needs SOURCE and at least one DEST ([NS/]STREAM:TAG), or -d [NS/]STREAM:TAG…",
        ));
    };
    let forced = args
        .source
        .as_deref()
        .map(SourceKind::parse)
        .transpose()
        .map_err(bad)?;
    let parsed = parse_source(source, forced).map_err(bad)?;
    let flags = TagFlags {
        alias: args.alias,
        reference: args.reference,
        scheduled: args.policy.scheduled,
        insecure: args.policy.insecure,
        reference_policy: args
            .policy
            .reference_policy
            .map(super::images::reference_policy_type),
        import_mode: args.policy.import_mode.map(super::images::import_mode),
    };
    check_flags(&parsed, &flags).map_err(bad)?;
    if flags.reference && !matches!(parsed, TagSource::Registry(_)) {
        return Err(bad(
            "--reference points a tag at a registry image without importing it; this SOURCE is a stream's",
        ));
    }
    let dests = dests(dest_args, false)?;
    let ctx = connect(global).await?;
    let resolved = resolve(&ctx, source, &parsed, flags.alias).await?;
    // Every DEST is checked before any is written.
    for d in &dests {
        let dest_ns = d.namespace.as_deref().unwrap_or(&ctx.namespace);
        check_access(&ctx.in_namespace(dest_ns), d, &resolved).await?;
    }
    for d in &dests {
        let dest_ns = d.namespace.as_deref().unwrap_or(&ctx.namespace);
        let code = set_tag(&ctx.in_namespace(dest_ns), d, &resolved, &flags).await?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every DEST read before anything is written: one bad DEST changes nothing.
fn dests(args: &[String], delete: bool) -> Result<Vec<TagDest>, CmdError> {
    if args.len() > MAX_DESTS {
        return Err(bad(format!(
            "{} tags in one command; at most {MAX_DESTS}",
            args.len()
        )));
    }
    args.iter()
        .map(|a| {
            if delete && !a.contains(':') {
                // A delete takes the tag's whole history: it is never implied.
                return Err(bad(format!(
                    "tag -d needs NAME:TAG, e.g. {a}:latest; {a:?} names no tag, and a delete is never implied"
                )));
            }
            parse_dest(a).map_err(bad)
        })
        .collect()
}

/// What SOURCE points at now: a stream tag is pinned to its current image
/// (followed with `--alias`), a history item must exist.
async fn resolve(
    ctx: &Ctx,
    typed: &str,
    source: &TagSource,
    alias: bool,
) -> Result<Resolved, CmdError> {
    let (namespace, stream) = match source {
        TagSource::Registry(image) => return Ok(Resolved::Registry(image.clone())),
        TagSource::StreamTag {
            namespace, stream, ..
        }
        | TagSource::StreamImage {
            namespace, stream, ..
        } => (
            namespace.clone().unwrap_or_else(|| ctx.namespace.clone()),
            stream.clone(),
        ),
    };
    let Some(stored) = ctx.in_namespace(&namespace).load(&stream).await? else {
        return Err(CmdError::Failed(format!(
            "imagestream {namespace}/{stream} not found (SOURCE {typed:?} names a stream tag; for a registry image write its registry, e.g. docker.io/{typed}, or pass --source=docker)"
        )));
    };
    match source {
        TagSource::StreamImage { digest, .. } => {
            if imagestream_core::import::find_image(&stored.stream, digest).is_none() {
                return Err(CmdError::Failed(format!(
                    "imagestream {namespace}/{stream} has no image {digest} in its history"
                )));
            }
            Ok(Resolved::Pin {
                namespace,
                stream,
                digest: digest.clone(),
            })
        }
        TagSource::StreamTag { tag, .. } if alias => Ok(Resolved::Alias {
            namespace,
            stream,
            tag: tag.clone(),
        }),
        TagSource::StreamTag { tag, .. } => {
            // As oc: without --alias the tag is pinned to the source's current image.
            let digest = stored
                .stream
                .status_tag(tag)
                .and_then(|t| t.latest())
                .map(|i| i.image.to_string())
                .ok_or_else(|| {
                    format!(
                        "{namespace}/{stream}:{tag} has no image yet; import it first, or use --alias to follow it"
                    )
                })?;
            Ok(Resolved::Pin {
                namespace,
                stream,
                digest,
            })
        }
        TagSource::Registry(image) => Ok(Resolved::Registry(image.clone())),
    }
}

/// Refuses a source stream the DEST's namespace may not use.
async fn check_access(ctx: &Ctx, dest: &TagDest, source: &Resolved) -> Result<(), CmdError> {
    let Some((src_ns, src_stream)) = source.stream() else {
        return Ok(());
    };
    let ns = ctx.namespace.as_str();
    if src_ns == ns {
        return Ok(());
    }
    let snap = match &ctx.target {
        Target::Dir(dir) => read_dir(dir, false)?,
        // SubjectAccessReviews need no streams.
        Target::Api(_) => Snapshot::default(),
    };
    let sa = ServiceAccount {
        namespace: ns,
        name: "default",
    };
    let stream = StreamName {
        namespace: src_ns,
        name: src_stream,
    };
    match ctx.access().check(&snap, sa, stream).await {
        AccessDecision::Allowed => Ok(()),
        AccessDecision::Denied(why) => Err(CmdError::Failed(format!(
            "Forbidden: tag {ns}/{}:{} may not point at imagestream {stream}, because a tag lets every service account of {ns} use it: {why}; nothing was written",
            dest.stream, dest.tag
        ))),
    }
}

/// Writes one DEST (in `ctx`'s namespace) and imports it now.
async fn set_tag(
    ctx: &Ctx,
    dest: &TagDest,
    source: &Resolved,
    flags: &TagFlags,
) -> Result<ExitCode, CmdError> {
    let ns = ctx.namespace.clone();
    let stored = ctx.load(&dest.stream).await?;
    let mut stream = stored
        .as_ref()
        .map(|s| s.stream.clone())
        .unwrap_or_else(|| new_stream(&ns, &dest.stream));
    let generation = next_generation(&stream);
    upsert_tag(
        &mut stream,
        spec_tag(&dest.tag, source, &ns, generation, flags),
    );
    let stored = ctx.save_spec(stored, stream).await?;
    let shown_dest = if dest.namespace.is_some() {
        format!("{ns}/{}:{}", dest.stream, dest.tag)
    } else {
        format!("{}:{}", dest.stream, dest.tag)
    };
    let shown_source = source.shown(&ns);
    if flags.reference {
        println!("Tag {shown_dest} set to {shown_source} (a reference: never imported).");
        return Ok(ExitCode::SUCCESS);
    }
    let imported = ctx.import(&stored, std::slice::from_ref(&dest.tag)).await?;
    let current = imported
        .stream
        .status_tag(&dest.tag)
        .and_then(|t| t.latest())
        .map(|i| i.docker_image_reference.clone());
    match current {
        Some(image) if imported.failures.is_empty() => {
            println!("Tag {shown_dest} set to {shown_source} ({image}).");
            Ok(ExitCode::SUCCESS)
        }
        _ => Ok(report(&imported)),
    }
}

async fn delete_tag(ctx: &Ctx, name: &str, tag: &str) -> Result<(), CmdError> {
    let ns = ctx.namespace.clone();
    let stored = ctx
        .load(name)
        .await?
        .ok_or_else(|| format!("imagestream {ns}/{name} not found"))?;
    let mut stream = stored.stream.clone();
    let had_spec = stream.spec_tag(tag).is_some();
    let had_status = stream.status_tag(tag).is_some();
    if !had_spec && !had_status {
        return Err(CmdError::Failed(format!(
            "imagestream {ns}/{name} has no tag {tag:?}"
        )));
    }
    if let Some(tags) = &mut stream.spec.tags {
        tags.retain(|t| t.name != tag);
    }
    let mut status = stream.status.clone().unwrap_or_default();
    if let Some(tags) = &mut status.tags {
        tags.retain(|t| t.tag != tag);
    }
    let stored = ctx.save_spec(Some(stored), stream).await?;
    if had_status {
        match &ctx.target {
            Target::Dir(_) => {
                let path = stored.origin.clone().ok_or("the stream has no file")?;
                let (n, s) = (ns.clone(), name.to_owned());
                blocking(move || write::set_stream_field(&path, &n, &s, "status", &status)).await?;
            }
            Target::Api(client) => {
                let version = stored.stream.metadata.resource_version.as_deref();
                cluster::apply_status(client, &ns, name, version, &status)
                    .await
                    .map_err(|e| api_error(e, &ns, name))?;
            }
        }
    }
    println!("Deleted tag {ns}/{name}:{tag}.");
    Ok(())
}
