//! `import-image` and `describe` (`tag` is in `tag.rs`): change a stream's spec, import now,
//! and show the result, in the streams directory or the cluster.

use std::process::ExitCode;

use imagestream_core::reference::ImageRef;
use imagestream_core::stream::{
    FROM_KIND_DOCKER_IMAGE, ImageStream, ImageStreamSpec, ImportMode, ObjectReference,
    TagImportPolicy, TagReference, TagReferencePolicy, TagReferencePolicyType,
};

use crate::cli::args::{
    GlobalArgs, ImportImageArgs, ImportModeArg, ReferencePolicy, TagPolicyArgs,
};
use crate::cli::streams::connect;
use crate::cli::{CmdError, bad};
use crate::importer::controller::Imported;

/// `NAME[:TAG]` → (NAME, TAG).
pub(super) fn name_and_tag(s: &str) -> Result<(String, String), CmdError> {
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

pub(super) fn valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

pub(super) fn new_stream(ns: &str, name: &str) -> ImageStream {
    let mut is = ImageStream::new(name, ImageStreamSpec::default());
    is.metadata.namespace = Some(ns.to_owned());
    is
}

/// The generation a changed tag records: newer than anything the stream has seen.
pub(super) fn next_generation(is: &ImageStream) -> i64 {
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
pub(super) fn upsert_tag(is: &mut ImageStream, tag: TagReference) {
    let tags = is.spec.tags.get_or_insert_with(Vec::new);
    match tags.iter_mut().find(|t| t.name == tag.name) {
        Some(t) => *t = tag,
        None => tags.push(tag),
    }
}

pub(super) fn tag_ref(
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
            type_: Some(reference_policy_type(p)),
        }),
        ..TagReference::default()
    }
}

/// `--reference-policy` as the stream spells it.
pub(super) fn reference_policy_type(p: ReferencePolicy) -> TagReferencePolicyType {
    match p {
        ReferencePolicy::Source => TagReferencePolicyType::Source,
        ReferencePolicy::Local => TagReferencePolicyType::Local,
    }
}

/// The `--reference-policy` a spec tag has, kept when a flag does not set it.
pub(super) fn reference_policy_of(tag: &TagReference) -> Option<ReferencePolicy> {
    tag.reference_policy
        .as_ref()
        .and_then(|p| p.type_.as_ref())
        .map(|t| match t {
            TagReferencePolicyType::Local => ReferencePolicy::Local,
            TagReferencePolicyType::Source => ReferencePolicy::Source,
        })
}

/// `--import-mode` as the stream spells it.
pub(super) fn import_mode(arg: ImportModeArg) -> ImportMode {
    match arg {
        ImportModeArg::Legacy => ImportMode::Legacy,
        ImportModeArg::PreserveOriginal => ImportMode::PreserveOriginal,
    }
}

pub(super) fn import_policy(args: &TagPolicyArgs) -> Option<TagImportPolicy> {
    let mode = args.import_mode.map(import_mode);
    (args.scheduled || args.insecure || mode.is_some()).then(|| TagImportPolicy {
        scheduled: args.scheduled.then_some(true),
        insecure: args.insecure.then_some(true),
        import_mode: mode,
    })
}

/// Prints the stream as `describe` does and the failures; exit 1 when any tag failed.
pub(super) fn report(imported: &Imported) -> ExitCode {
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
    let flags_changed = args.policy.scheduled
        || args.policy.insecure
        || args.policy.reference_policy.is_some()
        || args.policy.import_mode.is_some();
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
        let import =
            import_policy(&args.policy).or(if from.is_some() { None } else { keep_import });
        let policy = args
            .policy
            .reference_policy
            .or_else(|| existing.as_ref().and_then(reference_policy_of));
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
