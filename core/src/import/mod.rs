//! The importer's decisions, without I/O: which tags need an import, where
//! each tag's image comes from, and the status an import result makes.

pub mod bulk;
pub mod local;
pub mod metadata;
pub mod mode;

use std::fmt;

use crate::reference::{ImageRef, is_sha256_digest};
use crate::stream::{
    CONDITION_IMPORT_SUCCESS, FROM_KIND_DOCKER_IMAGE, FROM_KIND_IMAGE_STREAM_IMAGE,
    FROM_KIND_IMAGE_STREAM_TAG, ImageStream, ImageStreamStatus, NamedTagEventList, TagEvent,
    TagEventCondition, TagReference,
};

/// Where a tag's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An image in a registry, as `from.name` writes it.
    Registry {
        image: String,
        insecure: bool,
        /// `from.name` names a digest: imported once, never again.
        pinned: bool,
        /// `importPolicy.importMode` as written; `None` takes `import.defaultImportMode`.
        mode: Option<crate::stream::ImportMode>,
    },
    /// Another tag (`from.kind: ImageStreamTag`, what `tag --alias` makes): follows it.
    Tag {
        namespace: String,
        stream: String,
        tag: String,
    },
    /// A history item (`from.kind: ImageStreamImage`, `tag NAME@sha256:…`): pinned to it.
    Image {
        namespace: String,
        stream: String,
        digest: String,
    },
}

/// One spec tag the importer is responsible for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPlan {
    pub tag: String,
    pub source: Source,
    /// The spec generation the status must record once this tag is imported.
    pub generation: i64,
    pub scheduled: bool,
}

/// Why a tag import failed; the `ImportSuccess=False` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NotFound,
    Unauthorized,
    Forbidden,
    InternalError,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotFound => "NotFound",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::InternalError => "InternalError",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of importing one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The tag points at `reference` (`REPO@DIGEST`) with `digest`.
    Image {
        reference: String,
        digest: String,
    },
    Failed {
        reason: Reason,
        message: String,
    },
}

/// The tag's spec generation: the newer of its own (what OpenShift and this
/// CLI set when they change a tag) and the stream's (what the API server
/// bumps on any spec edit, e.g. a `kubectl apply`), else 0 in hand-written files.
pub fn generation_of(is: &ImageStream, tag: &TagReference) -> i64 {
    tag.generation
        .into_iter()
        .chain(is.metadata.generation)
        .max()
        .unwrap_or(0)
}

/// The repository an image is pulled from, with Docker Hub's implied parts
/// filled in, for comparing `from.name` with what the status recorded.
fn pull_repository(image: &str) -> Option<String> {
    let r = ImageRef::parse(image).ok()?;
    Some(match r.registry() {
        Some(host) => format!("{}/{}", host.to_ascii_lowercase(), r.repository()),
        None if r.repository().contains('/') => format!("docker.io/{}", r.repository()),
        None => format!("docker.io/library/{}", r.repository()),
    })
}

/// Every spec tag the importer handles: registry images (not `reference: true`
/// ones, which are only pointers), aliases and pinned history items. Tags whose
/// `from` cannot be understood come back as errors, with the reason.
pub fn plans(is: &ImageStream) -> Vec<Result<TagPlan, (String, String)>> {
    let ns = is.metadata.namespace.as_deref().unwrap_or("default");
    let name = is.metadata.name.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    for tag in is.spec_tags() {
        let Some(kind) = tag.from_kind() else {
            continue;
        };
        let from_name = tag.from_name().unwrap_or_default();
        let from_ns = tag.from_namespace().filter(|n| !n.is_empty()).unwrap_or(ns);
        let source = match kind {
            FROM_KIND_DOCKER_IMAGE if tag.is_reference() => continue,
            FROM_KIND_DOCKER_IMAGE => match ImageRef::parse(from_name) {
                Ok(r) => Ok(Source::Registry {
                    image: from_name.to_owned(),
                    insecure: tag.is_insecure(),
                    pinned: r.digest().is_some(),
                    mode: tag.import_policy.as_ref().and_then(|p| p.import_mode),
                }),
                Err(e) => Err(format!(
                    "from.name {from_name:?} is not an image reference: {e}"
                )),
            },
            FROM_KIND_IMAGE_STREAM_TAG => match split_stream_tag(from_name, name) {
                Some((stream, t)) => Ok(Source::Tag {
                    namespace: from_ns.to_owned(),
                    stream: stream.to_owned(),
                    tag: t.to_owned(),
                }),
                None => Err(format!("from.name {from_name:?} is not STREAM:TAG")),
            },
            FROM_KIND_IMAGE_STREAM_IMAGE => match from_name.split_once('@') {
                Some((stream, digest)) if is_sha256_digest(digest) => Ok(Source::Image {
                    namespace: from_ns.to_owned(),
                    stream: if stream.is_empty() { name } else { stream }.to_owned(),
                    digest: digest.to_owned(),
                }),
                _ => Err(format!(
                    "from.name {from_name:?} is not STREAM@sha256:DIGEST"
                )),
            },
            other => Err(format!(
                "from.kind {other:?} is not DockerImage, ImageStreamTag or ImageStreamImage"
            )),
        };
        out.push(
            source
                .map(|source| TagPlan {
                    tag: tag.name.clone(),
                    source,
                    generation: generation_of(is, tag),
                    scheduled: tag.is_scheduled(),
                })
                .map_err(|e| (tag.name.clone(), e)),
        );
    }
    out
}

