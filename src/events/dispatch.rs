//! From pushed tags to imports: hints wait here (one per tag, however often
//! it is pushed) until the replica that imports takes them, finds the spec
//! tags that follow them, and imports those at once through the importer,
//! not paced as scheduled imports are. The registry client's own pacing
//! (a 429's `Retry-After`) still applies, and a failed import keeps the last
//! good digest, as on the schedule.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use imagestream_core::events::Hint;
use imagestream_core::events::matching::{self, Matcher, Moved};
use imagestream_core::stream::ImageStream;

use crate::events::handover::{self, Handover};
use crate::importer::controller::Importer;
use crate::metrics::Metrics;
use crate::store::Store;

/// The most distinct tags waiting at once. A registry pushes far fewer
/// between two rounds; past this the receiver answers 503 and the registry
/// sends the event again later.
pub const MAX_PENDING: usize = 10_000;

/// How many streams are imported at once in one round.
const CONCURRENT_STREAMS: usize = 16;

/// Waits before the retries of a stream whose import could not be written
/// (its file or object changed meanwhile, or the snapshot has not caught up
/// with the importer's last write yet).
const RETRY_WAITS: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(750),
    Duration::from_millis(2000),
];

/// Waits before reading a pushed tag again when the first read found the
/// digest it had before. The reference registry sends a push's event before
/// it points the tag at the new manifest, so a receiver on a fast network
/// reads the old digest (seen on loopback in about one push in three); a
/// registry behind a CDN may lag longer. A push of the same image again
/// costs these few reads.
const RECHECK_WAITS: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(400),
    Duration::from_millis(1500),
];

/// The pending set is full.
#[derive(Debug)]
pub struct Full;

/// Hints in their order of arrival, each with when it first arrived, and
/// their keys (a set, so a body of many hints is not compared with every
/// waiting one).
#[derive(Default)]
struct Pending {
    hints: Vec<(Hint, Instant)>,
    keys: HashSet<(String, String, String)>,
}

pub struct Dispatcher {
    pending: Mutex<Pending>,
    wake: Notify,
    /// `events.registryHosts`.
    registry_hosts: BTreeMap<String, Vec<String>>,
    search_registries: Vec<String>,
    metrics: Option<Arc<Metrics>>,
    /// Cluster mode: how tags pushed to a replica that does not lead reach
    /// the one that does.
    handover: Option<Handover>,
}

impl Dispatcher {
    pub fn new(
        registry_hosts: BTreeMap<String, Vec<String>>,
        search_registries: Vec<String>,
        metrics: Option<Arc<Metrics>>,
    ) -> Dispatcher {
        Dispatcher {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            registry_hosts,
            search_registries,
            metrics,
            handover: None,
        }
    }

    pub fn with_handover(mut self, handover: Handover) -> Dispatcher {
        self.handover = Some(handover);
        self
    }

    /// Puts a batch back, each hint with its arrival (unless it waits already).
    fn restore(&self, batch: Vec<(Hint, Instant)>) {
        for (hint, arrived) in batch {
            let _ = self.push(vec![hint], arrived);
        }
    }

