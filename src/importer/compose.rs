//! A stream's new status from what its import fetched, applied to the stream
//! as it is stored now. No I/O: when a write conflicts (the file or the
//! object changed meanwhile), the status is composed again from the newer
//! stream with the same registry answers, so a registry is asked once per
//! tag. Only a tag whose spec changed since (it follows something else now)
//! is left out, for the next pass to import again.

use std::collections::HashMap;
use std::sync::Arc;

use imagestream_core::import::local::{History, local_outcome};
use imagestream_core::import::{self, Outcome, Reason, Source, TagPlan};
use imagestream_core::stream::snapshot::{Snapshot, StreamEntry};
use imagestream_core::stream::{ImageStream, ImageStreamStatus};

use super::settings::ImportSettings;

/// What one stream's import fetched: every registry answer and access
/// decision it needs, so that composing its status asks nobody.
#[derive(Debug)]
pub(super) struct Fetched {
    pub(super) stream: Arc<StreamEntry>,
    pub(super) plans: Vec<TagPlan>,
    /// Tags whose `from` is malformed, with the reason.
    pub(super) invalid: Vec<(String, String)>,
    /// The outcome of each registry tag.
    pub(super) registry: HashMap<String, Outcome>,
    /// Tags following a stream the namespace may not use, with why.
    pub(super) forbidden: HashMap<String, String>,
}

/// A stream's status composed from a [`Fetched`] and the stream as stored.
#[derive(Debug, Default)]
pub(super) struct Composed {
    pub(super) status: ImageStreamStatus,
    pub(super) changed: bool,
    /// Every tag's outcome, for the metrics.
    pub(super) outcomes: Vec<Outcome>,
    pub(super) failures: Vec<(String, Reason, String)>,
    /// (tag, the digest it had, the digest imported).
    pub(super) imported: Vec<(String, Option<Box<str>>, String)>,
    /// What each local tag's source offered, for the memo.
    pub(super) produced: HashMap<String, String>,
    /// The plans applied: those whose spec is still the one fetched for.
    pub(super) applied: Vec<TagPlan>,
    /// The stream the status was composed from.
    pub(super) stream: Arc<ImageStream>,
}

/// The status of `is` with `fetched` applied; `now` stamps new items.
pub(super) fn compose(
    settings: &ImportSettings,
    snap: &Snapshot,
    is: &Arc<ImageStream>,
    fetched: &Fetched,
    now: &str,
) -> Composed {
    let (ns, name) = (&*fetched.stream.namespace, &*fetched.stream.name);
    let mut out = Composed {
        status: is.status.clone().unwrap_or_default(),
        stream: is.clone(),
        ..Composed::default()
    };
    let repo = import::docker_image_repository(&settings.stream_host, ns, name);
    if out.status.docker_image_repository.as_deref() != Some(repo.as_str()) {
        out.status.docker_image_repository = Some(repo);
        out.changed = true;
    }
    let current: Vec<TagPlan> = import::plans(is).into_iter().flatten().collect();
    out.applied = fetched
        .plans
        .iter()
        .filter(|p| {
            current
                .iter()
                .any(|c| c.tag == p.tag && c.source == p.source && c.generation == p.generation)
        })
        .cloned()
        .collect();
    let applied = std::mem::take(&mut out.applied);
    // Registry tags first, so aliases of them in the same stream see the new image.
    for plan in import::import_order(ns, name, &applied) {
        let outcome = match fetched.registry.get(&plan.tag) {
            Some(o) => o.clone(),
            None => {
                let target = local_outcome(snap, is, &out.status, plan, History::Whole);
                // The memo keeps what the source offered, so a refused source is not retried every pass.
                out.produced.insert(plan.tag.clone(), outcome_key(&target));
                match fetched.forbidden.get(&plan.tag) {
                    Some(why) => Outcome::Failed {
                        reason: Reason::Forbidden,
                        message: why.clone(),
                    },
                    None => target,
                }
            }
        };
        match &outcome {
            Outcome::Failed { reason, message } => {
                out.failures
                    .push((plan.tag.clone(), *reason, message.clone()));
            }
            Outcome::Image { digest, .. } => {
                let old = out
                    .status
                    .tags
                    .iter()
                    .flatten()
                    .find(|t| t.tag == plan.tag)
                    .and_then(|t| t.items.as_ref()?.first())
                    .map(|item| item.image.clone());
                out.imported.push((plan.tag.clone(), old, digest.clone()));
            }
        }
        out.changed |= import::apply(
            &mut out.status,
            &plan.tag,
            plan.generation,
            &outcome,
            now,
            settings.history_limit,
        );
        out.outcomes.push(outcome);
    }
    out.applied = applied;
    for (tag, why) in &fetched.invalid {
        let outcome = Outcome::Failed {
            reason: Reason::InternalError,
            message: why.clone(),
        };
        out.failures
            .push((tag.clone(), Reason::InternalError, why.clone()));
        let generation = is
            .spec_tag(tag)
            .and_then(|t| t.generation)
            .or(is.metadata.generation)
            .unwrap_or(0);
        out.changed |= import::apply(
            &mut out.status,
            tag,
            generation,
            &outcome,
            now,
            settings.history_limit,
        );
        out.outcomes.push(outcome);
    }
    out
}

/// Whether a plan reads from a registry.
pub(super) fn is_registry(plan: &TagPlan) -> bool {
    matches!(plan.source, Source::Registry { .. })
}

/// The digest (or failure) an outcome leaves, for the memo.
pub(super) fn outcome_key(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Image { digest, .. } => digest.clone(),
        Outcome::Failed { message, .. } => message.clone(),
    }
}
