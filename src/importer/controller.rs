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
use imagestream_core::stream::snapshot::{self, Snapshot, StreamEntry};
use imagestream_core::stream::{ImageStream, ImageStreamStatus};

use super::schedule::{TokenBucket, jittered, spread};
use crate::access::AccessChecker;
use crate::importer::backend::Backend;
use crate::importer::memo::{Handled, Memo};
use crate::importer::records::Recorder;
use crate::importer::registry::Registries;
use crate::metrics::Metrics;
use crate::store::Store;

/// The shortest time between two planning passes over every stream; a tag
/// due sooner waits at most this long.
const MIN_PASS_GAP: Duration = Duration::from_secs(1);

pub use super::settings::{ImportSettings, import_settings};

#[derive(Debug)]
struct State {
    memo: Memo,
    bucket: TokenBucket,
}

pub struct Importer {
    store: Arc<Store>,
    registries: Arc<Registries>,
    backend: Backend,
    settings: ImportSettings,
    metrics: Option<Arc<Metrics>>,
    /// Checks that a tag may follow another stream; `None` allows all (tests).
    access: Option<AccessChecker>,
    /// Writes Image records of what is imported; `None` records nothing.
    pub records: Option<Recorder>,
    state: Mutex<State>,
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

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
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

    async fn execute(&self, snap: &Snapshot, work: Vec<Work>) {
        let jobs = work.into_iter().map(|w| async move {
            let key = (w.stream.namespace.to_string(), w.stream.name.to_string());
            if let Err(e) = self.import_stream(snap, &w.stream, &w.tags, &w.invalid).await {
                tracing::warn!(namespace = %key.0, name = %key.1, error = %e, "cannot write imported status");
            }
        });
        futures::stream::iter(jobs)
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
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
        self.import_stream(&snap, &entry, &plans, &invalid).await
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

    async fn import_stream(
        &self,
        snap: &Snapshot,
        entry: &StreamEntry,
        plans: &[TagPlan],
        invalid: &[(String, String)],
    ) -> Result<Imported, String> {
        let (ns, name) = (&*entry.namespace, &*entry.name);
        // The snapshot keeps each tag's newest item only; the status is
        // built from the whole stream, read now. A stream that changed since
        // the plan was made from it is planned again when the change arrives.
        let is = self.backend.read_whole(entry).await?;
        if snapshot::head((*is).clone()) != *entry.head {
            return Err(format!(
                "imagestream {ns}/{name} changed since its import was planned; it is planned again from the new version"
            ));
        }
        let keyring = self.backend.keyring(snap, ns).await;
        let mut status = is.status.clone().unwrap_or_default();
        let mut changed = false;
        let mut failures = Vec::new();
        let now = now_rfc3339();
        let repo = import::docker_image_repository(&self.settings.stream_host, ns, name);
        if status.docker_image_repository.as_deref() != Some(repo.as_str()) {
            status.docker_image_repository = Some(repo);
            changed = true;
        }
        // Registry tags first, so aliases of them in the same stream see the new image.
        let ordered = import::import_order(ns, name, plans);
        let registry_imports = ordered
            .iter()
            .filter(|p| matches!(p.source, Source::Registry { .. }))
            .map(|p| async { (p.tag.clone(), self.import_registry(p, ns, &keyring).await) });
        let registry_results: Vec<(String, Outcome)> =
            futures::future::join_all(registry_imports).await;
        let mut results: HashMap<String, Outcome> = registry_results.into_iter().collect();
        let mut produced: HashMap<String, String> = HashMap::new();
        // (tag, the digest it had, the digest imported), logged once written.
        let mut imported: Vec<(&str, Option<Box<str>>, String)> = Vec::new();
        for plan in ordered {
            let outcome = match results.remove(&plan.tag) {
                Some(o) => o,
                None => {
                    let target = local_outcome(snap, &is, &status, plan, History::Whole);
                    // The memo keeps what the source offered, so a refused source is not retried every pass.
                    produced.insert(plan.tag.clone(), outcome_key(&target));
                    match self.forbidden_source(snap, ns, name, plan).await {
                        Some(why) => Outcome::Failed {
                            reason: Reason::Forbidden,
                            message: why,
                        },
                        None => target,
                    }
                }
            };
            self.count(&outcome);
            match &outcome {
                Outcome::Failed { reason, message } => {
                    tracing::info!(namespace = %ns, name = %name, tag = %plan.tag, %reason, %message, "import failed");
                    failures.push((plan.tag.clone(), *reason, message.clone()));
                }
                Outcome::Image { digest, .. } => {
                    let old = status
                        .tags
                        .iter()
                        .flatten()
                        .find(|t| t.tag == plan.tag)
                        .and_then(|t| t.items.as_ref()?.first())
                        .map(|item| item.image.clone());
                    imported.push((&plan.tag, old, digest.clone()));
                }
            }
            changed |= import::apply(
                &mut status,
                &plan.tag,
                plan.generation,
                &outcome,
                &now,
                self.settings.history_limit,
            );
        }
        for (tag, why) in invalid {
            let outcome = Outcome::Failed {
                reason: Reason::InternalError,
                message: why.clone(),
            };
            self.count(&outcome);
            failures.push((tag.clone(), Reason::InternalError, why.clone()));
            let generation = is
                .spec_tag(tag)
                .and_then(|t| t.generation)
                .or(is.metadata.generation)
                .unwrap_or(0);
            changed |= import::apply(
                &mut status,
                tag,
                generation,
                &outcome,
                &now,
                self.settings.history_limit,
            );
        }
        if changed {
            // Nothing is remembered as handled until it is written: a write
            // refused because the stream changed meanwhile is planned again
            // from the newer stream on the next pass.
            self.backend.write_status(entry, &is, &status).await?;
        }
        // Every success at info: scheduled re-imports are paced by
        // maxScheduledImportsPerMinute, so these lines are bounded too.
        for (tag, old, new) in imported {
            let unchanged = old.as_deref() == Some(new.as_str());
            tracing::info!(namespace = %ns, name = %name, %tag, old = old.as_deref(), %new, unchanged, "tag imported");
        }
        {
            let mut state = self.state();
            let (ns, name) = (&entry.namespace, &entry.name);
            for plan in plans {
                state.memo.tag(ns, name, &plan.tag).handled = Some(Box::new(Handled {
                    generation: plan.generation,
                    source: plan.source.clone(),
                    result: produced.remove(&plan.tag).unwrap_or_default(),
                }));
            }
            for (tag, why) in invalid {
                state.memo.tag(ns, name, tag).handled = Some(Box::new(Handled {
                    generation: 0,
                    source: Source::Registry {
                        image: String::new(),
                        insecure: false,
                        pinned: false,
                        mode: None,
                    },
                    result: why.clone(),
                }));
            }
        }
        let mut stream = Arc::unwrap_or_clone(is);
        stream.status = Some(status);
        Ok(Imported { stream, failures })
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

    fn count(&self, outcome: &Outcome) {
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

/// The digest (or failure) an outcome leaves, for the memo.
fn outcome_key(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Image { digest, .. } => digest.clone(),
        Outcome::Failed { message, .. } => message.clone(),
    }
}

fn now_rfc3339() -> String {
    format!("{:.0}", jiff::Timestamp::now())
}
