//! The import controller: keeps tags current from their registries, once when
//! a tag is new or changed and then on a schedule, and writes the status back
//! (through the API's status subresource, or into the stream's own file).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use imagestream_core::access::{AccessDecision, AccessPort as _, ServiceAccount};
use imagestream_core::import::local::{History, local_outcome, local_target_differs};
use imagestream_core::import::{self, Outcome, Reason, Source, TagPlan};
use imagestream_core::pullsecret::Keyring;
use imagestream_core::stream::resolve::StreamName;
use imagestream_core::stream::snapshot::{Snapshot, StreamEntry};
use imagestream_core::stream::{ImageStream, ImageStreamStatus};

use super::compose::{Fetched, is_registry, outcome_key};
use super::schedule::{TokenBucket, jittered, spread};
use crate::access::AccessChecker;
use crate::importer::backend::Backend;
use crate::importer::memo::Memo;
use crate::importer::records::Recorder;
use crate::importer::registry::Registries;
use crate::metrics::Metrics;
use crate::store::Store;

/// The shortest time between two planning passes over every stream; a tag
/// due sooner waits at most this long.
const MIN_PASS_GAP: Duration = Duration::from_secs(1);

/// Streams whose registry requests are in flight at once (each registry
/// request also waits for a permit of `import.maxConcurrentRequests`).
pub(super) const FETCH_STREAMS: usize = 64;
/// Imports written together: each file is written once per batch.
const WRITE_BATCH: usize = 2048;

pub use super::settings::{ImportSettings, import_settings};

#[derive(Debug)]
pub(super) struct State {
    pub(super) memo: Memo,
    bucket: TokenBucket,
}

pub struct Importer {
    pub(super) store: Arc<Store>,
    pub(super) registries: Arc<Registries>,
    pub(super) backend: Backend,
    pub(super) settings: ImportSettings,
    pub(super) metrics: Option<Arc<Metrics>>,
    /// Checks that a tag may follow another stream; `None` allows all (tests).
    pub(super) access: Option<AccessChecker>,
    /// Writes Image records of what is imported; `None` records nothing.
    pub records: Option<Recorder>,
    pub(super) state: Mutex<State>,
}

/// The tags of one stream to import now.
#[derive(Debug)]
struct Work {
    stream: Arc<StreamEntry>,
    tags: Vec<TagPlan>,
    /// Tags whose `from` is malformed, with the reason.
    invalid: Vec<(String, String)>,
}

/// What one stream's import did.
#[derive(Debug)]
pub struct Imported {
    pub stream: ImageStream,
    /// Tags that failed, with the reason and message.
    pub failures: Vec<(String, Reason, String)>,
}

impl Importer {
    pub fn new(
        store: Arc<Store>,
        registries: Arc<Registries>,
        backend: Backend,
        settings: ImportSettings,
        metrics: Option<Arc<Metrics>>,
    ) -> Importer {
        let bucket = TokenBucket::new(settings.max_scheduled_per_minute);
        Importer {
            store,
            registries,
            backend,
            settings,
            metrics,
            access: None,
            records: None,
            state: Mutex::new(State {
                memo: Memo::default(),
                bucket,
            }),
        }
    }

