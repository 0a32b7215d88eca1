//! One admission decision: every container's resolution and access answer,
//! shared by the webhook's response, `review` and the audit log.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::access::{AccessChecker, AccessDecision, ServiceAccount};
use crate::resolve::{self, Form, Resolution};
use crate::snapshot::Snapshot;
use crate::wire::Request;
use crate::workload::{ContainerList, Kind, PodView};

/// Which webhook asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Mutate,
    Validate,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Mutate => "mutate",
            Endpoint::Validate => "validate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
        }
    }
}

/// Settings a decision reads.
pub struct Policy<'p> {
    pub stream_hosts: &'p [String],
}

/// Everything known about one request once its images are resolved.
#[derive(Debug)]
pub struct Evaluation<'r> {
    pub kind: Kind,
    pub operation: Operation,
    pub namespace: &'r str,
    pub service_account: ServiceAccount<'r>,
    pub images: Vec<ImageDecision<'r>>,
}

/// One container's image.
#[derive(Debug)]
pub struct ImageDecision<'r> {
    pub list: ContainerList,
    pub index: usize,
    pub container: &'r str,
    pub requested: &'r str,
    pub resolution: Resolution<'r>,
    /// Unchanged on UPDATE: not resolved or checked again.
    pub unchanged: bool,
    /// This container may be rewritten (not controller-owned, not a Job update).
    pub rewritable: bool,
    /// Filled for every resolved stream reference.
    pub access: Option<AccessDecision>,
    /// The stream the pinned image itself names, when it is a stream-host
    /// reference (as OpenShift records images pushed to its registry): the
    /// service account must be allowed to use that one too.
    pub via: Option<(String, String)>,
}

impl ImageDecision<'_> {
    /// JSON pointer of the image field.
    pub fn path(&self, kind: Kind) -> ImagePath {
        ImagePath {
            kind,
            list: self.list,
            index: self.index,
        }
    }

    /// The pinned reference, when this container resolved.
    pub fn resolved(&self) -> Option<&Arc<str>> {
        match &self.resolution {
            Resolution::Resolved { image, .. } => Some(image),
            _ => None,
        }
    }

    /// Why this image makes the request fail, if it does.
    pub fn denial(&self, endpoint: Endpoint) -> Option<String> {
        if let Some(AccessDecision::Denied(why)) = &self.access {
            return Some(why.clone());
        }
        match &self.resolution {
            // A stream-host reference names no real registry: unresolved, the pod cannot pull.
            // A short name in a controller-owned object was the owner's to pin; left as it is.
            Resolution::Unresolvable { reason, form, .. }
                if self.rewritable || *form == Form::StreamHost =>
            {
                Some(reason.clone())
            }
            // Reaching /validate still unpinned means the mutating webhook did not run on it.
            // An image that resolves to itself is already pinned (a digest reference
            // that is also a stream reference, as OpenShift records pushed images).
            Resolution::Resolved { stream, image, .. }
                if endpoint == Endpoint::Validate
                    && self.rewritable
                    && **image != *self.requested =>
            {
                Some(format!(
                    "it names imagestream {stream} but was not pinned to a digest: is the imagestream-webhook MutatingWebhookConfiguration installed for this namespace?"
                ))
            }
            _ => None,
        }
    }
}

/// The JSON pointer of one container's image field, written out only where
/// it is sent (no string is built per container).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePath {
    pub kind: Kind,
    pub list: ContainerList,
    pub index: usize,
}

impl ImagePath {
    /// Appends the pointer; it needs no JSON escaping.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.kind.pod_spec_pointer().as_bytes());
        out.push(b'/');
        out.extend_from_slice(self.list.field().as_bytes());
        out.push(b'/');
        crate::jsonw::unsigned(out, self.index as u64);
        out.extend_from_slice(b"/image");
    }
}

impl std::fmt::Display for ImagePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/image",
            self.kind.pod_spec_pointer(),
            self.list.field(),
            self.index
        )
    }
}

/// What the webhook answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// The image field and the new image, for each rewritten container.
    Patch(Vec<(ImagePath, Arc<str>)>),
    Deny(String),
}

