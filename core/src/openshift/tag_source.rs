//! `oc tag`'s grammar: what SOURCE and each DEST name, and the spec tag a
//! resolved source makes.
//!
//! As oc reads a SOURCE: a first `/`-separated component with `.` or `:`, or
//! equal to `localhost`, names a registry, and the whole SOURCE is then an
//! image of that registry; otherwise `[NS/]STREAM@sha256:…` is an image of a
//! stream's history, `[NS/]STREAM:TAG` a stream's tag, and a name with
//! neither (a bare `ruby`) a registry image. `--source` forces the reading.

use crate::reference::{ImageRef, is_sha256_digest};
use crate::stream::{
    FROM_KIND_DOCKER_IMAGE, FROM_KIND_IMAGE_STREAM_IMAGE, FROM_KIND_IMAGE_STREAM_TAG, ImportMode,
    ObjectReference, TagImportPolicy, TagReference, TagReferencePolicy, TagReferencePolicyType,
};

/// `--source`: how SOURCE is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    DockerImage,
    ImageStreamTag,
    ImageStreamImage,
}

impl SourceKind {
    /// oc's names (and their long forms), in any case.
    pub fn parse(s: &str) -> Result<SourceKind, String> {
        match s.to_ascii_lowercase().as_str() {
            "docker" | "dockerimage" => Ok(SourceKind::DockerImage),
            "istag" | "imagestreamtag" => Ok(SourceKind::ImageStreamTag),
            "isimage" | "imagestreamimage" => Ok(SourceKind::ImageStreamImage),
            _ => Err(format!(
                "invalid --source {s:?}; valid values are docker, dockerimage, imagestreamimage, imagestreamtag, isimage, istag"
            )),
        }
    }
}

/// What SOURCE names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSource {
    /// A registry image, `from.name` exactly as written.
    Registry(String),
    /// `[NS/]STREAM:TAG`; `namespace` is `None` when not written.
    StreamTag {
        namespace: Option<String>,
        stream: String,
        tag: String,
    },
    /// `[NS/]STREAM@sha256:…`.
    StreamImage {
        namespace: Option<String>,
        stream: String,
        digest: String,
    },
}

/// Reads SOURCE as oc does (see the module's doc).
pub fn parse_source(source: &str, forced: Option<SourceKind>) -> Result<TagSource, String> {
    let r = ImageRef::parse(source).map_err(|e| format!("invalid SOURCE {source:?}: {e}"))?;
    let kind = match forced {
        Some(k) => k,
        None if r.registry().is_some() => SourceKind::DockerImage,
        None if r.digest().is_some() => SourceKind::ImageStreamImage,
        None if r.tag().is_some() => SourceKind::ImageStreamTag,
        None => SourceKind::DockerImage,
    };
    if kind == SourceKind::DockerImage {
        return Ok(TagSource::Registry(source.to_owned()));
    }
    if let Some(host) = r.registry() {
        return Err(format!(
            "SOURCE {source:?} names registry {host}: a stream SOURCE is [NS/]STREAM:TAG or [NS/]STREAM@sha256:…; pass --source=docker for a registry image"
        ));
    }
    let (namespace, stream) = match r.repository().split_once('/') {
        Some((ns, stream)) => (Some(ns), stream),
        None => (None, r.repository()),
    };
    if let Some(ns) = namespace {
        check_namespace(ns).map_err(|why| format!("SOURCE {source:?}: {why}"))?;
    }
    check_stream(stream).map_err(|why| format!("SOURCE {source:?}: {why}"))?;
    let namespace = namespace.map(str::to_owned);
    let stream = stream.to_owned();
    match kind {
        SourceKind::ImageStreamImage => {
            let digest = r.digest().filter(|d| is_sha256_digest(d)).ok_or_else(|| {
                format!("SOURCE {source:?} is no image of a stream: write [NS/]STREAM@sha256:<64 hex digits>")
            })?;
            Ok(TagSource::StreamImage {
                namespace,
                stream,
                digest: digest.to_owned(),
            })
        }
        _ => {
            let tag = r.tag().ok_or_else(|| {
                format!("SOURCE {source:?} is no stream tag: write [NS/]STREAM:TAG")
            })?;
            Ok(TagSource::StreamTag {
                namespace,
                stream,
                tag: tag.to_owned(),
            })
        }
    }
}

/// One DEST: `[NS/]STREAM:TAG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDest {
    pub namespace: Option<String>,
    pub stream: String,
    pub tag: String,
}

