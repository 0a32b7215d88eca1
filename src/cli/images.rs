//! `import-image`, `tag` and `describe`: change a stream's spec, import now,
//! and show the result, in the streams directory or the cluster.

use std::process::ExitCode;

use imagestream_core::reference::{ImageRef, is_sha256_digest};
use imagestream_core::stream::{
    FROM_KIND_DOCKER_IMAGE, FROM_KIND_IMAGE_STREAM_IMAGE, FROM_KIND_IMAGE_STREAM_TAG, ImageStream,
    ImageStreamSpec, ObjectReference, TagImportPolicy, TagReference, TagReferencePolicy,
    TagReferencePolicyType,
};

use crate::cli::args::{GlobalArgs, ImportImageArgs, ReferencePolicy, TagArgs};
use crate::cli::streams::{Ctx, Target, api_error, blocking, connect};
use crate::cli::{CmdError, bad};
use crate::importer::controller::Imported;
use crate::store::cluster;
use crate::store::directory::write;

/// `NAME[:TAG]` → (NAME, TAG).
fn name_and_tag(s: &str) -> Result<(String, String), CmdError> {
    let (name, tag) = match s.split_once(':') {
        Some((n, t)) => (n, t),
        None => (s, "latest"),
    };
    let valid_name = valid_stream_name(name);
    let valid_tag = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !valid_name {
        return Err(bad(format!(
            "{s:?}: the stream name must be a lowercase Kubernetes name"
        )));
    }
    if !valid_tag {
        return Err(bad(format!(
            "{s:?}: the tag must be letters, digits, '_', '-' or '.'"
        )));
    }
    Ok((name.to_owned(), tag.to_owned()))
}

/// `NAME:TAG` of `tag -d`: the tag is never implied, since a delete takes
/// the tag's whole history with it.
fn delete_target(s: &str) -> Result<(String, String), CmdError> {
    if !s.contains(':') {
        return Err(bad(format!(
            "tag -d needs NAME:TAG, e.g. {s}:latest; {s:?} names no tag, and a delete is never implied"
        )));
    }
    name_and_tag(s)
}

fn valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

fn new_stream(ns: &str, name: &str) -> ImageStream {
    let mut is = ImageStream::new(name, ImageStreamSpec::default());
    is.metadata.namespace = Some(ns.to_owned());
    is
}

/// The generation a changed tag records: newer than anything the stream has seen.
fn next_generation(is: &ImageStream) -> i64 {
    let spec = is.spec_tags().iter().filter_map(|t| t.generation);
    let status = is.status_tags().iter().flat_map(|l| {
        l.items()
            .iter()
            .map(|i| i.generation)
            .chain(l.conditions().iter().map(|c| c.generation))
    });
    spec.chain(status)
        .chain(is.metadata.generation)
        .max()
        .unwrap_or(0)
        + 1
}

/// Sets (adds or replaces) a spec tag.
fn upsert_tag(is: &mut ImageStream, tag: TagReference) {
    let tags = is.spec.tags.get_or_insert_with(Vec::new);
    match tags.iter_mut().find(|t| t.name == tag.name) {
        Some(t) => *t = tag,
        None => tags.push(tag),
    }
}

fn tag_ref(
    name: &str,
    kind: &str,
    from: &str,
    generation: i64,
    import: Option<TagImportPolicy>,
    policy: Option<ReferencePolicy>,
) -> TagReference {
    TagReference {
        name: name.to_owned(),
        from: Some(ObjectReference {
            kind: Some(kind.into()),
            name: Some(from.into()),
            ..ObjectReference::default()
        }),
        generation: Some(generation),
        import_policy: import,
        reference_policy: policy.map(|p| TagReferencePolicy {
            type_: Some(match p {
                ReferencePolicy::Source => TagReferencePolicyType::Source,
                ReferencePolicy::Local => TagReferencePolicyType::Local,
            }),
        }),
        ..TagReference::default()
    }
}

fn import_policy(scheduled: bool, insecure: bool) -> Option<TagImportPolicy> {
    (scheduled || insecure).then(|| TagImportPolicy {
        scheduled: scheduled.then_some(true),
        insecure: insecure.then_some(true),
        ..TagImportPolicy::default()
    })
}