    /// Queues `hints`. A tag already waiting keeps its place and its
    /// arrival: a burst of pushes of one tag is one import.
    pub fn push(&self, hints: Vec<Hint>, arrived: Instant) -> Result<(), Full> {
        if hints.is_empty() {
            return Ok(());
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let key = |h: &Hint| {
            let (host, repository, tag) = h.key();
            (host, repository.to_owned(), tag.to_owned())
        };
        let new: Vec<Hint> = hints
            .into_iter()
            .filter(|h| !pending.keys.contains(&key(h)))
            .collect();
        if pending.hints.len() + new.len() > MAX_PENDING {
            return Err(Full);
        }
        for h in new {
            // A body's own hints are distinct already (the core reads them so).
            if pending.keys.insert(key(&h)) {
                pending.hints.push((h, arrived));
            }
        }
        drop(pending);
        self.wake.notify_one();
        Ok(())
    }

    fn take(&self) -> Vec<(Hint, Instant)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner())).hints
    }

    /// Imports what is pushed while this replica leads, until `shutdown`.
    /// While another replica leads, hints are handed over to it (cluster
    /// mode), or wait here (so a replica that takes over imports them).
    pub async fn run(
        self: Arc<Self>,
        importer: Arc<Importer>,
        store: Arc<Store>,
        mut leader: watch::Receiver<bool>,
        shutdown: CancellationToken,
    ) {
        let mut next_take = Instant::now();
        let mut last_error: Option<String> = None;
        loop {
            if !*leader.borrow_and_update() {
                let Some(handover) = &self.handover else {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        r = leader.changed() => if r.is_err() { return },
                    }
                    continue;
                };
                let batch = self.take();
                if batch.is_empty() {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        r = leader.changed() => if r.is_err() { return },
                        _ = self.wake.notified() => {}
                    }
                    continue;
                }
                let hints: Vec<Hint> = batch.iter().map(|(h, _)| h.clone()).collect();
                match handover.give(&hints).await {
                    Ok(()) => {
                        tracing::info!(
                            hints = hints.len(),
                            "pushed tags handed over to the importing replica"
                        );
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "pushed tags wait here; handing them over is retried");
                        self.restore(batch);
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            r = leader.changed() => if r.is_err() { return },
                            _ = tokio::time::sleep(handover::POLL) => {}
                        }
                    }
                }
                continue;
            }
            if let Some(handover) = &self.handover
                && Instant::now() >= next_take
            {
                next_take = Instant::now() + handover::POLL;
                match handover.take().await {
                    Ok(hints) => {
                        last_error = None;
                        if !hints.is_empty() {
                            tracing::info!(
                                hints = hints.len(),
                                "pushed tags taken over from another replica"
                            );
                        }
                        if self.push(hints, Instant::now()).is_err() {
                            tracing::warn!(
                                "handed-over pushed tags dropped: too many wait already; the schedule imports them"
                            );
                        }
                    }
                    Err(e) => {
                        if last_error.as_deref() != Some(e.as_str()) {
                            tracing::warn!(error = %e, "cannot take pushed tags handed over by other replicas");
                        }
                        last_error = Some(e);
                    }
                }
            }
            let batch = self.take();
            if batch.is_empty() {
                let poll = next_take.saturating_duration_since(Instant::now());
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.wake.notified() => {}
                    r = leader.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep(poll), if self.handover.is_some() => {}
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.round(&importer, &store, batch) => {}
            }
        }
    }

    /// One round: the spec tags the batch moves, imported.
    async fn round(&self, importer: &Importer, store: &Store, batch: Vec<(Hint, Instant)>) {
        let (hints, arrivals): (Vec<Hint>, Vec<Instant>) = batch.into_iter().unzip();
        let matcher = Matcher::new(&hints, &self.registry_hosts, &self.search_registries);
        let snap = store.load_full();
        let planned = snap.clone();
        // A look at every stream: off the runtime's workers, as the planner's.
        let Some(moved) =
            crate::background::run("event-matcher", move || matching::moved(&planned, &matcher))
                .await
        else {
            tracing::error!("the push event matcher failed; the schedule imports these tags");
            return;
        };
        let tags: usize = moved.iter().map(|m| m.tags.len()).sum();
        let shown: Vec<String> = hints.iter().take(10).map(Hint::to_string).collect();
        tracing::info!(pushed = ?shown, hints = hints.len(), streams = moved.len(), tags, "importing pushed tags");
        let jobs = moved.into_iter().map(|m| {
            let arrived = arrivals.get(m.first_hint).copied();
            let before: Vec<Option<Box<str>>> = match snap.stream(&m.namespace, &m.name) {
                Some(entry) => m.tags.iter().map(|t| newest(&entry.head, t)).collect(),
                None => vec![None; m.tags.len()],
            };
            async move { self.import(importer, m, before, arrived).await }
        });
        futures::stream::iter(jobs)
            .buffer_unordered(CONCURRENT_STREAMS)
            .collect::<Vec<()>>()
            .await;
    }

    /// Imports `moved`'s tags, whose newest digests were `before`.
    async fn import(
        &self,
        importer: &Importer,
        moved: Moved,
        before: Vec<Option<Box<str>>>,
        arrived: Option<Instant>,
    ) {
        let Moved {
            namespace,
            name,
            tags,
            ..
        } = moved;
        let mut waits = RETRY_WAITS.iter();
        let mut rechecks = RECHECK_WAITS.iter();
        loop {
            match importer.import_now(&namespace, &name, &tags).await {
                Ok(imported) => {
                    let unmoved = tags
                        .iter()
                        .zip(&before)
                        .all(|(t, old)| newest(&imported.stream, t) == *old);
                    if unmoved && let Some(wait) = rechecks.next() {
                        tokio::time::sleep(*wait).await;
                        continue;
                    }
                    if let (Some(m), Some(t)) = (&self.metrics, arrived) {
                        m.event_import_latency.observe(t.elapsed().as_secs_f64());
                    }
                    return;
                }
                Err(e) => match waits.next() {
                    Some(wait) => tokio::time::sleep(*wait).await,
                    None => {
                        tracing::warn!(%namespace, %name, ?tags, error = %e, "pushed tags not imported; the schedule imports them");
                        return;
                    }
                },
            }
        }
    }
}

/// The newest digest `tag` shows in `is`'s status.
fn newest(is: &ImageStream, tag: &str) -> Option<Box<str>> {
    is.status_tag(tag)?
        .items
        .as_ref()?
        .first()
        .map(|item| item.image.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(text: &str) -> Hint {
        Hint::parse(text).expect("hint")
    }

    #[test]
    fn a_tag_pushed_again_waits_once_in_its_first_place() {
        let d = Dispatcher::new(BTreeMap::new(), Vec::new(), None);
        let t0 = Instant::now();
        d.push(vec![hint("r.io/a/b:1"), hint("r.io/a/b:2")], t0)
            .expect("room");
        d.push(vec![hint("R.IO/a/b:1"), hint("r.io/a/b:3")], Instant::now())
            .expect("room");
        let batch = d.take();
        let names: Vec<String> = batch.iter().map(|(h, _)| h.to_string()).collect();
        assert_eq!(names, ["r.io/a/b:1", "r.io/a/b:2", "r.io/a/b:3"]);
        assert_eq!(batch[0].1, t0);
        assert!(d.take().is_empty());
    }

    #[test]
    fn the_pending_set_is_bounded() {
        let d = Dispatcher::new(BTreeMap::new(), Vec::new(), None);
        let many: Vec<Hint> = (0..MAX_PENDING)
            .map(|i| hint(&format!("r.io/a/b:t{i}")))
            .collect();
        d.push(many, Instant::now()).expect("room for all");
        assert!(
            d.push(vec![hint("r.io/a/b:one-more")], Instant::now())
                .is_err()
        );
        assert!(
            d.push(vec![hint("r.io/a/b:t7")], Instant::now()).is_ok(),
            "already waiting"
        );
        assert_eq!(d.take().len(), MAX_PENDING);
    }
}