    /// Tags that follow another stream are imported only when the stream
    /// namespace's service accounts may use that stream.
    pub fn with_access(mut self, access: AccessChecker) -> Importer {
        self.access = Some(access);
        self
    }

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Imports while this replica leads, until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        mut leader: watch::Receiver<bool>,
        shutdown: CancellationToken,
    ) {
        let mut changes = self.store.subscribe();
        let mut last_pass: Option<Instant> = None;
        loop {
            if !*leader.borrow_and_update() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = leader.changed() => if r.is_err() { return },
                }
                continue;
            }
            // A pass over every stream is tens of milliseconds at 10,000 streams:
            // it runs off the runtime's workers (on them it held admission
            // requests up to 100 ms), at background priority, and at most once
            // per MIN_PASS_GAP, however often statuses written by the last
            // pass come back as changes.
            if let Some(wait) = last_pass.and_then(|t| MIN_PASS_GAP.checked_sub(t.elapsed())) {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            last_pass = Some(Instant::now());
            // Seen before the snapshot is read, so a change published while
            // this pass plans wakes the next one (marked after planning, a
            // stream list arriving meanwhile was slept through).
            changes.borrow_and_update();
            let snap = self.store.load_full();
            let planner = self.clone();
            let planned = snap.clone();
            let Some((work, wake)) = crate::background::run("import-planner", move || {
                // What the last pass's imports freed (stream reads, status
                // writes, their threads' arenas) goes back to the system
                // here, off admission's threads.
                crate::memory::release_freed();
                planner.plan(&planned, Instant::now())
            })
            .await
            else {
                tracing::error!("the import planner failed; retrying");
                continue;
            };
            if !work.is_empty() {
                let run = self.execute(&snap, work);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = run => {}
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = changes.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(wake) => {}
                r = leader.changed() => if r.is_err() { return },
            }
        }
    }

    /// The tags due now, and how long until the next scheduled one.
    fn plan(&self, snap: &Snapshot, now: Instant) -> (Vec<Work>, Duration) {
        let mut guard = self.state();
        let state = &mut *guard;
        state.memo.begin_pass();
        let mut out = Vec::new();
        let mut wake = Duration::from_secs(60);
        let mut backlog = 0i64;
        let no_status = ImageStreamStatus::default();
        for entry in snap.streams() {
            let is = &entry.head;
            let (ns, name) = (&entry.namespace, &entry.name);
            let mut work = Work {
                stream: entry.clone(),
                tags: Vec::new(),
                invalid: Vec::new(),
            };
            for plan in import::plans(is) {
                let plan = match plan {
                    Ok(p) => p,
                    Err((tag, why)) => {
                        let recorded = is
                            .status_tag(&tag)
                            .and_then(|l| {
                                l.condition(imagestream_core::stream::CONDITION_IMPORT_SUCCESS)
                            })
                            .and_then(|c| c.message.as_deref())
                            == Some(why.as_str());
                        let memo = state.memo.see(ns, name, &tag);
                        let reported = memo
                            .as_ref()
                            .and_then(|m| m.handled.as_ref())
                            .is_some_and(|h| h.result == why);
                        if recorded {
                            // The status shows it: nothing left to remember.
                            if let Some(m) = memo {
                                m.handled = None;
                            }
                        } else if !reported {
                            work.invalid.push((tag, why));
                        }
                        continue;
                    }
                };
                let mut memo = state.memo.see(ns, name, &plan.tag);
                let handled = memo.as_ref().and_then(|m| m.handled.as_ref());
                let fresh = handled
                    .is_none_or(|h| h.generation < plan.generation || h.source != plan.source);
                let local = !matches!(plan.source, Source::Registry { .. });
                if local {
                    // Aliases and pins follow other tags: level-driven, no registry, checked every
                    // pass; the memo stops a write that has not come back yet from being redone.
                    let status = is.status.as_ref().unwrap_or(&no_status);
                    let target = local_outcome(snap, is, status, &plan, History::Indexed);
                    let done = handled.is_some_and(|h| {
                        h.generation >= plan.generation
                            && h.source == plan.source
                            && h.result == outcome_key(&target)
                    });
                    if !local_target_differs(is, &plan, target) {
                        if let Some(m) = memo {
                            m.handled = None;
                        }
                    } else if !done {
                        work.tags.push(plan);
                    }
                    continue;
                }
                let changed = import::spec_changed(is, &plan);
                if changed && fresh {
                    work.tags.push(plan);
                    continue;
                }
                if !changed && let Some(m) = memo.as_deref_mut() {
                    // The status shows the last import.
                    m.handled = None;
                }
                let scheduled = plan.scheduled && !self.settings.disable_scheduled_import;
                if !scheduled || import::pinned_and_done(is, &plan) {
                    if let Some(m) = memo {
                        m.due = None;
                    }
                    continue;
                }
                let interval = self.settings.minimum_interval;
                let memo = match memo {
                    Some(m) => m,
                    None => state.memo.tag(ns, name, &plan.tag),
                };
                let due = *memo
                    .due
                    .get_or_insert_with(|| now + spread(interval, ns, name, &plan.tag));
                if due > now {
                    wake = wake.min(due - now);
                    continue;
                }
                if state.bucket.take(now) {
                    memo.due = Some(now + jittered(interval, ns, name, &plan.tag, now));
                    work.tags.push(plan);
                } else {
                    backlog += 1;
                    wake = wake.min(state.bucket.wait());
                }
            }
            if !work.tags.is_empty() || !work.invalid.is_empty() {
                out.push(work);
            }
        }
        state.memo.end_pass();
        if let Some(m) = &self.metrics {
            m.import_backlog.set(backlog);
        }
        (out, wake.max(MIN_PASS_GAP))
    }

    /// Imports the planned tags: every registry answer first, as fast as
    /// `import.maxConcurrentRequests` and the registries' own limits allow,
    /// then one write per file (directory mode) or per object (cluster
    /// mode). A write that conflicts is composed again from the stream as it
    /// is now, with the same answers.
    async fn execute(&self, snap: &Arc<Snapshot>, work: Vec<Work>) {
        let fetches = work
            .into_iter()
            .map(|w| self.fetch(snap, w.stream, w.tags, w.invalid));
        let mut batches = futures::stream::iter(fetches)
            .buffer_unordered(FETCH_STREAMS)
            .chunks(WRITE_BATCH);
        while let Some(fetched) = batches.next().await {
            for (entry, result) in self.write(snap, fetched).await {
                if let Err(e) = result {
                    tracing::warn!(namespace = %entry.namespace, name = %entry.name, error = %e, "cannot write imported status");
                }
            }
        }
    }

    /// Imports the named tags of NS/NAME now, whatever their schedule and not paced (the
    /// CLI's path, and pushed tags from `events::dispatch`).
    pub async fn import_now(
        &self,
        namespace: &str,
        name: &str,
        tags: &[String],
    ) -> Result<Imported, String> {
        let snap = self.store.load_full();
        let entry = snap
            .streams()
            .find(|e| &*e.namespace == namespace && &*e.name == name)
            .cloned()
            .ok_or_else(|| format!("imagestream {namespace}/{name} not found"))?;
        let mut plans = Vec::new();
        let mut invalid = Vec::new();
        for plan in import::plans(&entry.head) {
            match plan {
                Ok(p) if tags.contains(&p.tag) => plans.push(p),
                Err((t, why)) if tags.contains(&t) => invalid.push((t, why)),
                _ => {}
            }
        }
        let fetched = self.fetch(&snap, entry, plans, invalid).await;
        let (_, result) = self
            .write(&snap, vec![fetched])
            .await
            .pop()
            .ok_or("the import wrote nothing")?;
        result
    }

    /// Every tag of the repository `image` names, and the repository
    /// (`HOST/PATH`) they were listed in (`import-image --all`).
    pub async fn list_tags(
        &self,
        namespace: &str,
        image: &str,
        insecure: bool,
    ) -> Result<(String, Vec<String>), String> {
        let keyring = self
            .backend
            .keyring(&self.store.load_full(), namespace)
            .await;
        self.registries
            .list_tags(image, namespace, &keyring, insecure, &self.settings)
            .await
            .map_err(|f| f.message)
    }

    /// Asks the registries (and the access checks) everything the stream's
    /// planned tags need.
    async fn fetch(
        &self,
        snap: &Snapshot,
        stream: Arc<StreamEntry>,
        plans: Vec<TagPlan>,
        invalid: Vec<(String, String)>,
    ) -> Fetched {
        let (ns, name) = (&*stream.namespace, &*stream.name);
        let keyring = if plans.iter().any(is_registry) {
            self.backend.keyring(snap, ns).await
        } else {
            Keyring::default()
        };
        let registry = futures::future::join_all(
            plans
                .iter()
                .filter(|p| is_registry(p))
                .map(|p| async { (p.tag.clone(), self.import_registry(p, ns, &keyring).await) }),
        )
        .await
        .into_iter()
        .collect();
        let mut forbidden = HashMap::new();
        for plan in plans.iter().filter(|p| !is_registry(p)) {
            if let Some(why) = self.forbidden_source(snap, ns, name, plan).await {
                forbidden.insert(plan.tag.clone(), why);
            }
        }
        Fetched {
            stream,
            plans,
            invalid,
            registry,
            forbidden,
        }
    }

    /// Why a tag may not follow the stream it names: a tag makes its image
    /// usable by every service account of its namespace, so the namespace's
    /// `default` service account (whose groups include the namespace's) must
    /// be allowed to use the source stream, as for a pod.
    async fn forbidden_source(
        &self,
        snap: &Snapshot,
        ns: &str,
        name: &str,
        plan: &TagPlan,
    ) -> Option<String> {
        let access = self.access.as_ref()?;
        let (src_ns, src_stream) = match &plan.source {
            Source::Tag {
                namespace, stream, ..
            }
            | Source::Image {
                namespace, stream, ..
            } => (namespace, stream),
            Source::Registry { .. } => return None,
        };
        if src_ns == ns && src_stream == name {
            return None;
        }
        let sa = ServiceAccount {
            namespace: ns,
            name: "default",
        };
        let stream = StreamName {
            namespace: src_ns,
            name: src_stream,
        };
        match access.check(snap, sa, stream).await {
            AccessDecision::Allowed => None,
            AccessDecision::Denied(why) => Some(format!(
                "tag {name}:{} may not follow imagestream {stream}: {why}",
                plan.tag
            )),
        }
    }

    async fn import_registry(&self, plan: &TagPlan, ns: &str, keyring: &Keyring) -> Outcome {
        let Source::Registry {
            image,
            insecure,
            mode,
            ..
        } = &plan.source
        else {
            return Outcome::Failed {
                reason: Reason::InternalError,
                message: "not a registry tag".into(),
            };
        };
        let mode = mode.unwrap_or(self.settings.default_import_mode);
        let outcome = self
            .registries
            .import(image, ns, keyring, *insecure, mode, &self.settings)
            .await;
        if let Outcome::Image { reference, digest } = &outcome {
            let at = (&*self.registries, keyring, &plan.source);
            Recorder::record(self.records.as_ref(), at, reference, digest).await;
        }
        outcome
    }

    pub(super) fn count(&self, outcome: &Outcome) {
        if let Some(m) = &self.metrics {
            let (result, reason) = match outcome {
                Outcome::Image { .. } => ("success", ""),
                Outcome::Failed { reason, .. } => ("failure", reason.as_str()),
            };
            m.imports
                .get_or_create(&crate::metrics::ImportLabels { result, reason })
                .inc();
        }
    }
}

pub(super) fn now_rfc3339() -> String {
    format!("{:.0}", jiff::Timestamp::now())
}
