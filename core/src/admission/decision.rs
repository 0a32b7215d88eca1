//! One admission decision: every image's resolution and access answer,
//! shared by the webhook's response, `review` and the audit log.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::access::{AccessDecision, AccessPort, ServiceAccount};
use crate::admission::wire::Request;
use crate::admission::workload::{ContainerList, Holder, Kind, PodView};
use crate::stream::resolve::{self, Form, Resolution};
use crate::stream::snapshot::Snapshot;
use crate::text::clip;

/// Denials named in full in a denial message; the rest are counted. A review
/// of 31,000 forbidden containers made an 18 MB message, echoed into the
/// response, the audit record and the log.
pub const DENIALS_LISTED: usize = 8;
/// Bytes of one image's reason (it can quote the service account's name,
/// which the request chooses), in messages, annotations and audit records.
pub const REASON_LIMIT: usize = 1024;
/// Bytes of a container, volume or object name quoted in a message.
pub const NAME_LIMIT: usize = 253;
/// Bytes of an image quoted in a message (stream references are shorter).
pub const IMAGE_LIMIT: usize = 512;

/// The access answer for one image: shared by every image of the request
/// that names the same stream (a request of thousands of forbidden images
/// holds one copy of the denial, not thousands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// What is missing and how to grant it.
    Denied(Arc<str>),
}

impl From<AccessDecision> for Access {
    fn from(a: AccessDecision) -> Access {
        match a {
            AccessDecision::Allowed => Access::Allowed,
            AccessDecision::Denied(why) => Access::Denied(why.into()),
        }
    }
}

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

/// One image of the pod spec: a container's or an image volume's.
#[derive(Debug)]
pub struct ImageDecision<'r> {
    pub holder: Holder,
    pub index: usize,
    /// The container's or the volume's name.
    pub name: &'r str,
    pub requested: &'r str,
    pub resolution: Resolution<'r>,
    /// Unchanged on UPDATE: not resolved or checked again.
    pub unchanged: bool,
    /// This image may be rewritten (not controller-owned, not a Job update).
    pub rewritable: bool,
    /// Filled for every resolved stream reference.
    pub access: Option<Access>,
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
            holder: self.holder,
            index: self.index,
        }
    }

    /// The pinned reference, when this image resolved.
    pub fn resolved(&self) -> Option<&Arc<str>> {
        match &self.resolution {
            Resolution::Resolved { image, .. } => Some(image),
            _ => None,
        }
    }

    /// Why this image makes the request fail, if it does, cut to `REASON_LIMIT`.
    #[inline]
    pub fn denial(&self, endpoint: Endpoint) -> Option<String> {
        self.why_denied(endpoint).map(|why| match why {
            Cow::Borrowed(why) => clip(why, REASON_LIMIT).into_owned(),
            Cow::Owned(why) if why.len() <= REASON_LIMIT => why,
            Cow::Owned(why) => clip(&why, REASON_LIMIT).into_owned(),
        })
    }

    /// This image makes the request fail.
    #[inline]
    pub fn is_denied(&self, endpoint: Endpoint) -> bool {
        self.why_denied(endpoint).is_some()
    }

    #[inline]
    fn why_denied(&self, endpoint: Endpoint) -> Option<Cow<'_, str>> {
        if let Some(Access::Denied(why)) = &self.access {
            return Some(Cow::Borrowed(why));
        }
        match &self.resolution {
            // A stream-host reference names no real registry: unresolved, the pod cannot pull.
            // A short name in a controller-owned object was the owner's to pin; left as it is.
            Resolution::Unresolvable { reason, form, .. }
                if self.rewritable || *form == Form::StreamHost =>
            {
                Some(Cow::Borrowed(reason))
            }
            // Reaching /validate still unpinned means the mutating webhook did not run on it.
            // An image that resolves to itself is already pinned (a digest reference
            // that is also a stream reference, as OpenShift records pushed images).
            Resolution::Resolved { stream, image, .. }
                if endpoint == Endpoint::Validate
                    && self.rewritable
                    && **image != *self.requested =>
            {
                Some(Cow::Owned(format!(
                    "it names imagestream {stream} but was not pinned to a digest: is the imagestream-webhook MutatingWebhookConfiguration installed for this namespace?"
                )))
            }
            _ => None,
        }
    }
}

