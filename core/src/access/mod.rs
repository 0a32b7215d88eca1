//! Whether a service account may use a stream: the permission OpenShift's
//! `system:image-puller` grants, `get` on `imagestreams/layers`: the answer
//! and its texts, the port admission asks through, and the local answers.

use std::fmt;
use std::path::Path;

use crate::config::SameNamespaceAccess;
use crate::rbac::{Attributes, Authorization, Subject};
use crate::stream::resolve::StreamName;
use crate::stream::snapshot::Snapshot;

/// The identity that runs a pod and pulls its images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceAccount<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
}

impl fmt::Display for ServiceAccount<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The answer to one (service account, stream) question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDecision {
    Allowed,
    /// The text says what is missing and how to grant it.
    Denied(String),
}

impl AccessDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, AccessDecision::Allowed)
    }
}

/// Where an answer came from, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Decided here: the same-namespace rule or the directory's RBAC objects.
    Local,
    Cache,
    Api,
}

impl Source {
    /// In declaration order, so `source as usize` indexes it.
    pub const ALL: [Source; 3] = [Source::Local, Source::Cache, Source::Api];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Cache => "cache",
            Source::Api => "api",
        }
    }
}

/// The resource attributes of "use stream NS/NAME".
pub fn stream_attributes<'a>(stream: &StreamName<'a>) -> Attributes<'a> {
    Attributes {
        verb: "get",
        api_group: "image.openshift.io",
        resource: "imagestreams",
        subresource: "layers",
        namespace: stream.namespace,
        name: stream.name,
    }
}

/// The permission, in words, for messages.
pub const PERMISSION: &str = "get on imagestreams/layers (image.openshift.io)";

/// The command that grants `sa` the use of `stream`.
pub fn grant_command(sa: ServiceAccount<'_>, stream: StreamName<'_>) -> String {
    format!(
        "kubectl create rolebinding {} --clusterrole=system:image-puller --serviceaccount={}:{} -n {}",
        binding_name(sa, stream),
        sa.namespace,
        sa.name,
        stream.namespace
    )
}

/// In directory mode the binding is a file of the streams directory: the
/// same command, written there instead of sent to a cluster.
pub fn grant_command_in(sa: ServiceAccount<'_>, stream: StreamName<'_>, dir: &Path) -> String {
    let file = dir.join(format!("{}.yaml", binding_name(sa, stream)));
    let shown = file.to_string_lossy();
    let file = shlex::try_quote(&shown).unwrap_or_else(|_| shown.clone());
    format!(
        "{} --dry-run=client -o yaml > {file}",
        grant_command(sa, stream)
    )
}

fn binding_name(sa: ServiceAccount<'_>, stream: StreamName<'_>) -> String {
    format!("{}-{}-pulls-{}", sa.namespace, sa.name, stream.name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(253)
        .collect()
}

/// The denial text: who, what, what is missing, and the fix (for the
/// streams directory `dir` in directory mode).
pub fn denial(
    sa: ServiceAccount<'_>,
    stream: StreamName<'_>,
    detail: &str,
    dir: Option<&Path>,
) -> String {
    let cmd = match dir {
        Some(dir) => grant_command_in(sa, stream, dir),
        None => grant_command(sa, stream),
    };
    format!(
        "service account {sa} may not use imagestream {stream}: it lacks {PERMISSION} in namespace {ns} ({detail}); grant it with: {cmd}",
        ns = stream.namespace,
    )
}

/// The port through which admission asks whether a service account may use
/// a stream. The binary's implementation may ask the API server (a cached
/// SubjectAccessReview); [`LocalAccess`] decides from the snapshot alone.
/// Used generically, so admission's call is dispatched statically and its
/// future lives on admission's own stack, as a direct call would.
pub trait AccessPort {
    fn check(
        &self,
        snap: &Snapshot,
        sa: ServiceAccount<'_>,
        stream: StreamName<'_>,
    ) -> impl Future<Output = AccessDecision> + Send;
}

/// One answer with its explanation, for `check-access`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    pub decision: AccessDecision,
    pub source: Source,
    /// What grants it (a rule or binding), when allowed.
    pub why: String,
}

/// The decisions made here, without asking anyone: the same-namespace rule
/// and the RBAC objects of the streams directory (in the snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAccess {
    pub same_namespace: SameNamespaceAccess,
}

impl LocalAccess {
    /// Allowed by the same-namespace rule, if it applies.
    pub fn same_namespace_rule(
        &self,
        sa: ServiceAccount<'_>,
        stream: StreamName<'_>,
    ) -> Option<Explained> {
        (sa.namespace == stream.namespace && self.same_namespace == SameNamespaceAccess::Allow)
            .then(|| Explained {
                decision: AccessDecision::Allowed,
                source: Source::Local,
                why: "same namespace (sameNamespaceAccess: allow)".to_owned(),
            })
    }

    /// The answer of the snapshot's RBAC objects alone.
    pub fn rbac(snap: &Snapshot, sa: ServiceAccount<'_>, stream: StreamName<'_>) -> Explained {
        let subject = Subject::service_account(sa.namespace, sa.name);
        match snap
            .rbac()
            .authorize(&subject.subject(), &stream_attributes(&stream))
        {
            Authorization::Allowed { via } => Explained {
                decision: AccessDecision::Allowed,
                source: Source::Local,
                why: via,
            },
            Authorization::Denied { reason } => Explained {
                decision: AccessDecision::Denied(denial(sa, stream, &reason, snap.streams_dir())),
                source: Source::Local,
                why: reason,
            },
        }
    }

    /// The decision and the rule or binding behind it.
    pub fn explain(
        &self,
        snap: &Snapshot,
        sa: ServiceAccount<'_>,
        stream: StreamName<'_>,
    ) -> Explained {
        self.same_namespace_rule(sa, stream)
            .unwrap_or_else(|| LocalAccess::rbac(snap, sa, stream))
    }
}

impl AccessPort for LocalAccess {
    async fn check(
        &self,
        snap: &Snapshot,
        sa: ServiceAccount<'_>,
        stream: StreamName<'_>,
    ) -> AccessDecision {
        self.explain(snap, sa, stream).decision
    }
}