/// `STREAM:TAG`, or a bare `TAG` meaning this stream.
fn split_stream_tag<'a>(s: &'a str, this_stream: &'a str) -> Option<(&'a str, &'a str)> {
    match s.rsplit_once(':') {
        Some((stream, tag)) if !stream.is_empty() && !tag.is_empty() => Some((stream, tag)),
        Some(_) => None,
        None if !s.is_empty() => Some((this_stream, s)),
        None => None,
    }
}

/// The generation the status records for a tag: of its newest item or of its
/// last failed import, whichever is newer. `None` when nothing was recorded.
pub fn recorded_generation(list: Option<&NamedTagEventList>) -> Option<i64> {
    let list = list?;
    let item = list.latest().map(|i| i.generation);
    let cond = list
        .condition(CONDITION_IMPORT_SUCCESS)
        .map(|c| c.generation);
    item.into_iter().chain(cond).max()
}

/// The tag was never imported, or its spec changed since: a newer generation,
/// or (for files edited by hand, which carry no generation) a registry source
/// whose repository is not the one the newest item came from.
pub fn spec_changed(is: &ImageStream, plan: &TagPlan) -> bool {
    let list = is.status_tag(&plan.tag);
    match recorded_generation(list) {
        None => true,
        Some(recorded) if plan.generation > recorded => true,
        Some(_) => match (&plan.source, list.and_then(|l| l.latest())) {
            (Source::Registry { image, .. }, Some(item)) => {
                let have = ImageRef::parse(&item.docker_image_reference)
                    .ok()
                    .and_then(|r| pull_repository(r.name()));
                match (ImageRef::parse(image), have) {
                    // A name without a registry was found in one of the
                    // search registries: the same repository in any of them.
                    (Ok(r), Some(have)) if r.registry().is_none() => {
                        let path = r.repository();
                        !(have.ends_with(&format!("/{path}"))
                            || (!path.contains('/') && have.ends_with(&format!("/library/{path}"))))
                    }
                    (_, have) => {
                        let want = pull_repository(image);
                        want.is_some() && have.is_some() && want != have
                    }
                }
            }
            _ => false,
        },
    }
}

/// A pinned registry tag that already holds its digest is done for good.
pub fn pinned_and_done(is: &ImageStream, plan: &TagPlan) -> bool {
    let Source::Registry {
        image,
        pinned: true,
        ..
    } = &plan.source
    else {
        return false;
    };
    let digest = ImageRef::parse(image)
        .ok()
        .and_then(|r| r.digest().map(str::to_owned));
    let latest = is.status_tag(&plan.tag).and_then(|l| l.latest());
    let current = latest.map(|i| &*i.image);
    // In Legacy mode a pinned index records its platform's manifest, not the
    // pinned digest: imported at the tag's generation is done too.
    let imported_now =
        latest.is_some_and(|i| plan.generation > 0 && i.generation >= plan.generation);
    digest.is_some() && (digest.as_deref() == current || imported_now)
}