/// Reads a DEST (or a tag to delete): the tag is never implied.
pub fn parse_dest(dest: &str) -> Result<TagDest, String> {
    let (namespace, rest) = match dest.split_once('/') {
        Some((ns, rest)) => (Some(ns), rest),
        None => (None, dest),
    };
    if rest.contains('/') {
        return Err(format!(
            "invalid DEST {dest:?}: write [NS/]STREAM:TAG, with at most one '/'"
        ));
    }
    if let Some(ns) = namespace {
        check_namespace(ns).map_err(|why| format!("DEST {dest:?}: {why}"))?;
    }
    let Some((stream, tag)) = rest.split_once(':') else {
        return Err(format!(
            "DEST {dest:?} names no tag: write {dest}:TAG (e.g. {dest}:latest)"
        ));
    };
    check_stream(stream).map_err(|why| format!("DEST {dest:?}: {why}"))?;
    check_tag(tag).map_err(|why| format!("DEST {dest:?}: {why}"))?;
    Ok(TagDest {
        namespace: namespace.map(str::to_owned),
        stream: stream.to_owned(),
        tag: tag.to_owned(),
    })
}

/// A stream's name: a lowercase Kubernetes name (DNS subdomain).
pub fn check_stream(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "stream name {name:?} is not a lowercase Kubernetes name"
        ))
    }
}

/// A namespace's name: a DNS label.
pub fn check_namespace(ns: &str) -> Result<(), String> {
    let valid = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && ns.starts_with(|c: char| c.is_ascii_alphanumeric())
        && ns.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "namespace {ns:?} is not a lowercase Kubernetes name"
        ))
    }
}

/// A tag: a word character, then up to 127 word characters, `.` or `-`.
pub fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let valid = tag.len() <= 128
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} must start with a letter, digit or '_', then letters, digits, '_', '.' or '-', at most 128 characters"
        ))
    }
}

/// A SOURCE after the streams were read: what the spec tag points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Registry(String),
    /// Follows the tag (`--alias`).
    Alias {
        namespace: String,
        stream: String,
        tag: String,
    },
    /// Pinned to an image of the stream's history.
    Pin {
        namespace: String,
        stream: String,
        digest: String,
    },
}

impl Resolved {
    /// The source's stream, when it is one.
    pub fn stream(&self) -> Option<(&str, &str)> {
        match self {
            Resolved::Registry(_) => None,
            Resolved::Alias {
                namespace, stream, ..
            }
            | Resolved::Pin {
                namespace, stream, ..
            } => Some((namespace, stream)),
        }
    }

    /// As oc prints it: `[NS/]` when the source is in another namespace than `dest_ns`.
    pub fn shown(&self, dest_ns: &str) -> String {
        let prefix = |ns: &str| {
            if ns == dest_ns {
                String::new()
            } else {
                format!("{ns}/")
            }
        };
        match self {
            Resolved::Registry(image) => image.clone(),
            Resolved::Alias {
                namespace,
                stream,
                tag,
            } => format!("{}{stream}:{tag}", prefix(namespace)),
            Resolved::Pin {
                namespace,
                stream,
                digest,
            } => format!("{}{stream}@{digest}", prefix(namespace)),
        }
    }
}

/// How the tag is imported and referenced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TagFlags {
    pub alias: bool,
    pub reference: bool,
    pub scheduled: bool,
    pub insecure: bool,
    pub reference_policy: Option<TagReferencePolicyType>,
    /// `--import-mode`: which digest of a multi-platform image is pinned.
    pub import_mode: Option<ImportMode>,
}

/// The flags that only some sources take, checked before anything is read.
pub fn check_flags(source: &TagSource, flags: &TagFlags) -> Result<(), String> {
    if flags.alias && !matches!(source, TagSource::StreamTag { .. }) {
        return Err("--alias follows a stream tag: SOURCE must be [NS/]STREAM:TAG".into());
    }
    let imports = flags.scheduled || flags.insecure || flags.import_mode.is_some();
    if imports && !matches!(source, TagSource::Registry(_)) {
        return Err(
            "--scheduled, --insecure and --import-mode are for registry images; this SOURCE is a stream's"
                .into(),
        );
    }
    Ok(())
}

