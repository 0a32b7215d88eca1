//! `import-image NAME --all`: every tag of a repository (`--from REPO`), at
//! most `import.maxImagesBulkImportedPerRepository` of them in OpenShift's
//! order, or every registry tag the stream already has.

use std::process::ExitCode;

use imagestream_core::import::bulk;
use imagestream_core::reference::ImageRef;
use imagestream_core::stream::FROM_KIND_DOCKER_IMAGE;

use crate::cli::args::{GlobalArgs, ImportImageArgs};
use crate::cli::images::{
    import_policy, new_stream, next_generation, reference_policy_of, report, tag_ref, upsert_tag,
    valid_stream_name,
};
use crate::cli::streams::connect;
use crate::cli::{CmdError, bad};

/// Left-out tags named on stderr; the rest are counted.
const LEFT_OUT_LISTED: usize = 50;

pub async fn import_all(global: &GlobalArgs, args: ImportImageArgs) -> ExitCode {
    crate::cli::exit(import_all_inner(global, args).await)
}

async fn import_all_inner(
    global: &GlobalArgs,
    args: ImportImageArgs,
) -> Result<ExitCode, CmdError> {
    let name = args.name.as_str();
    if !valid_stream_name(name) {
        return Err(bad(format!(
            "{name:?}: --all imports whole repositories into a stream: name the stream alone (a lowercase Kubernetes name, no :TAG)"
        )));
    }
    let ctx = connect(global).await?;
    let ns = ctx.namespace.clone();
    let stored = ctx.load(name).await?;
    if stored.is_none() && !args.confirm {
        return Err(CmdError::Failed(format!(
            "imagestream {ns}/{name} does not exist; pass --confirm to create it"
        )));
    }
    let mut stream = stored
        .as_ref()
        .map(|s| s.stream.clone())
        .unwrap_or_else(|| new_stream(&ns, name));
    let Some(from) = &args.from else {
        let p = &args.policy;
        if p.scheduled || p.insecure || p.import_mode.is_some() || p.reference_policy.is_some() {
            return Err(bad(
                "--all without --from re-imports each tag as its spec says; set --scheduled, --insecure, --import-mode or --reference-policy per tag (import-image NAME:TAG ...), or pass --from REPO",
            ));
        }
        // As oc: every tag of the stream that comes from a registry, again.
        let tags: Vec<String> = stream
            .spec_tags()
            .iter()
            .filter(|t| t.from_kind() == Some(FROM_KIND_DOCKER_IMAGE) && !t.is_reference())
            .map(|t| t.name.clone())
            .collect();
        let stored = stored.ok_or_else(|| {
            bad(format!(
                "imagestream {ns}/{name} does not exist; --all without --from re-imports a stream's tags"
            ))
        })?;
        if tags.is_empty() {
            return Err(CmdError::Failed(format!(
                "imagestream {ns}/{name} has no tags from a registry; pass --from REPO"
            )));
        }
        return Ok(report(&ctx.import(&stored, &tags).await?));
    };
    let parsed = ImageRef::parse(from).map_err(|e| bad(format!("--from {from:?}: {e}")))?;
    if parsed.digest().is_some() || parsed.tag().is_some() {
        return Err(bad(format!(
            "--from {from:?}: with --all, name the repository without a tag or digest"
        )));
    }
    let (repo, tags) = ctx.list_tags(from, args.policy.insecure).await?;
    let limit = usize::try_from(ctx.config.import.max_images_bulk_imported_per_repository).ok();
    let selection = bulk::select(&tags, limit);
    if selection.chosen.is_empty() {
        return Err(CmdError::Failed(format!(
            "repository {repo} has no tags to import"
        )));
    }
    let policy = args.policy.reference_policy;
    let import = import_policy(&args.policy);
    for tag in &selection.chosen {
        let keep_policy = policy.or_else(|| stream.spec_tag(tag).and_then(reference_policy_of));
        let generation = next_generation(&stream);
        upsert_tag(
            &mut stream,
            tag_ref(
                tag,
                FROM_KIND_DOCKER_IMAGE,
                &format!("{repo}:{tag}"),
                generation,
                import.clone(),
                keep_policy,
            ),
        );
    }
    let stored = ctx.save_spec(stored, stream).await?;
    let imported = ctx.import(&stored, &selection.chosen).await?;
    let code = report(&imported);
    if !selection.left_out.is_empty() {
        let count = selection.left_out.len();
        let mut names = selection
            .left_out
            .iter()
            .take(LEFT_OUT_LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if count > LEFT_OUT_LISTED {
            names.push_str(&format!(" and {} more", count - LEFT_OUT_LISTED));
        }
        eprintln!(
            "info: repository {repo} has {count} more tags that were not imported, since import.maxImagesBulkImportedPerRepository is {} (raise it, or set -1 for no limit, or import a tag by name): {names}",
            ctx.config.import.max_images_bulk_imported_per_repository
        );
    }
    Ok(code)
}