/// Folds one tag's import result into the status: a new history item only
/// when the digest changed (capped at `history_limit`), the recorded
/// generation advanced either way, `ImportSuccess=False` set on failure with
/// the last good items kept, and cleared on success.
pub fn apply(
    status: &mut ImageStreamStatus,
    tag: &str,
    generation: i64,
    outcome: &Outcome,
    now: &str,
    history_limit: usize,
) -> bool {
    let tags = status.tags.get_or_insert_with(Vec::new);
    let index = match tags.iter().position(|t| t.tag == tag) {
        Some(i) => i,
        None => {
            tags.push(NamedTagEventList {
                tag: tag.to_owned(),
                items: None,
                conditions: None,
            });
            tags.len() - 1
        }
    };
    let list = &mut tags[index];
    let before = list.clone();
    match outcome {
        Outcome::Image { reference, digest } => {
            let items = list.items.get_or_insert_with(Vec::new);
            match items.first_mut() {
                Some(first) if *first.image == **digest => {
                    first.generation = first.generation.max(generation);
                    if *first.docker_image_reference != **reference {
                        first.docker_image_reference = reference.as_str().into();
                    }
                }
                _ => {
                    items.insert(
                        0,
                        TagEvent {
                            created: Some(now.into()),
                            docker_image_reference: reference.as_str().into(),
                            image: digest.as_str().into(),
                            generation,
                            platforms: None,
                        },
                    );
                    items.truncate(history_limit.max(1));
                }
            }
            if let Some(conds) = &mut list.conditions {
                conds.retain(|c| c.type_ != CONDITION_IMPORT_SUCCESS);
                if conds.is_empty() {
                    list.conditions = None;
                }
            }
        }
        Outcome::Failed { reason, message } => {
            let conds = list.conditions.get_or_insert_with(Vec::new);
            let same = conds
                .iter()
                .find(|c| c.type_ == CONDITION_IMPORT_SUCCESS)
                .is_some_and(|c| {
                    c.status == "False"
                        && c.reason.as_deref() == Some(reason.as_str())
                        && c.message.as_deref() == Some(message)
                });
            let transition = conds
                .iter()
                .find(|c| c.type_ == CONDITION_IMPORT_SUCCESS && same)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.to_owned());
            conds.retain(|c| c.type_ != CONDITION_IMPORT_SUCCESS);
            conds.push(TagEventCondition {
                type_: CONDITION_IMPORT_SUCCESS.to_owned(),
                status: "False".to_owned(),
                last_transition_time: Some(transition),
                reason: Some(reason.as_str().to_owned()),
                message: Some(message.clone()),
                generation,
            });
        }
    }
    *list != before
}

/// `FIRST_HOST/NS/NAME`, the repository OpenShift's registry would serve.
pub fn docker_image_repository(host: &str, namespace: &str, name: &str) -> String {
    format!("{host}/{namespace}/{name}")
}

/// The history item of `digest` in any tag of the stream.
pub fn find_image<'a>(is: &'a ImageStream, digest: &str) -> Option<&'a TagEvent> {
    find_image_in(is.status_tags(), digest)
}

/// The same, in a status being built.
pub fn find_image_in<'a>(tags: &'a [NamedTagEventList], digest: &str) -> Option<&'a TagEvent> {
    let suffix = format!("@{digest}");
    tags.iter()
        .flat_map(|l| l.items())
        .find(|i| &*i.image == digest || i.docker_image_reference.ends_with(&suffix))
}

/// `host[:port]` against `allowedRegistries` globs (`*` matches any run of
/// characters, compared without letter case); an empty list allows all.
pub fn registry_allowed(host: &str, allowed: &[String]) -> bool {
    allowed.is_empty()
        || allowed
            .iter()
            .any(|g| glob(&g.to_ascii_lowercase(), &host.to_ascii_lowercase()))
}

fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// The spec tags that follow one of `tags` of the same stream, directly or
/// through each other (`tag --alias`), nearest first: an import of `tags`
/// brings them up to date in the same status write, so the stream never
/// shows an alias at an image that admission would not pin.
pub fn followers(is: &ImageStream, tags: &[String]) -> Vec<String> {
    let ns = is.metadata.namespace.as_deref().unwrap_or("default");
    let name = is.metadata.name.as_deref().unwrap_or_default();
    let links: Vec<(String, String)> = plans(is)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|p| match p.source {
            Source::Tag {
                namespace,
                stream,
                tag,
            } if namespace == ns && stream == name => Some((p.tag, tag)),
            _ => None,
        })
        .collect();
    let mut reached: Vec<String> = tags.to_vec();
    let mut out = Vec::new();
    let mut next = 0;
    // Breadth first over at most every spec tag once: cycles end here.
    while next < reached.len() {
        let source = reached[next].clone();
        next += 1;
        for (tag, from) in &links {
            if *from == source && !reached.contains(tag) {
                reached.push(tag.clone());
                out.push(tag.clone());
            }
        }
    }
    out
}

