//! Which image strings are stream references, and what they resolve to.
//!
//! Pure: reads only the snapshot, never a registry.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use crate::reference::ImageRef;
use crate::stream::snapshot::{Snapshot, StreamEntry};
use crate::text::clip;

/// The stream an image string names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamName<'i> {
    pub namespace: &'i str,
    pub name: &'i str,
}

impl fmt::Display for StreamName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A tag or a digest of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector<'i> {
    Tag(&'i str),
    Digest(&'i str),
}

impl Selector<'_> {
    pub fn tag(&self) -> Option<&str> {
        match self {
            Selector::Tag(t) => Some(t),
            Selector::Digest(_) => None,
        }
    }
}

impl fmt::Display for Selector<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Tag(t) => write!(f, ":{t}"),
            Selector::Digest(d) => write!(f, "@{d}"),
        }
    }
}

/// How an image string was written when it names a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `NAME[:TAG]` or `NAME@DIGEST` in the pod's namespace.
    Local,
    /// `HOST/NS/NAME…` through one of the stream registry hosts.
    StreamHost,
}

/// The outcome for one image string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution<'i> {
    /// Not a stream reference: left untouched.
    NotAStream,
    Resolved {
        stream: StreamName<'i>,
        selector: Selector<'i>,
        form: Form,
        /// `REPO@sha256:…`, or a `reference: true` tag's `from.name` as
        /// written (see [`pinned`]).
        image: Arc<str>,
    },
    /// A stream reference that cannot be pinned; the reason says which and how to fix it.
    Unresolvable {
        stream: StreamName<'i>,
        selector: Selector<'i>,
        form: Form,
        reason: String,
    },
}

/// A resolved image names a digest. Only a `reference: true` tag resolves
/// to one that may not: the audit record and `auditAnnotations` say so.
pub fn pinned(image: &str) -> bool {
    image.contains("@sha256:") || ImageRef::parse(image).is_ok_and(|r| r.digest().is_some())
}

/// What a resolution needs besides the snapshot.
pub struct Context<'h, 'i> {
    /// The pod's namespace.
    pub namespace: &'i str,
    /// `alpha.image.policy.openshift.io/resolve-names: "*"` is on the object.
    pub resolve_names: bool,
    /// `streamRegistryHosts` from the configuration.
    pub stream_hosts: &'h [String],
}

pub fn resolve<'i>(snap: &Snapshot, ctx: &Context<'_, 'i>, image: &'i str) -> Resolution<'i> {
    // Malformed strings are left to the API server and the kubelet, which reject them.
    let Ok(r) = ImageRef::parse(image) else {
        return Resolution::NotAStream;
    };
    let selector = match (r.digest(), r.tag()) {
        (Some(d), _) => Selector::Digest(d),
        (None, Some(t)) => Selector::Tag(t),
        (None, None) => Selector::Tag("latest"),
    };
    match r.registry() {
        Some(_) if ctx.stream_hosts.iter().any(|h| r.has_registry(h)) => {
            resolve_stream_host(snap, &r, selector)
        }
        Some(_) => Resolution::NotAStream,
        None if r.repository().contains('/') => Resolution::NotAStream,
        None => {
            let stream = StreamName {
                namespace: ctx.namespace,
                name: r.repository(),
            };
            match snap.stream(stream.namespace, stream.name) {
                Some(entry) if entry.lookup_local || ctx.resolve_names => {
                    pin(entry, stream, selector, Form::Local, snap.command_scope())
                }
                _ => Resolution::NotAStream,
            }
        }
    }
}

fn resolve_stream_host<'i>(
    snap: &Snapshot,
    r: &ImageRef<'i>,
    selector: Selector<'i>,
) -> Resolution<'i> {
    let host = r.registry().unwrap_or_default();
    let Some((namespace, name)) = r
        .repository()
        .split_once('/')
        .filter(|(_, n)| !n.contains('/'))
    else {
        return Resolution::Unresolvable {
            stream: StreamName {
                namespace: "",
                name: r.repository(),
            },
            selector,
            form: Form::StreamHost,
            reason: format!(
                "{host} is the image-stream registry host; images on it must be named {host}/NAMESPACE/STREAM, not {host}/{}",
                r.repository()
            ),
        };
    };
    let stream = StreamName { namespace, name };
    match snap.stream(namespace, name) {
        Some(entry) => pin(
            entry,
            stream,
            selector,
            Form::StreamHost,
            snap.command_scope(),
        ),
        None => Resolution::Unresolvable {
            stream,
            selector,
            form: Form::StreamHost,
            reason: format!(
                "imagestream {stream} not found ({host} is the image-stream registry host, not a real registry); create the stream, e.g. imagestream-webhook import-image {name}:{tag} --from IMAGE --confirm -n {namespace}{scope}",
                tag = selector.tag().unwrap_or("latest"),
                scope = snap.command_scope(),
            ),
        },
    }
}