/// The JSON pointer of one image field (a container's `image`, an image
/// volume's `image/reference`), written out only where it is sent (no string
/// is built per image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePath {
    pub kind: Kind,
    pub holder: Holder,
    pub index: usize,
}

impl ImagePath {
    /// Appends the pointer; it needs no JSON escaping.
    pub fn write(&self, out: &mut Vec<u8>) {
        let (list, field): (&[u8], &[u8]) = match self.holder {
            Holder::Container(ContainerList::Containers) => (b"/containers/", b"/image"),
            Holder::Container(ContainerList::InitContainers) => (b"/initContainers/", b"/image"),
            Holder::Container(ContainerList::EphemeralContainers) => {
                (b"/ephemeralContainers/", b"/image")
            }
            Holder::Volume => (b"/volumes/", b"/image/reference"),
        };
        out.extend_from_slice(self.kind.pod_spec_pointer().as_bytes());
        out.extend_from_slice(list);
        crate::admission::jsonw::unsigned(out, self.index as u64);
        out.extend_from_slice(field);
    }
}

impl std::fmt::Display for ImagePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.kind.pod_spec_pointer(),
            self.holder.field(),
            self.index,
            self.holder.image_field()
        )
    }
}

/// What the webhook answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// The image field and the new image, for each rewritten image.
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

/// Why a request was not evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unevaluated {
    /// Allowed untouched without looking at it.
    Skip(Skip),
    /// Not a review the API server sends: refused with 400 and this reason.
    Invalid(String),
}

/// Resolves every image of the request; no access checks yet.
pub fn evaluate<'r>(
    snap: &Snapshot,
    policy: &Policy<'_>,
    req: &'r Request<'r>,
) -> Result<Evaluation<'r>, Unevaluated> {
    let kind = Kind::from_group_kind(&req.kind.group, &req.kind.kind)
        .ok_or(Unevaluated::Skip(Skip::Kind))?;
    // Every handled kind is namespaced, and the API server always says where
    // the request is: the object's own metadata.namespace is the requester's
    // claim, never the namespace whose streams and service accounts count.
    let namespace = match req.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => ns,
        _ => {
            return Err(Unevaluated::Invalid(format!(
                "invalid AdmissionReview: request.namespace is missing, and {kind} is a namespaced kind; the API server always sends it"
            )));
        }
    };
    let operation = match req.operation.as_str() {
        "CREATE" => Operation::Create,
        "UPDATE" => Operation::Update,
        _ => return Err(Unevaluated::Skip(Skip::Operation)),
    };
    let ephemeral = match req.sub_resource.as_deref() {
        None | Some("") => false,
        Some("ephemeralcontainers") if kind == Kind::Pod => true,
        Some(_) => return Err(Unevaluated::Skip(Skip::Operation)),
    };
    let object = req
        .object
        .as_ref()
        .ok_or(Unevaluated::Skip(Skip::NoObject))?;
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
    // Only consulted when the annotation was not toggled.
    let old_images = old_view
        .as_ref()
        .filter(|_| !toggled)
        .map(|old| old.index());
    let mut images = Vec::with_capacity(view.capacity());
    view.for_each_image(|img| {
        let Some(requested) = img.image else {
            return;
        };
        let unchanged = old_images
            .as_ref()
            .and_then(|old| old.image_of(img.holder, img.name))
            == Some(requested);
        let (resolution, via) = if unchanged {
            (Resolution::NotAStream, None)
        } else {
            settle(snap, &ctx, resolve::resolve(snap, &ctx, requested))
        };
        // Ephemeral containers are added by a person debugging, never by the owner's
        // template, so pinning them cannot make the owner disown the pod.
        let owner_pins = owned
            && !(ephemeral && img.holder == Holder::Container(ContainerList::EphemeralContainers));
        images.push(ImageDecision {
            holder: img.holder,
            index: img.index,
            name: img.name,
            requested,
            resolution,
            unchanged,
            rewritable: !owner_pins && !job_update,
            access: None,
            via,
        });
    });
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
        .any(|h| crate::reference::host::hosts_equal(h, first))
}