/// The order one stream's tags are imported in: registry tags first, then
/// aliases and pins, each after the tag of the same stream it follows, so a
/// chain of aliases settles in one pass. Cycles keep their spec order.
pub fn import_order<'a>(namespace: &str, name: &str, plans: &'a [TagPlan]) -> Vec<&'a TagPlan> {
    let (mut out, mut local): (Vec<&TagPlan>, Vec<&TagPlan>) = plans
        .iter()
        .partition(|p| matches!(p.source, Source::Registry { .. }));
    let waits_for = |p: &TagPlan, pending: &[&TagPlan]| match &p.source {
        Source::Tag {
            namespace: n,
            stream,
            tag,
        } if n == namespace && stream == name && *tag != p.tag => {
            pending.iter().any(|q| q.tag == *tag)
        }
        _ => false,
    };
    while !local.is_empty() {
        let ready = local.iter().position(|p| !waits_for(p, &local));
        let p = local.remove(ready.unwrap_or(0));
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(yaml: &str) -> ImageStream {
        serde_saphyr::from_str(yaml).expect("test stream")
    }

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn plans_by_source_kind() {
        let is = stream(&format!(
            r#"
metadata: {{name: app, namespace: team, generation: 4}}
spec:
  tags:
  - {{name: a, from: {{kind: DockerImage, name: "quay.io/x/app:1"}}, importPolicy: {{scheduled: true, insecure: true}}}}
  - {{name: b, from: {{kind: DockerImage, name: "quay.io/x/app@{D1}"}}, generation: 2}}
  - {{name: c, from: {{kind: DockerImage, name: "quay.io/x/app:1"}}, reference: true}}
  - {{name: d, from: {{kind: ImageStreamTag, name: "app:a"}}}}
  - {{name: e, from: {{kind: ImageStreamTag, name: "a"}}}}
  - {{name: f, from: {{kind: ImageStreamImage, name: "app@{D2}", namespace: other}}}}
  - {{name: g, from: {{kind: DockerImage, name: "Not A Ref"}}}}
  - {{name: h, from: {{kind: ImageStreamImage, name: "app@sha256:12"}}}}
  - {{name: i}}
"#
        ));
        let plans = plans(&is);
        assert_eq!(plans.len(), 7, "{plans:?}");
        let ok = |i: usize| plans[i].clone().expect("plan");
        assert_eq!(
            ok(0),
            TagPlan {
                tag: "a".into(),
                source: Source::Registry {
                    image: "quay.io/x/app:1".into(),
                    insecure: true,
                    pinned: false,
                    mode: None
                },
                generation: 4,
                scheduled: true
            }
        );
        assert!(matches!(
            ok(1).source,
            Source::Registry { pinned: true, .. }
        ));
        assert_eq!(ok(1).generation, 4, "the stream's newer generation wins");
        assert_eq!(
            ok(2).source,
            Source::Tag {
                namespace: "team".into(),
                stream: "app".into(),
                tag: "a".into()
            }
        );
        assert_eq!(
            ok(3).source,
            Source::Tag {
                namespace: "team".into(),
                stream: "app".into(),
                tag: "a".into()
            }
        );
        assert_eq!(
            ok(4).source,
            Source::Image {
                namespace: "other".into(),
                stream: "app".into(),
                digest: D2.into()
            }
        );
        assert!(
            plans[5]
                .as_ref()
                .is_err_and(|(t, e)| t == "g" && e.contains("not an image reference"))
        );
        assert!(plans[6].as_ref().is_err_and(|(t, _)| t == "h"));
    }

    #[test]
    fn spec_changes_and_pins() {
        let is = stream(&format!(
            r#"
metadata: {{name: app, namespace: team}}
spec:
  tags:
  - {{name: new, from: {{kind: DockerImage, name: "quay.io/x/app:1"}}}}
  - {{name: done, generation: 3, from: {{kind: DockerImage, name: "quay.io/x/app:1"}}}}
  - {{name: bumped, generation: 5, from: {{kind: DockerImage, name: "quay.io/x/app:1"}}}}
  - {{name: failed, generation: 2, from: {{kind: DockerImage, name: "quay.io/x/app:1"}}}}
  - {{name: pin, from: {{kind: DockerImage, name: "quay.io/x/app@{D1}"}}}}
  - {{name: legacy-pin, generation: 3, from: {{kind: DockerImage, name: "quay.io/x/app@{D1}"}}}}
  - {{name: moved, generation: 3, from: {{kind: DockerImage, name: "quay.io/y/other:1"}}}}
  - {{name: searched, generation: 3, from: {{kind: DockerImage, name: "x/app:1"}}}}
  - {{name: short, generation: 3, from: {{kind: DockerImage, name: "app:1"}}}}
  - {{name: elsewhere, generation: 3, from: {{kind: DockerImage, name: "y/app:1"}}}}
status:
  tags:
  - tag: done
    items: [{{created: "2026-01-01T00:00:00Z", dockerImageReference: "quay.io/x/app@{D1}", image: "{D1}", generation: 3}}]
  - tag: bumped
    items: [{{created: "2026-01-01T00:00:00Z", dockerImageReference: "quay.io/x/app@{D1}", image: "{D1}", generation: 3}}]
  - tag: failed
    items: null
    conditions: [{{type: ImportSuccess, status: "False", reason: NotFound, message: gone, generation: 2}}]
  - tag: pin
    items: [{{created: "2026-01-01T00:00:00Z", dockerImageReference: "quay.io/x/app@{D1}", image: "{D1}", generation: 0}}]
  - tag: moved
    items: [{{created: "2026-01-01T00:00:00Z", dockerImageReference: "quay.io/x/app@{D1}", image: "{D1}", generation: 3}}]
  - tag: legacy-pin
    items: [{{created: "2026-01-01T00:00:00Z", dockerImageReference: "quay.io/x/app@{D2}", image: "{D2}", generation: 3}}]
  - tag: searched
    items: [{{created: "2026-01-01T00:00:00Z", dockerImageReference: "quay.io/x/app@{D1}", image: "{D1}", generation: 3}}]
  - tag: short
    items: [{{created: "2026-01-01T00:00:00Z", dockerImageReference: "docker.io/library/app@{D1}", image: "{D1}", generation: 3}}]
  - tag: elsewhere
    items: [{{created: "2026-01-01T00:00:00Z", dockerImageReference: "quay.io/x/app@{D1}", image: "{D1}", generation: 3}}]
"#
        ));
        let by_tag: Vec<(String, bool, bool)> = plans(&is)
            .into_iter()
            .map(|p| p.expect("plan"))
            .map(|p| {
                (
                    p.tag.clone(),
                    spec_changed(&is, &p),
                    pinned_and_done(&is, &p),
                )
            })
            .collect();
        assert_eq!(
            by_tag,
            vec![
                ("new".into(), true, false),
                ("done".into(), false, false),
                ("bumped".into(), true, false),
                ("failed".into(), false, false),
                ("pin".into(), false, true),
                // A pinned index imported in Legacy mode holds its platform's manifest.
                ("legacy-pin".into(), false, true),
                ("moved".into(), true, false),
                // Found through import.searchRegistries: not a change.
                ("searched".into(), false, false),
                ("short".into(), false, false),
                ("elsewhere".into(), true, false),
            ]
        );
    }

    fn items(status: &ImageStreamStatus, tag: &str) -> Vec<(String, i64)> {
        status
            .tags
            .iter()
            .flatten()
            .find(|t| t.tag == tag)
            .map(|t| {
                t.items()
                    .iter()
                    .map(|i| (i.image.to_string(), i.generation))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn apply_keeps_history_and_conditions() {
        let mut st = ImageStreamStatus::default();
        assert_eq!(
            pull_repository("nginx:1"),
            Some("docker.io/library/nginx".into())
        );
        assert_eq!(
            pull_repository("team/app"),
            Some("docker.io/team/app".into())
        );
        assert_eq!(
            pull_repository(
                "Quay.io/x/app@sha256:1111111111111111111111111111111111111111111111111111111111111111"
            ),
            Some("quay.io/x/app".into())
        );
        let img = |d: &str| Outcome::Image {
            reference: format!("quay.io/x/app@{d}"),
            digest: d.to_owned(),
        };
        assert!(apply(&mut st, "t", 1, &img(D1), "2026-01-01T00:00:00Z", 2));
        assert_eq!(items(&st, "t"), vec![(D1.to_owned(), 1)]);
        // Unchanged digest: no new item, the generation is recorded.
        assert!(apply(&mut st, "t", 2, &img(D1), "2026-01-02T00:00:00Z", 2));
        assert_eq!(items(&st, "t"), vec![(D1.to_owned(), 2)]);
        assert!(
            !apply(&mut st, "t", 2, &img(D1), "2026-01-03T00:00:00Z", 2),
            "nothing changed"
        );
        // A failure keeps the last good item and records the reason.
        let fail = Outcome::Failed {
            reason: Reason::Unauthorized,
            message: "bad password".into(),
        };
        assert!(apply(&mut st, "t", 3, &fail, "2026-01-04T00:00:00Z", 2));
        assert_eq!(items(&st, "t"), vec![(D1.to_owned(), 2)]);
        let cond = st
            .tags
            .as_ref()
            .and_then(|t| t[0].condition(CONDITION_IMPORT_SUCCESS))
            .cloned()
            .expect("cond");
        assert_eq!(
            (cond.reason.as_deref(), cond.generation),
            (Some("Unauthorized"), 3)
        );
        assert_eq!(
            cond.last_transition_time.as_deref(),
            Some("2026-01-04T00:00:00Z")
        );
        // The same failure again keeps its transition time.
        apply(&mut st, "t", 3, &fail, "2026-01-05T00:00:00Z", 2);
        let cond = st
            .tags
            .as_ref()
            .and_then(|t| t[0].condition(CONDITION_IMPORT_SUCCESS))
            .cloned()
            .expect("cond");
        assert_eq!(
            cond.last_transition_time.as_deref(),
            Some("2026-01-04T00:00:00Z")
        );
        // A new digest is prepended, the condition cleared, history capped.
        assert!(apply(&mut st, "t", 4, &img(D2), "2026-01-06T00:00:00Z", 2));
        assert_eq!(
            items(&st, "t"),
            vec![(D2.to_owned(), 4), (D1.to_owned(), 2)]
        );
        assert!(st.tags.as_ref().is_some_and(|t| t[0].conditions.is_none()));
        apply(&mut st, "t", 5, &img(D1), "2026-01-07T00:00:00Z", 2);
        assert_eq!(
            items(&st, "t"),
            vec![(D1.to_owned(), 5), (D2.to_owned(), 4)]
        );
    }

    #[test]
    fn registry_globs() {
        let allowed = vec![
            "quay.io".to_owned(),
            "*.example.com".to_owned(),
            "localhost:*".to_owned(),
        ];
        for (host, want) in [
            ("quay.io", true),
            ("QUAY.io", true),
            ("quay.io:443", false),
            ("a.example.com", true),
            ("example.com", false),
            ("localhost:5000", true),
            ("docker.io", false),
        ] {
            assert_eq!(registry_allowed(host, &allowed), want, "{host}");
        }
        assert!(registry_allowed("anything", &[]));
    }

    #[test]
    fn followers_of_an_imported_tag_settle_in_one_import() {
        let is = stream(
            r#"
metadata: {name: app, namespace: team}
spec:
  tags:
  - {name: stage, from: {kind: ImageStreamTag, name: "app:prod"}}
  - {name: prod, from: {kind: ImageStreamTag, name: "latest"}}
  - {name: latest, from: {kind: DockerImage, name: "quay.io/x/app:1"}}
  - {name: elsewhere, from: {kind: ImageStreamTag, name: "app:latest", namespace: other}}
  - {name: other, from: {kind: ImageStreamTag, name: "base:latest"}}
  - {name: loop1, from: {kind: ImageStreamTag, name: "loop2"}}
  - {name: loop2, from: {kind: ImageStreamTag, name: "loop1"}}
"#,
        );
        assert_eq!(
            followers(&is, &["latest".to_owned()]),
            vec!["prod".to_owned(), "stage".to_owned()],
            "aliases of aliases, not tags of other streams or namespaces"
        );
        assert_eq!(
            followers(&is, &["loop1".to_owned()]),
            vec!["loop2".to_owned()]
        );
        assert!(followers(&is, &["stage".to_owned()]).is_empty());

        let all: Vec<TagPlan> = plans(&is).into_iter().filter_map(Result::ok).collect();
        let order: Vec<&str> = import_order("team", "app", &all)
            .iter()
            .map(|p| p.tag.as_str())
            .collect();
        assert_eq!(
            order,
            vec![
                "latest",
                "prod",
                "stage",
                "elsewhere",
                "other",
                "loop1",
                "loop2"
            ],
            "the registry tag, then each alias after the tag it follows"
        );
    }
}