/// Why a request is allowed untouched without looking at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A kind with no pod spec of interest.
    Kind,
    /// DELETE, CONNECT, or a subresource other than `ephemeralcontainers`.
    Operation,
    /// A CREATE or UPDATE with no object.
    NoObject,
}

/// Resolves every container of the request; no access checks yet.
pub fn evaluate<'r>(
    snap: &Snapshot,
    policy: &Policy<'_>,
    req: &'r Request<'r>,
) -> Result<Evaluation<'r>, Skip> {
    let kind = Kind::from_group_kind(&req.kind.group, &req.kind.kind).ok_or(Skip::Kind)?;
    let operation = match req.operation.as_str() {
        "CREATE" => Operation::Create,
        "UPDATE" => Operation::Update,
        _ => return Err(Skip::Operation),
    };
    let ephemeral = match req.sub_resource.as_deref() {
        None | Some("") => false,
        Some("ephemeralcontainers") if kind == Kind::Pod => true,
        Some(_) => return Err(Skip::Operation),
    };
    let object = req.object.as_ref().ok_or(Skip::NoObject)?;
    let namespace = req
        .namespace
        .as_deref()
        .or(object.metadata.namespace.as_deref())
        .unwrap_or("default");
    let view = PodView::of(kind, object);
    let old_view = match operation {
        Operation::Update => req.old_object.as_ref().map(|o| PodView::of(kind, o)),
        Operation::Create => None,
    };
    // Adding or removing the annotation asks for every image to be looked at again.
    let toggled = old_view
        .as_ref()
        .is_some_and(|old| old.resolve_names != view.resolve_names);
    let owned = object.metadata.has_controller();
    // A Job's template is immutable: a rewrite on UPDATE would be refused by the API server.
    let job_update = operation == Operation::Update && kind == Kind::Job;
    let ctx = resolve::Context {
        namespace,
        resolve_names: view.resolve_names,
        stream_hosts: policy.stream_hosts,
    };
    let mut images = Vec::with_capacity(view.containers().count());
    for (list, index, container) in view.containers() {
        let Some(requested) = container.image.as_deref() else {
            continue;
        };
        let unchanged = !toggled
            && old_view
                .as_ref()
                .and_then(|old| old.image_of(list, &container.name))
                == Some(requested);
        let (resolution, via) = if unchanged {
            (Resolution::NotAStream, None)
        } else {
            settle(snap, &ctx, resolve::resolve(snap, &ctx, requested))
        };
        // Ephemeral containers are added by a person debugging, never by the owner's
        // template, so pinning them cannot make the owner disown the pod.
        let owner_pins = owned && !(ephemeral && list == ContainerList::EphemeralContainers);
        images.push(ImageDecision {
            list,
            index,
            container: &container.name,
            requested,
            resolution,
            unchanged,
            rewritable: !owner_pins && !job_update,
            access: None,
            via,
        });
    }
    Ok(Evaluation {
        kind,
        operation,
        namespace,
        service_account: ServiceAccount {
            namespace,
            name: view.service_account(),
        },
        images,
    })
}

/// A pinned image that is itself a stream reference (a stream-host reference,
/// as OpenShift records images pushed to its registry, or a short name in a
/// hand-written status) must be a fixed point: resolving it again gives
/// itself. Otherwise a second pass (the API server's reinvocation, or
/// `/validate`) would answer differently, so it is refused now, with the reason.
fn settle<'i>(
    snap: &Snapshot,
    ctx: &resolve::Context<'_, 'i>,
    first: Resolution<'i>,
) -> (Resolution<'i>, Option<(String, String)>) {
    let Resolution::Resolved {
        stream,
        selector,
        form,
        image,
    } = first
    else {
        return (first, None);
    };
    if names_another_registry(&image, ctx.stream_hosts) {
        // The common case (an image pinned in a real registry) needs no second parse.
        return (
            Resolution::Resolved {
                stream,
                selector,
                form,
                image,
            },
            None,
        );
    }
    let broken = |reason: String| Resolution::Unresolvable {
        stream,
        selector,
        form,
        reason,
    };
    let via = match resolve::resolve(snap, ctx, &image) {
        Resolution::NotAStream => None,
        Resolution::Resolved {
            stream: s,
            image: again,
            ..
        } if again == image => Some((s.namespace.to_owned(), s.name.to_owned())),
        Resolution::Resolved { image: other, .. } => {
            let why = format!(
                "its current image {image} is itself a stream reference that resolves on to {other}; re-import the tag so it records the source image"
            );
            return (broken(why), None);
        }
        Resolution::Unresolvable { reason, .. } => {
            let why = format!(
                "its current image {image} is itself a stream reference that does not resolve: {reason}"
            );
            return (broken(why), None);
        }
    };
    (
        Resolution::Resolved {
            stream,
            selector,
            form,
            image,
        },
        via,
    )
}