impl<'r> Evaluation<'r> {
    /// Asks the access checker once per distinct stream of the request.
    pub async fn check_access(&mut self, access: &impl AccessPort, snap: &Snapshot) {
        let mut asked = Asked::with_capacity(self.images.len());
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
            let mut answer = Access::Allowed;
            for name in std::iter::once(stream).chain(via) {
                let a = match asked.get(name) {
                    Some(a) => a.clone(),
                    None => {
                        let a = Access::from(access.check(snap, self.service_account, name).await);
                        asked.insert(name, a.clone());
                        a
                    }
                };
                if let Access::Denied(_) = a {
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

    /// The answer for this endpoint. A denial names the first
    /// `DENIALS_LISTED` denied images in full and counts the rest, so its
    /// size does not grow with the request's.
    pub fn verdict(&self, endpoint: Endpoint, object_name: &str) -> Verdict {
        let mut denied = String::new();
        let mut count = 0usize;
        for img in &self.images {
            if count >= DENIALS_LISTED {
                count += usize::from(img.is_denied(endpoint));
                continue;
            }
            if let Some(why) = img.denial(endpoint) {
                let sep = if count == 0 { "" } else { "; " };
                count += 1;
                let _ = write!(
                    denied,
                    "{sep}{} {:?} image {:?}: {why}",
                    img.holder.noun(),
                    clip(img.name, NAME_LIMIT),
                    clip(img.requested, IMAGE_LIMIT)
                );
            }
        }
        if count > 0 {
            if count > DENIALS_LISTED {
                let _ = write!(denied, "; …and {} more", count - DENIALS_LISTED);
            }
            return Verdict::Deny(format!(
                "imagestream-webhook denied {} {}/{}: {denied}",
                self.kind,
                clip(self.namespace, NAME_LIMIT),
                clip(object_name, NAME_LIMIT)
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

/// The access answers of one request by stream: a list while short (the
/// common case, where hashing costs more than a scan), an index once long,
/// so a request naming thousands of streams stays linear.
struct Asked<'s> {
    answers: Vec<(resolve::StreamName<'s>, Access)>,
    index: Option<HashMap<resolve::StreamName<'s>, usize>>,
}

/// Past this many distinct streams, answers are looked up by hash.
const ASKED_SCAN: usize = 16;

impl<'s> Asked<'s> {
    fn with_capacity(images: usize) -> Self {
        Asked {
            answers: Vec::with_capacity(images.min(ASKED_SCAN + 1)),
            index: None,
        }
    }

    fn get(&self, name: resolve::StreamName<'s>) -> Option<&Access> {
        let at = match &self.index {
            None => self.answers.iter().position(|(s, _)| *s == name)?,
            Some(index) => *index.get(&name)?,
        };
        self.answers.get(at).map(|(_, a)| a)
    }

    fn insert(&mut self, name: resolve::StreamName<'s>, answer: Access) {
        self.answers.push((name, answer));
        let at = self.answers.len() - 1;
        match &mut self.index {
            Some(index) => {
                index.insert(name, at);
            }
            None if at >= ASKED_SCAN => {
                let index = self
                    .answers
                    .iter()
                    .enumerate()
                    .map(|(i, (s, _))| (*s, i))
                    .collect();
                self.index = Some(index);
            }
            None => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::resolve::{Selector, StreamName};

    #[test]
    fn image_paths_are_written_as_displayed() {
        let holders = [
            Holder::Container(ContainerList::Containers),
            Holder::Container(ContainerList::InitContainers),
            Holder::Container(ContainerList::EphemeralContainers),
            Holder::Volume,
        ];
        for kind in Kind::ALL {
            for holder in holders {
                let path = ImagePath {
                    kind,
                    holder,
                    index: 42,
                };
                let mut out = Vec::new();
                path.write(&mut out);
                assert_eq!(String::from_utf8(out).expect("utf-8"), path.to_string());
            }
        }
        let volume = ImagePath {
            kind: Kind::CronJob,
            holder: Holder::Volume,
            index: 3,
        };
        assert_eq!(
            volume.to_string(),
            "/spec/jobTemplate/spec/template/spec/volumes/3/image/reference"
        );
    }

    fn denied<'r>(holder: Holder, name: &'r str) -> ImageDecision<'r> {
        ImageDecision {
            holder,
            index: 0,
            name,
            requested: "app:latest",
            resolution: Resolution::Unresolvable {
                stream: StreamName {
                    namespace: "ns",
                    name: "app",
                },
                selector: Selector::Tag("latest"),
                form: Form::Local,
                reason: "r".repeat(3000),
            },
            unchanged: false,
            rewritable: true,
            access: None,
            via: None,
        }
    }

    fn evaluation(images: Vec<ImageDecision<'_>>) -> Evaluation<'_> {
        Evaluation {
            kind: Kind::Pod,
            operation: Operation::Create,
            namespace: "ns",
            service_account: ServiceAccount {
                namespace: "ns",
                name: "default",
            },
            images,
        }
    }

    #[test]
    fn a_denial_names_the_first_few_and_counts_the_rest() {
        let names: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
        let mut images: Vec<_> = names
            .iter()
            .map(|n| denied(Holder::Container(ContainerList::Containers), n))
            .collect();
        images[1].holder = Holder::Volume;
        let eval = evaluation(images);
        let long_name = "n".repeat(100_000);
        let Verdict::Deny(message) = eval.verdict(Endpoint::Mutate, &long_name) else {
            panic!("denied");
        };
        assert!(message.len() < 16 * 1024, "{}", message.len());
        assert!(message.contains("container \"c0\" image \"app:latest\": rrr"));
        assert!(message.contains("; volume \"c1\" image"), "{message}");
        assert!(message.contains("container \"c7\""));
        assert!(!message.contains("container \"c8\""));
        assert!(message.ends_with("; …and 992 more"), "{message}");

        // Exactly DENIALS_LISTED: nothing counted.
        let few = evaluation(
            names[..DENIALS_LISTED]
                .iter()
                .map(|n| denied(Holder::Volume, n))
                .collect(),
        );
        let Verdict::Deny(message) = few.verdict(Endpoint::Validate, "p") else {
            panic!("denied");
        };
        assert!(!message.contains("more"), "{message}");
        assert!(message.starts_with("imagestream-webhook denied Pod ns/p: volume \"c0\""));
    }

    #[test]
    fn access_answers_are_found_by_scan_and_by_index() {
        let names: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
        let mut asked = Asked::with_capacity(100);
        fn stream(name: &str) -> StreamName<'_> {
            StreamName {
                namespace: "ns",
                name,
            }
        }
        for (i, name) in names.iter().enumerate() {
            assert!(asked.get(stream(name)).is_none());
            let answer = if i % 2 == 0 {
                Access::Allowed
            } else {
                Access::Denied(format!("no {i}").into())
            };
            asked.insert(stream(name), answer);
            // Every answer so far is found, before and after the index is built.
            for (j, earlier) in names[..=i].iter().enumerate() {
                let want = if j % 2 == 0 {
                    Access::Allowed
                } else {
                    Access::Denied(format!("no {j}").into())
                };
                assert_eq!(asked.get(stream(earlier)), Some(&want), "{i} {j}");
            }
        }
        assert!(asked.index.is_some());
        assert!(asked.get(stream("other")).is_none());
    }
}
