//! Access checks: the core's access port answered locally or by a cached SubjectAccessReview
//! (`sar`), each answer counted. May use the core, the Kubernetes client and `metrics`.

pub mod sar;

use imagestream_core::access::{
    AccessDecision, AccessPort, Explained, LocalAccess, ServiceAccount, Source,
};
use imagestream_core::config::SameNamespaceAccess;
use imagestream_core::stream::resolve::StreamName;
use imagestream_core::stream::snapshot::Snapshot;

use crate::metrics::AccessCounters;

/// How access is decided.
#[derive(Clone)]
pub enum Authority {
    /// The RBAC objects of the streams directory, in the snapshot.
    Directory,
    /// SubjectAccessReviews against the API server, cached.
    Api(sar::SarChecker),
}

/// Decides access; one per process, shared by every request.
#[derive(Clone)]
pub struct AccessChecker {
    pub authority: Authority,
    pub same_namespace: SameNamespaceAccess,
    /// Counts every answer by result and source, when metrics are on.
    pub checks: Option<AccessCounters>,
}

impl AccessChecker {
    pub fn directory(same_namespace: SameNamespaceAccess) -> AccessChecker {
        AccessChecker {
            authority: Authority::Directory,
            same_namespace,
            checks: None,
        }
    }

    /// The decision and the rule or binding behind it.
    pub async fn explain(
        &self,
        snap: &Snapshot,
        sa: ServiceAccount<'_>,
        stream: StreamName<'_>,
    ) -> Explained {
        match self.route(snap, sa, stream) {
            Route::Here(answer) => answer,
            Route::Api(sar) => ask_api(sar, sa, stream).await,
        }
    }

    /// The answer when it is decided here (the same-namespace rule, the
    /// directory's RBAC objects), or the checker to ask. Synchronous, so an
    /// answer decided here moves no future of the API path.
    fn route(&self, snap: &Snapshot, sa: ServiceAccount<'_>, stream: StreamName<'_>) -> Route<'_> {
        let local = LocalAccess {
            same_namespace: self.same_namespace,
        };
        if let Some(allowed) = local.same_namespace_rule(sa, stream) {
            return Route::Here(allowed);
        }
        match &self.authority {
            Authority::Directory => Route::Here(LocalAccess::rbac(snap, sa, stream)),
            Authority::Api(sar) => Route::Api(sar),
        }
    }
}

/// Where an answer comes from.
enum Route<'a> {
    Here(Explained),
    Api(&'a sar::SarChecker),
}

/// A SubjectAccessReview's answer (cached or asked), explained.
async fn ask_api(
    sar: &sar::SarChecker,
    sa: ServiceAccount<'_>,
    stream: StreamName<'_>,
) -> Explained {
    let (decision, source) = sar.check(sa, stream).await;
    let why = match &decision {
        AccessDecision::Allowed => "SubjectAccessReview allowed".to_owned(),
        AccessDecision::Denied(d) => d.clone(),
    };
    Explained {
        decision,
        source: match source {
            sar::Source::Cache => Source::Cache,
            sar::Source::Api => Source::Api,
        },
        why,
    }
}

impl AccessPort for AccessChecker {
    async fn check(
        &self,
        snap: &Snapshot,
        sa: ServiceAccount<'_>,
        stream: StreamName<'_>,
    ) -> AccessDecision {
        // Not through `explain`: awaiting its future would move the API
        // path's state on every check, including those decided here.
        let explained = match self.route(snap, sa, stream) {
            Route::Here(answer) => answer,
            Route::Api(sar) => ask_api(sar, sa, stream).await,
        };
        if let Some(checks) = &self.checks {
            checks.count(explained.decision.is_allowed(), explained.source);
        }
        explained.decision
    }
}