/// The image's first component is a registry host (distribution's rule: it
/// has a `.` or `:`, is `localhost`, or has upper case) other than the stream
/// hosts: then it is no stream reference, which `resolve` would also conclude.
fn names_another_registry(image: &str, stream_hosts: &[String]) -> bool {
    let Some((first, _)) = image.split_once('/') else {
        return false;
    };
    let host = first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase());
    host && !stream_hosts
        .iter()
        .any(|h| crate::reference::hosts_equal(h, first))
}

impl<'r> Evaluation<'r> {
    /// Asks the access checker once per distinct stream of the request.
    pub async fn check_access(&mut self, access: &AccessChecker, snap: &Snapshot) {
        let mut asked: Vec<(resolve::StreamName<'_>, AccessDecision)> =
            Vec::with_capacity(self.images.len());
        let mut answers = Vec::with_capacity(self.images.len());
        for img in &self.images {
            let Resolution::Resolved { stream, .. } = img.resolution else {
                answers.push(None);
                continue;
            };
            let via = img
                .via
                .as_ref()
                .map(|(namespace, name)| resolve::StreamName { namespace, name });
            let mut answer = AccessDecision::Allowed;
            for name in std::iter::once(stream).chain(via) {
                let a = match asked.iter().find(|(s, _)| *s == name) {
                    Some((_, a)) => a.clone(),
                    None => {
                        let a = access.check(snap, self.service_account, name).await;
                        asked.push((name, a.clone()));
                        a
                    }
                };
                if !a.is_allowed() {
                    answer = a;
                    break;
                }
            }
            answers.push(Some(answer));
        }
        for (img, answer) in self.images.iter_mut().zip(answers) {
            img.access = answer;
        }
    }

    /// The answer for this endpoint.
    pub fn verdict(&self, endpoint: Endpoint, object_name: &str) -> Verdict {
        let mut denied = String::new();
        for img in &self.images {
            if let Some(why) = img.denial(endpoint) {
                let sep = if denied.is_empty() { "" } else { "; " };
                let _ = write!(
                    denied,
                    "{sep}container {:?} image {:?}: {why}",
                    img.container, img.requested
                );
            }
        }
        if !denied.is_empty() {
            return Verdict::Deny(format!(
                "imagestream-webhook denied {} {}/{object_name}: {denied}",
                self.kind, self.namespace
            ));
        }
        if endpoint == Endpoint::Validate {
            return Verdict::Allow;
        }
        let patch: Vec<_> = self
            .images
            .iter()
            .filter(|img| img.rewritable)
            .filter_map(|img| {
                let image = img.resolved()?;
                (**image != *img.requested).then(|| (img.path(self.kind), image.clone()))
            })
            .collect();
        if patch.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Patch(patch)
        }
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    #[test]
    fn registry_hosts_are_recognised_like_the_parser_does() {
        let hosts = ["image-registry.openshift-image-registry.svc:5000".to_owned()];
        for (image, other) in [
            ("quay.io/a/b@sha256:1", true),
            ("localhost/a@sha256:1", true),
            ("Registry/a@sha256:1", true),
            (
                "IMAGE-REGISTRY.openshift-image-registry.svc:5000/ns/a@sha256:1",
                false,
            ),
            ("library/nginx@sha256:1", false),
            ("nginx@sha256:1", false),
        ] {
            assert_eq!(names_another_registry(image, &hosts), other, "{image}");
        }
    }
}