/// The spec tag DEST gets (in namespace `dest_ns`): `from.namespace` is
/// written only for a source in another namespace.
pub fn spec_tag(
    tag: &str,
    source: &Resolved,
    dest_ns: &str,
    generation: i64,
    flags: &TagFlags,
) -> TagReference {
    let (kind, name, namespace) = match source {
        Resolved::Registry(image) => (FROM_KIND_DOCKER_IMAGE, image.clone(), None),
        Resolved::Alias {
            namespace,
            stream,
            tag,
        } => (
            FROM_KIND_IMAGE_STREAM_TAG,
            format!("{stream}:{tag}"),
            Some(namespace),
        ),
        Resolved::Pin {
            namespace,
            stream,
            digest,
        } => (
            FROM_KIND_IMAGE_STREAM_IMAGE,
            format!("{stream}@{digest}"),
            Some(namespace),
        ),
    };
    let import = matches!(source, Resolved::Registry(_))
        && (flags.scheduled || flags.insecure || flags.import_mode.is_some());
    TagReference {
        name: tag.to_owned(),
        from: Some(ObjectReference {
            kind: Some(kind.into()),
            name: Some(name.into()),
            namespace: namespace
                .filter(|ns| ns.as_str() != dest_ns)
                .map(|ns| ns.as_str().into()),
            ..ObjectReference::default()
        }),
        reference: flags.reference.then_some(true),
        generation: Some(generation),
        import_policy: import.then(|| TagImportPolicy {
            scheduled: flags.scheduled.then_some(true),
            insecure: flags.insecure.then_some(true),
            import_mode: flags.import_mode,
        }),
        reference_policy: flags
            .reference_policy
            .map(|t| TagReferencePolicy { type_: Some(t) }),
        ..TagReference::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn tag(ns: Option<&str>, stream: &str, t: &str) -> TagSource {
        TagSource::StreamTag {
            namespace: ns.map(str::to_owned),
            stream: stream.into(),
            tag: t.into(),
        }
    }

    fn image(ns: Option<&str>, stream: &str) -> TagSource {
        TagSource::StreamImage {
            namespace: ns.map(str::to_owned),
            stream: stream.into(),
            digest: D.into(),
        }
    }

    fn registry(s: &str) -> TagSource {
        TagSource::Registry(s.into())
    }

    #[test]
    fn every_source_form_as_oc_reads_it() {
        let table = [
            ("ruby:2.0", tag(None, "ruby", "2.0")),
            ("openshift/ruby:2.0", tag(Some("openshift"), "ruby", "2.0")),
            (
                "shared-images/base:9.4",
                tag(Some("shared-images"), "base", "9.4"),
            ),
            (&format!("ruby@{D}"), image(None, "ruby")),
            (&format!("other/ruby@{D}"), image(Some("other"), "ruby")),
            // Tag and digest: the digest wins.
            (&format!("ruby:2.0@{D}"), image(None, "ruby")),
            // No tag, no digest, no registry: a registry image, as in oc.
            ("ruby", registry("ruby")),
            ("library/ruby", registry("library/ruby")),
            (
                "docker.io/library/ruby:3.3",
                registry("docker.io/library/ruby:3.3"),
            ),
            (
                "quay.io/acme/marsview:1.4",
                registry("quay.io/acme/marsview:1.4"),
            ),
            ("localhost/ruby:1", registry("localhost/ruby:1")),
            ("localhost:5000/ruby:1", registry("localhost:5000/ruby:1")),
            ("registry:5000/ruby:1", registry("registry:5000/ruby:1")),
            (
                &format!("quay.io/a/b@{D}"),
                registry(&format!("quay.io/a/b@{D}")),
            ),
            // Neither '.', ':' nor localhost: a namespace.
            ("myhost/ruby:1", tag(Some("myhost"), "ruby", "1")),
        ];
        for (source, want) in table {
            assert_eq!(parse_source(source, None), Ok(want), "{source}");
        }
    }

    #[test]
    fn forced_readings() {
        let docker = Some(SourceKind::DockerImage);
        assert_eq!(parse_source("ruby:2.0", docker), Ok(registry("ruby:2.0")));
        assert_eq!(
            parse_source("shared/base:1", docker),
            Ok(registry("shared/base:1"))
        );
        let istag = Some(SourceKind::ImageStreamTag);
        assert_eq!(
            parse_source("ns/ruby:1", istag),
            Ok(tag(Some("ns"), "ruby", "1"))
        );
        let isimage = Some(SourceKind::ImageStreamImage);
        assert_eq!(
            parse_source(&format!("ruby@{D}"), isimage),
            Ok(image(None, "ruby"))
        );
        for (source, forced, want) in [
            ("quay.io/a/b:1", istag, "names registry quay.io"),
            ("ruby", istag, "is no stream tag"),
            ("ruby:1", isimage, "is no image of a stream"),
            ("a/b/c:1", None, "stream name \"b/c\""),
            ("Ruby:1", None, "invalid SOURCE"),
            ("ruby@sha256:abc", None, "invalid SOURCE"),
        ] {
            let err = parse_source(source, forced).expect_err(source);
            assert!(err.contains(want), "{source}: {err}");
        }
        assert_eq!(SourceKind::parse("ISTAG"), Ok(SourceKind::ImageStreamTag));
        assert_eq!(
            SourceKind::parse("dockerimage"),
            Ok(SourceKind::DockerImage)
        );
        assert!(
            SourceKind::parse("git")
                .unwrap_err()
                .contains("valid values are docker")
        );
    }

    #[test]
    fn dests() {
        assert_eq!(
            parse_dest("marsview:prod"),
            Ok(TagDest {
                namespace: None,
                stream: "marsview".into(),
                tag: "prod".into()
            })
        );
        assert_eq!(
            parse_dest("other/marsview:1.0"),
            Ok(TagDest {
                namespace: Some("other".into()),
                stream: "marsview".into(),
                tag: "1.0".into()
            })
        );
        for (dest, want) in [
            ("marsview", "names no tag: write marsview:TAG"),
            ("a/b/c:1", "at most one '/'"),
            ("/x:y", "namespace \"\""),
            ("ns/:y", "stream name \"\""),
            ("x:", "tag \"\""),
            ("x:.hidden", "tag \".hidden\""),
            ("X:1", "stream name \"X\""),
        ] {
            let err = parse_dest(dest).expect_err(dest);
            assert!(err.contains(want), "{dest}: {err}");
        }
    }

    #[test]
    fn flags_that_need_a_kind_of_source() {
        let alias = TagFlags {
            alias: true,
            ..TagFlags::default()
        };
        assert!(check_flags(&tag(None, "a", "1"), &alias).is_ok());
        assert!(
            check_flags(&registry("quay.io/a:1"), &alias)
                .unwrap_err()
                .contains("--alias")
        );
        assert!(check_flags(&image(None, "a"), &alias).is_err());
        let scheduled = TagFlags {
            scheduled: true,
            ..TagFlags::default()
        };
        assert!(check_flags(&registry("quay.io/a:1"), &scheduled).is_ok());
        assert!(
            check_flags(&tag(None, "a", "1"), &scheduled)
                .unwrap_err()
                .contains("registry images")
        );
    }

    #[test]
    fn spec_tags_name_the_namespace_only_across_namespaces() {
        let pin = Resolved::Pin {
            namespace: "shared".into(),
            stream: "base".into(),
            digest: D.into(),
        };
        let t = spec_tag("base", &pin, "team", 7, &TagFlags::default());
        let from = t.from.clone().unwrap();
        assert_eq!(
            (
                from.kind.as_deref(),
                from.name.as_deref(),
                from.namespace.as_deref()
            ),
            (
                Some("ImageStreamImage"),
                Some(format!("base@{D}").as_str()),
                Some("shared")
            )
        );
        assert_eq!(
            (t.generation, t.import_policy.clone(), t.reference),
            (Some(7), None, None)
        );
        let t = spec_tag("base", &pin, "shared", 7, &TagFlags::default());
        assert_eq!(t.from.unwrap().namespace, None);
        assert_eq!(pin.shown("team"), format!("shared/base@{D}"));
        assert_eq!(pin.shown("shared"), format!("base@{D}"));

        let alias = Resolved::Alias {
            namespace: "team".into(),
            stream: "app".into(),
            tag: "latest".into(),
        };
        let t = spec_tag(
            "prod",
            &alias,
            "team",
            1,
            &TagFlags {
                alias: true,
                ..TagFlags::default()
            },
        );
        assert_eq!(t.from.unwrap().name.as_deref(), Some("app:latest"));

        let flags = TagFlags {
            reference: true,
            scheduled: true,
            insecure: true,
            reference_policy: Some(TagReferencePolicyType::Local),
            ..TagFlags::default()
        };
        let t = spec_tag(
            "ref",
            &Resolved::Registry("quay.io/a/b:1".into()),
            "team",
            2,
            &flags,
        );
        assert_eq!(t.reference, Some(true));
        let import = t.import_policy.unwrap();
        assert_eq!(
            (import.scheduled, import.insecure),
            (Some(true), Some(true))
        );
        assert_eq!(
            t.reference_policy.unwrap().type_,
            Some(TagReferencePolicyType::Local)
        );
    }
}