/// Prints the stream as `describe` does and the failures; exit 1 when any tag failed.
fn report(imported: &Imported) -> ExitCode {
    print!(
        "{}",
        imagestream_core::describe::describe(&imported.stream, jiff::Timestamp::now())
    );
    for (tag, reason, message) in &imported.failures {
        eprintln!("error: import of tag {tag} failed ({reason}): {message}");
    }
    if imported.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub async fn import_image(global: &GlobalArgs, args: ImportImageArgs) -> ExitCode {
    crate::cli::exit(import_image_inner(global, args).await)
}

async fn import_image_inner(
    global: &GlobalArgs,
    args: ImportImageArgs,
) -> Result<ExitCode, CmdError> {
    let (name, tag) = name_and_tag(&args.name)?;
    let ctx = connect(global).await?;
    let ns = ctx.namespace.clone();
    let stored = ctx.load(&name).await?;
    if stored.is_none() && !args.confirm {
        return Err(CmdError::Failed(format!(
            "imagestream {ns}/{name} does not exist; pass --confirm to create it"
        )));
    }
    let mut stream = stored
        .as_ref()
        .map(|s| s.stream.clone())
        .unwrap_or_else(|| new_stream(&ns, &name));
    let existing = stream.spec_tag(&tag).cloned();
    let from = match (&args.from, &existing) {
        (Some(from), _) => Some(from.clone()),
        (None, Some(t)) if t.from_kind() == Some(FROM_KIND_DOCKER_IMAGE) => None,
        (None, Some(_)) => {
            return Err(bad(format!(
                "tag {name}:{tag} does not come from a registry; pass --from IMAGE"
            )));
        }
        // As oc: a new stream without --from imports NAME:TAG from the default registry.
        (None, None) if stored.is_none() => Some(format!("{name}:{tag}")),
        (None, None) => {
            return Err(CmdError::Failed(format!(
                "imagestream {ns}/{name} has no tag {tag:?}; pass --from IMAGE to create it"
            )));
        }
    };
    let flags_changed =
        args.policy.scheduled || args.policy.insecure || args.policy.reference_policy.is_some();
    let stored = if from.is_some() || flags_changed || stored.is_none() {
        let image = match &from {
            Some(f) => f.clone(),
            None => existing
                .as_ref()
                .and_then(|t| t.from_name())
                .unwrap_or_default()
                .to_owned(),
        };
        ImageRef::parse(&image).map_err(|e| bad(format!("--from {image:?}: {e}")))?;
        let keep_import = existing.as_ref().and_then(|t| t.import_policy.clone());
        let import = import_policy(args.policy.scheduled, args.policy.insecure)
            .or(if from.is_some() { None } else { keep_import });
        let policy = args.policy.reference_policy.or_else(|| {
            existing
                .as_ref()
                .and_then(|t| t.reference_policy.as_ref())
                .and_then(|p| p.type_.as_ref())
                .map(|t| match t {
                    TagReferencePolicyType::Local => ReferencePolicy::Local,
                    TagReferencePolicyType::Source => ReferencePolicy::Source,
                })
        });
        let generation = next_generation(&stream);
        upsert_tag(
            &mut stream,
            tag_ref(
                &tag,
                FROM_KIND_DOCKER_IMAGE,
                &image,
                generation,
                import,
                policy,
            ),
        );
        ctx.save_spec(stored, stream).await?
    } else {
        stored.ok_or("imagestream vanished")?
    };
    let imported = ctx.import(&stored, std::slice::from_ref(&tag)).await?;
    Ok(report(&imported))
}

pub async fn tag(global: &GlobalArgs, args: TagArgs) -> ExitCode {
    crate::cli::exit(tag_inner(global, args).await)
}

async fn tag_inner(global: &GlobalArgs, args: TagArgs) -> Result<ExitCode, CmdError> {
    if args.delete {
        if args.dest.is_some() {
            return Err(bad("tag -d takes one NAME:TAG"));
        }
        let (name, tag) = delete_target(&args.source)?;
        let ctx = connect(global).await?;
        return delete_tag(&ctx, &name, &tag).await;
    }
    let dest = args
        .dest
        .as_deref()
        .ok_or_else(|| bad("tag needs SOURCE and DEST (STREAM:TAG), or -d NAME:TAG"))?;
    let (dest_name, dest_tag) = name_and_tag(dest)?;
    let ctx = connect(global).await?;
    let ns = ctx.namespace.clone();
    let source = parse_source(&ctx, &args.source, args.alias).await?;
    let stored = ctx.load(&dest_name).await?;
    let mut stream = stored
        .as_ref()
        .map(|s| s.stream.clone())
        .unwrap_or_else(|| new_stream(&ns, &dest_name));
    let generation = next_generation(&stream);
    let (kind, from) = match &source {
        TagSource::Registry(image) => (FROM_KIND_DOCKER_IMAGE, image.clone()),
        TagSource::Alias(s, t) => (FROM_KIND_IMAGE_STREAM_TAG, format!("{s}:{t}")),
        TagSource::Pin(s, d) => (FROM_KIND_IMAGE_STREAM_IMAGE, format!("{s}@{d}")),
    };
    let import = match source {
        TagSource::Registry(_) => import_policy(args.policy.scheduled, args.policy.insecure),
        _ => None,
    };
    upsert_tag(
        &mut stream,
        tag_ref(
            &dest_tag,
            kind,
            &from,
            generation,
            import,
            args.policy.reference_policy,
        ),
    );
    let stored = ctx.save_spec(stored, stream).await?;
    let imported = ctx.import(&stored, std::slice::from_ref(&dest_tag)).await?;
    let current = imported
        .stream
        .status_tag(&dest_tag)
        .and_then(|t| t.latest())
        .map(|i| i.docker_image_reference.clone());
    match current {
        Some(image) if imported.failures.is_empty() => {
            println!("Tag {dest_name}:{dest_tag} set to {from} ({image}).");
            Ok(ExitCode::SUCCESS)
        }
        _ => Ok(report(&imported)),
    }
}

enum TagSource {
    Registry(String),
    Alias(String, String),
    Pin(String, String),
}

/// A stream of the namespace (`STREAM:TAG`, `STREAM@sha256:…`) when one of
/// that name exists, else a registry image.
async fn parse_source(ctx: &Ctx, source: &str, alias: bool) -> Result<TagSource, CmdError> {
    let parsed = ImageRef::parse(source).map_err(|e| bad(format!("SOURCE {source:?}: {e}")))?;
    let stream_like = parsed.registry().is_none() && !parsed.repository().contains('/');
    let stream = if stream_like {
        ctx.load(parsed.repository()).await?
    } else {
        None
    };
    let Some(stream) = stream else {
        if alias {
            return Err(bad(format!(
                "--alias needs a stream tag as SOURCE; imagestream {}/{} not found",
                ctx.namespace,
                parsed.repository()
            )));
        }
        return Ok(TagSource::Registry(source.to_owned()));
    };
    let name = parsed.repository().to_owned();
    if let Some(digest) = parsed.digest() {
        if !is_sha256_digest(digest) {
            return Err(bad(format!("{digest:?} is not a sha256 digest")));
        }
        if imagestream_core::import::find_image(&stream.stream, digest).is_none() {
            return Err(CmdError::Failed(format!(
                "imagestream {}/{name} has no image {digest} in its history",
                ctx.namespace
            )));
        }
        return Ok(TagSource::Pin(name, digest.to_owned()));
    }
    let tag = parsed.tag().unwrap_or("latest").to_owned();
    if alias {
        return Ok(TagSource::Alias(name, tag));
    }
    // Without --alias the tag is pinned to the source's current image, as oc does.
    let current = stream
        .stream
        .status_tag(&tag)
        .and_then(|t| t.latest())
        .map(|i| i.image.to_string())
        .ok_or_else(|| {
            format!("{name}:{tag} has no image yet; import it first, or use --alias to follow it")
        })?;
    Ok(TagSource::Pin(name, current))
}

async fn delete_tag(ctx: &Ctx, name: &str, tag: &str) -> Result<ExitCode, CmdError> {
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
    Ok(ExitCode::SUCCESS)
}

pub async fn describe(global: &GlobalArgs, name: &str) -> ExitCode {
    crate::cli::exit(describe_inner(global, name).await)
}

async fn describe_inner(global: &GlobalArgs, name: &str) -> Result<ExitCode, CmdError> {
    if name.contains([':', '@']) {
        return Ok(crate::cli::records::describe(global, name).await);
    }
    if !valid_stream_name(name) {
        return Err(bad(format!(
            "{name:?}: the stream name must be a lowercase Kubernetes name"
        )));
    }
    let ctx = connect(global).await?;
    let stored = ctx
        .load(name)
        .await?
        .ok_or_else(|| format!("imagestream {}/{name} not found", ctx.namespace))?;
    print!(
        "{}",
        imagestream_core::describe::describe(&stored.stream, jiff::Timestamp::now())
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags() {
        assert_eq!(name_and_tag("app"), Ok(("app".into(), "latest".into())));
        assert_eq!(name_and_tag("app:1.0"), Ok(("app".into(), "1.0".into())));
        assert!(name_and_tag("App").is_err());
        assert!(name_and_tag("a/b").is_err());
        assert!(name_and_tag("app:").is_err());
        assert!(name_and_tag("app:a b").is_err());
    }

    #[test]
    fn generations_only_grow() {
        let mut is = new_stream("ns", "s");
        assert_eq!(next_generation(&is), 1);
        upsert_tag(
            &mut is,
            tag_ref("t", FROM_KIND_DOCKER_IMAGE, "quay.io/a/b:1", 5, None, None),
        );
        assert_eq!(next_generation(&is), 6);
        upsert_tag(
            &mut is,
            tag_ref("t", FROM_KIND_DOCKER_IMAGE, "quay.io/a/b:2", 6, None, None),
        );
        assert_eq!(is.spec_tags().len(), 1);
    }
}
