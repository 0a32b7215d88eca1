//! The tags whose image comes from the streams themselves (aliases of
//! another tag, pins to an image of a stream's history): what they should
//! hold now, decided from the snapshot and the stream being written.

use crate::import::{self, Outcome, Reason, Source, TagPlan};
use crate::stream::snapshot::Snapshot;
use crate::stream::{ImageStream, ImageStreamStatus};

/// What `status` holds of its stream's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// All of it, with what this pass imported: digests are looked up there.
    Whole,
    /// Each tag's newest item (a snapshot's head, when planning): digests
    /// are looked up in the snapshot's index of the stream.
    Indexed,
}

/// The image an alias or a pin should hold now, or why there is none.
pub fn local_outcome(
    snap: &Snapshot,
    is: &ImageStream,
    status: &ImageStreamStatus,
    plan: &TagPlan,
    history: History,
) -> Outcome {
    let same_stream = |ns: &str, stream: &str| {
        is.metadata.namespace.as_deref().unwrap_or("default") == ns
            && is.metadata.name.as_deref() == Some(stream)
    };
    match &plan.source {
        Source::Tag {
            namespace,
            stream,
            tag,
        } => {
            let item = if same_stream(namespace, stream) {
                status
                    .tags
                    .iter()
                    .flatten()
                    .find(|t| &t.tag == tag)
                    .and_then(|t| t.latest())
                    .cloned()
            } else {
                snap.stream(namespace, stream)
                    .and_then(|s| s.head.status_tag(tag))
                    .and_then(|t| t.latest())
                    .cloned()
            };
            match item {
                Some(i) => Outcome::Image {
                    reference: i.docker_image_reference.to_string(),
                    digest: i.image.into(),
                },
                None => Outcome::Failed {
                    reason: Reason::NotFound,
                    message: format!(
                        "source tag {stream}:{tag} in namespace {namespace} has no image yet"
                    ),
                },
            }
        }
        Source::Image {
            namespace,
            stream,
            digest,
        } => {
            let found = if same_stream(namespace, stream) && history == History::Whole {
                import::find_image_in(status.tags.as_deref().unwrap_or_default(), digest)
                    .map(|i| pinned_reference(&i.docker_image_reference, digest))
            } else {
                snap.stream(namespace, stream)
                    .and_then(|s| s.image(digest))
                    .map(|pinned| pinned.to_string())
            };
            match found {
                Some(reference) => Outcome::Image {
                    reference,
                    digest: digest.clone(),
                },
                None => Outcome::Failed {
                    reason: Reason::NotFound,
                    message: format!(
                        "imagestream {namespace}/{stream} has no image {digest} in its history"
                    ),
                },
            }
        }
        Source::Registry { .. } => Outcome::Failed {
            reason: Reason::InternalError,
            message: "registry tag imported without the registry".into(),
        },
    }
}

/// A history item's reference pinned to its digest.
fn pinned_reference(reference: &str, digest: &str) -> String {
    match crate::reference::ImageRef::parse(reference) {
        Ok(r) => r.with_digest(digest),
        Err(_) => reference.to_owned(),
    }
}

/// An alias or pin whose status does not hold its target yet.
pub fn local_target_differs(is: &ImageStream, plan: &TagPlan, target: Outcome) -> bool {
    let current = is.status_tag(&plan.tag).and_then(|t| t.latest());
    match (target, current) {
        (Outcome::Image { digest, .. }, Some(c)) => {
            *c.image != *digest || c.generation < plan.generation
        }
        (Outcome::Image { .. }, None) => true,
        // A missing source is recorded once per generation, not retried every pass.
        (Outcome::Failed { .. }, _) => import::spec_changed(is, plan),
    }
}