fn pin<'i>(
    entry: &StreamEntry,
    stream: StreamName<'i>,
    selector: Selector<'i>,
    form: Form,
    scope: &str,
) -> Resolution<'i> {
    let found = match selector {
        Selector::Tag(tag) => pin_tag(entry, stream, tag, scope),
        Selector::Digest(digest) => entry.image(digest).ok_or_else(|| {
            format!(
                "imagestream {stream} has no image {digest} in the history of any tag; use a tag, or one of the digests `imagestream-webhook describe {name} -n {ns}{scope}` lists",
                name = stream.name,
                ns = stream.namespace
            )
        }),
    };
    match found {
        Ok(image) => Resolution::Resolved {
            stream,
            selector,
            form,
            image,
        },
        Err(reason) => Resolution::Unresolvable {
            stream,
            selector,
            form,
            reason,
        },
    }
}

/// Tags named in the reason of a missing tag; the rest are counted.
const TAGS_LISTED: usize = 20;
/// Bytes of a tag's status text (an import failure, as a registry worded
/// it) quoted in a reason: every image of a request can carry the reason.
const STATUS_TEXT_LIMIT: usize = 512;

/// `scope` ends each printed command (` --streams-dir DIR` in directory mode).
fn pin_tag(
    entry: &StreamEntry,
    stream: StreamName<'_>,
    tag: &str,
    scope: &str,
) -> Result<Arc<str>, String> {
    let (name, ns) = (stream.name, stream.namespace);
    let Some(t) = entry.tag(tag) else {
        let tags = entry.tag_names();
        let count = tags.len();
        let known = if count == 0 {
            "it has no tags".to_owned()
        } else {
            // Every image of a request can have this reason: a stream of
            // thousands of tags must not make each one kilobytes long.
            let mut known = "its tags are ".to_owned();
            for (i, name) in tags.take(TAGS_LISTED).enumerate() {
                if i > 0 {
                    known.push_str(", ");
                }
                known.push_str(name);
            }
            if count > TAGS_LISTED {
                let _ = write!(known, " and {} more", count - TAGS_LISTED);
            }
            known
        };
        return Err(format!(
            "imagestream {stream} has no tag {tag:?} ({known}); add it with: imagestream-webhook tag SOURCE {name}:{tag} -n {ns}{scope}"
        ));
    };
    // A reference tag is never imported: OpenShift records its `from.name`
    // as the tag's newest event, so it wins over any image imported before.
    if let Some(image) = t.reference.as_ref().or(t.current.as_ref()) {
        return Ok(image.clone());
    }
    if let Some(why) = &t.unusable {
        let why = clip(why, STATUS_TEXT_LIMIT);
        return Err(format!(
            "tag {name}:{tag} of imagestream {stream} cannot be pinned: {why}; re-import it: imagestream-webhook import-image {name}:{tag} -n {ns}{scope}"
        ));
    }
    match t
        .import_failure
        .as_deref()
        .map(|f| clip(f, STATUS_TEXT_LIMIT))
    {
        Some(failure) => Err(format!(
            "tag {name}:{tag} of imagestream {stream} is not yet imported: {failure}; fix the source and run: imagestream-webhook import-image {name}:{tag} -n {ns}{scope}"
        )),
        None => Err(format!(
            "tag {name}:{tag} of imagestream {stream} is not yet imported; run: imagestream-webhook import-image {name}:{tag} -n {ns}{scope}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::snapshot::tests::{D1, D2, marsview, stream};

    const HOST: &str = "image-registry.openshift-image-registry.svc:5000";

    fn snap() -> Snapshot {
        let hidden = stream(
            r#"
metadata: {name: hidden, namespace: toms-project}
spec: {tags: [{name: latest}]}
status:
  tags:
  - tag: latest
    items:
    - {created: "2026-01-01T00:00:00Z", dockerImageReference: "quay.io/x/hidden@sha256:2222222222222222222222222222222222222222222222222222222222222222", image: "sha256:2222222222222222222222222222222222222222222222222222222222222222", generation: 1}
"#,
        );
        Snapshot::build([Arc::new(marsview()), Arc::new(hidden)])
    }

    fn run<'i>(
        snap: &Snapshot,
        ns: &'i str,
        resolve_names: bool,
        image: &'i str,
    ) -> Resolution<'i> {
        let hosts = [HOST.to_owned()];
        let ctx = Context {
            namespace: ns,
            resolve_names,
            stream_hosts: &hosts,
        };
        // `hosts` lives only here: resolutions borrow from `image` and `ns`, not from ctx.
        resolve(snap, &ctx, image)
    }

    fn resolved(r: &Resolution) -> Option<String> {
        match r {
            Resolution::Resolved { image, .. } => Some(image.to_string()),
            _ => None,
        }
    }

    fn reason(r: &Resolution) -> String {
        match r {
            Resolution::Unresolvable { reason, .. } => reason.clone(),
            other => panic!("expected unresolvable, got {other:?}"),
        }
    }

    #[test]
    fn table() {
        let s = snap();
        let pinned1 = format!("registry.marsrover.space/engine/marsview@{D1}");
        let pinned2 = format!("registry.marsrover.space/engine/marsview@{D2}");
        let hidden = "quay.io/x/hidden@sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let at_d2 = format!("marsview@{D2}");
        let host_d1 = format!("{HOST}/toms-project/marsview@{D1}");
        let host_upper = format!("{}/toms-project/marsview", HOST.to_uppercase());
        let host_latest = format!("{HOST}/toms-project/marsview:latest");
        let host_hidden = format!("{HOST}/toms-project/hidden");
        let tag_and_digest = format!("marsview:whatever@{D2}");
        let cases: Vec<(&str, bool, &str, Option<&str>)> = vec![
            // (namespace, resolve-names, image, pinned)
            ("toms-project", false, "marsview", Some(&pinned1)),
            ("toms-project", false, "marsview:latest", Some(&pinned1)),
            ("toms-project", false, &at_d2, Some(&pinned2)),
            ("toms-project", false, &tag_and_digest, Some(&pinned2)),
            // lookupPolicy.local is false for `hidden`: only the annotation resolves it
            ("toms-project", false, "hidden", None),
            ("toms-project", true, "hidden", Some(hidden)),
            // other namespaces do not see the stream through a short name
            ("other", false, "marsview:latest", None),
            ("other", true, "marsview:latest", None),
            // through the stream host: any namespace, letter case of the host ignored
            ("other", false, &host_latest, Some(&pinned1)),
            ("other", false, &host_upper, Some(&pinned1)),
            ("other", false, &host_d1, Some(&pinned1)),
            ("other", false, &host_hidden, Some(hidden)),
            // not stream references
            ("toms-project", false, "library/marsview", None),
            ("toms-project", false, "docker.io/marsview", None),
            (
                "toms-project",
                false,
                "registry.marsrover.space/engine/marsview:latest",
                None,
            ),
            ("toms-project", false, "Marsview", None),
            ("toms-project", false, "", None),
            ("toms-project", false, "marsview:", None),
        ];
        for (ns, names, image, want) in cases {
            let r = run(&s, ns, names, image);
            assert_eq!(resolved(&r).as_deref(), want, "{ns} {names} {image}: {r:?}");
            if want.is_none() {
                assert_eq!(r, Resolution::NotAStream, "{ns} {image}");
            }
        }
    }

    #[test]
    fn unresolvable_reasons_say_which_and_how() {
        let s = snap();
        let r = run(&s, "toms-project", false, "marsview:nope");
        let why = reason(&r);
        assert!(why.contains("has no tag \"nope\""), "{why}");
        assert!(why.contains("broken, latest, v2"), "{why}");

        let why = reason(&run(&s, "toms-project", false, "marsview:v2"));
        assert!(why.contains("not yet imported; run: imagestream-webhook import-image marsview:v2 -n toms-project"), "{why}");

        let why = reason(&run(&s, "toms-project", false, "marsview:broken"));
        assert!(
            why.contains("not yet imported: ImportSuccess=False: NotFound: manifest unknown"),
            "{why}"
        );

        let digest =
            "marsview@sha256:3333333333333333333333333333333333333333333333333333333333333333";
        let why = reason(&run(&s, "toms-project", false, digest));
        assert!(why.contains("has no image sha256:3333"), "{why}");

        // A digest of another stream is not this stream's image.
        let other =
            "marsview@sha256:2222222222222222222222222222222222222222222222222222222222222222";
        assert!(matches!(
            run(&s, "toms-project", false, other),
            Resolution::Unresolvable { .. }
        ));

        let missing = format!("{HOST}/nowhere/marsview:latest");
        let why = reason(&run(&s, "toms-project", false, &missing));
        assert!(
            why.contains("imagestream nowhere/marsview not found"),
            "{why}"
        );

        let deep = format!("{HOST}/a/b/c");
        let why = reason(&run(&s, "toms-project", false, &deep));
        assert!(why.contains("must be named"), "{why}");
    }

    /// A `reference: true` tag resolves to its `from.name` as written, even
    /// over an image imported before it became one; a digest there is pinned.
    #[test]
    fn reference_tags_resolve_to_their_source() {
        let is = stream(&format!(
            "metadata: {{name: app, namespace: ns}}\nspec:\n  lookupPolicy: {{local: true}}\n  tags:\n  - {{name: ref, reference: true, from: {{kind: DockerImage, name: \"quay.io/x/app:1\"}}}}\n  - {{name: pin, reference: true, from: {{kind: DockerImage, name: \"quay.io/x/app@{D1}\"}}}}\n  - {{name: was, reference: true, from: {{kind: DockerImage, name: \"quay.io/x/app:2\"}}}}\n  - {{name: bad, reference: true, from: {{kind: DockerImage, name: \"Not A Ref\"}}}}\nstatus:\n  tags:\n  - tag: was\n    items: [{{created: \"2026-01-01T00:00:00Z\", dockerImageReference: \"quay.io/x/app@{D2}\", image: \"{D2}\", generation: 1}}]\n"
        ));
        let s = Snapshot::build([Arc::new(is)]);
        let got = |image| resolved(&run(&s, "ns", false, image));
        assert_eq!(got("app:ref").as_deref(), Some("quay.io/x/app:1"));
        assert!(!pinned("quay.io/x/app:1"));
        let pin = format!("quay.io/x/app@{D1}");
        assert_eq!(got("app:pin"), Some(pin.clone()));
        assert!(pinned(&pin));
        assert_eq!(got("app:was").as_deref(), Some("quay.io/x/app:2"));
        assert!(reason(&run(&s, "ns", false, "app:bad")).contains("not yet imported"));
    }

    /// Status text quoted in a reason (as a registry worded an import
    /// failure) is cut: every image of a request can carry the reason.
    #[test]
    fn a_long_import_failure_is_cut_in_the_reason() {
        let message = "m".repeat(100_000);
        let failed = stream(&format!(
            "metadata: {{name: failed, namespace: ns}}\nspec:\n  lookupPolicy: {{local: true}}\n  tags: [{{name: latest}}]\nstatus:\n  tags:\n  - tag: latest\n    conditions: [{{type: ImportSuccess, status: \"False\", reason: InternalError, message: {message}, generation: 1}}]\n"
        ));
        let s = Snapshot::build([Arc::new(failed)]);
        let why = reason(&run(&s, "ns", false, "failed:latest"));
        assert!(
            why.contains("is not yet imported: ImportSuccess=False: InternalError: mmm"),
            "{why}"
        );
        assert!(why.contains("…; fix the source"), "{why}");
        assert!(why.len() < 1024, "{}", why.len());
    }

    /// A stream of many tags names a few in the reason and counts the rest:
    /// every image of a request can carry this reason.
    #[test]
    fn a_missing_tag_of_a_stream_with_many_tags_has_a_short_reason() {
        let tags: String = (0..500)
            .map(|i| format!("  - {{name: t{i:03}}}\n"))
            .collect();
        let big = stream(&format!(
            "metadata: {{name: big, namespace: ns}}\nspec:\n  lookupPolicy: {{local: true}}\n  tags:\n{tags}"
        ));
        let s = Snapshot::build([Arc::new(big)]);
        let why = reason(&run(&s, "ns", false, "big:nope"));
        assert!(
            why.contains("its tags are t000, t001,") && why.contains("t019 and 480 more"),
            "{why}"
        );
        assert!(!why.contains("t020"), "{why}");
        assert!(why.len() < 400, "{}", why.len());
    }
}
