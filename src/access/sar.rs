//! Cluster-mode access check: asks the API server, through a
//! `SubjectAccessReview`, whether a service account may pull a stream's layers.
//!
//! The question is the one OpenShift's `system:image-puller` role answers:
//! `get` on `imagestreams/layers` in group `image.openshift.io`, in the
//! stream's namespace. Answers are cached per (service account, stream):
//! allowed ones for [`SarConfig::allowed_ttl`], denied ones for
//! [`SarConfig::denied_ttl`]. Failed checks (API errors, timeouts) deny and
//! are not cached. Concurrent checks of one key share one request.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
};
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

use imagestream_core::access::{AccessDecision, ServiceAccount};
use imagestream_core::config::Config;
use imagestream_core::stream::resolve::StreamName;

/// The API group of image streams.
const GROUP: &str = "image.openshift.io";
/// The resource whose subresource grants pulls.
const RESOURCE: &str = "imagestreams";
/// Pulling an image means `get` on this subresource in OpenShift's registry.
const SUBRESOURCE: &str = "layers";
const VERB: &str = "get";
/// The cluster role that grants exactly the permission checked here.
const PULLER_ROLE: &str = "system:image-puller";

/// How the checker caches and how long it waits for the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SarConfig {
    /// How long an allowed answer is reused (the API server's webhook-authorizer default: 5 min).
    pub allowed_ttl: Duration,
    /// How long a denied answer is reused (the webhook-authorizer default: 30 s), short so
    /// that a freshly created role binding takes effect quickly.
    pub denied_ttl: Duration,
    /// The longest wait for one `SubjectAccessReview`; below the webhook's own deadline
    /// so that a slow API server yields a clear denial rather than a webhook timeout.
    pub timeout: Duration,
    /// The most (service account, stream) pairs held, answered or in flight; 0 disables
    /// the cache (and the sharing of concurrent requests).
    pub max_entries: usize,
}

impl Default for SarConfig {
    fn default() -> Self {
        SarConfig {
            allowed_ttl: Duration::from_secs(5 * 60),
            denied_ttl: Duration::from_secs(30),
            timeout: Duration::from_secs(3),
            max_entries: 100_000,
        }
    }
}

/// The SubjectAccessReview cache settings from the config file.
pub fn sar_config(config: &Config) -> SarConfig {
    SarConfig {
        allowed_ttl: Duration::from_secs(config.access_check.allowed_ttl_seconds),
        denied_ttl: Duration::from_secs(config.access_check.denied_ttl_seconds),
        timeout: Duration::from_secs(config.access_check.timeout_seconds),
        ..SarConfig::default()
    }
}

/// Where an answer came from, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// No request was made for this check: the answer was cached, or was shared
    /// from a request another concurrent check of the same pair had started.
    Cache,
    /// This check sent a `SubjectAccessReview` (which may have failed).
    Api,
}

impl Source {
    /// The metric label: `"cache"` or `"api"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Api => "api",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks access through `SubjectAccessReview`s, with a bounded cache.
///
/// Cheap to clone: clones share the client and the cache.
#[derive(Clone)]
pub struct SarChecker {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api<SubjectAccessReview>,
    config: SarConfig,
    cache: Mutex<Cache>,
}

impl fmt::Debug for SarChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SarChecker")
            .field("config", &self.inner.config)
            .field("cached_entries", &self.cached_entries())
            .finish_non_exhaustive()
    }
}

impl SarChecker {
    /// A checker that sends its reviews through `client`.
    pub fn new(client: kube::Client, config: SarConfig) -> SarChecker {
        let cache = Cache::new(config.max_entries);
        SarChecker {
            inner: Arc::new(Inner {
                api: Api::all(client),
                config,
                cache: Mutex::new(cache),
            }),
        }
    }

    /// Whether `sa` may pull from `stream`, and where the answer came from.
    ///
    /// Never allows on failure: an API error or a timeout is a denial that says the
    /// check failed. Needs a Tokio runtime: a shared request runs on its own task so
    /// that it completes (and is cached) even when the check that started it is dropped.
    pub async fn check(
        &self,
        sa: ServiceAccount<'_>,
        stream: StreamName<'_>,
    ) -> (AccessDecision, Source) {
        let key = Key::new(sa, stream);
        // The one lock of the hot path: a hit returns without another.
        let lookup = self.inner.lock_cache().lookup(&key, Instant::now());
        match lookup {
            Lookup::Hit(decision) => {
                tracing::trace!(%sa, %stream, "access answered from cache");
                (decision, Source::Cache)
            }
            Lookup::Join(answer) => {
                tracing::debug!(%sa, %stream, "joining an access check in flight");
                (wait_for(answer, sa, stream).await, Source::Cache)
            }
            Lookup::Lead { id, tx } => {
                let answer = tx.subscribe();
                let flight = Flight {
                    inner: Arc::clone(&self.inner),
                    key,
                    id,
                    tx,
                    done: false,
                };
                tokio::spawn(flight.fly());
                (wait_for(answer, sa, stream).await, Source::Api)
            }
            Lookup::Uncached => (self.inner.ask(&key).await.0, Source::Api),
        }
    }

    /// How many (service account, stream) pairs the cache holds, answered or in flight;
    /// never more than [`SarConfig::max_entries`].
    pub fn cached_entries(&self) -> usize {
        self.inner.lock_cache().entries.len()
    }
}

/// Waits for a shared request's answer.
async fn wait_for(
    mut answer: watch::Receiver<Option<AccessDecision>>,
    sa: ServiceAccount<'_>,
    stream: StreamName<'_>,
) -> AccessDecision {
    // Bounded without a timer of its own: the request behind it is under
    // `SarConfig::timeout`, and its task drops the sender if it ends any other way.
    match answer.wait_for(Option::is_some).await {
        Ok(decision) => decision.clone().unwrap_or_else(|| abandoned(sa, stream)),
        Err(_) => abandoned(sa, stream),
    }
}

fn abandoned(sa: ServiceAccount<'_>, stream: StreamName<'_>) -> AccessDecision {
    tracing::warn!(%sa, %stream, "shared access check ended without an answer");
    AccessDecision::Denied(failed_message(
        sa,
        stream,
        "the shared SubjectAccessReview request ended without an answer",
    ))
}

impl Inner {
    fn lock_cache(&self) -> MutexGuard<'_, Cache> {
        // No code path leaves the cache half-updated while holding the lock, so the
        // data behind a poisoned lock is still sound.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends one review; the decision, and how long it may be cached (`None`: not at all).
    async fn ask(&self, key: &Key) -> (AccessDecision, Option<Duration>) {
        let (sa, stream) = (key.sa(), key.stream());
        let review = review_for(sa, stream);
        let started = Instant::now();
        let sent = tokio::time::timeout(
            self.config.timeout,
            self.api.create(&PostParams::default(), &review),
        )
        .await;
        let elapsed_ms = started.elapsed().as_millis();
        let status = match sent {
            Err(_) => Err(CheckError::Timeout(self.config.timeout)),
            Ok(Err(err)) => Err(CheckError::Api(err)),
            Ok(Ok(review)) => review.status.ok_or(CheckError::NoStatus),
        };
        match status {
            Ok(status) if status.allowed => {
                tracing::debug!(%sa, %stream, elapsed_ms, "access review allowed");
                (AccessDecision::Allowed, Some(self.config.allowed_ttl))
            }
            Ok(status) => {
                tracing::debug!(
                    %sa,
                    %stream,
                    elapsed_ms,
                    reason = status.reason.as_deref().unwrap_or(""),
                    evaluation_error = status.evaluation_error.as_deref().unwrap_or(""),
                    "access review denied"
                );
                (
                    AccessDecision::Denied(denied_message(sa, stream, &status)),
                    Some(self.config.denied_ttl),
                )
            }
            Err(err) => {
                tracing::warn!(%sa, %stream, elapsed_ms, error = %err, "access review failed");
                // Not cached: a failure says nothing about the permission, and the next
                // check should ask again. Concurrent checks already share this one answer,
                // so an outage costs at most one request per pair at a time.
                (
                    AccessDecision::Denied(failed_message(sa, stream, &err)),
                    None,
                )
            }
        }
    }
}

/// The review that asks whether `sa` may pull `stream`'s layers.
fn review_for(sa: ServiceAccount<'_>, stream: StreamName<'_>) -> SubjectAccessReview {
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!(
                "system:serviceaccount:{}:{}",
                sa.namespace, sa.name
            )),
            // The groups the API server's token authenticator gives every service
            // account: bindings to them must count as they would for a real pull.
            groups: Some(vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{}", sa.namespace),
                "system:authenticated".to_owned(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                group: Some(GROUP.to_owned()),
                resource: Some(RESOURCE.to_owned()),
                subresource: Some(SUBRESOURCE.to_owned()),
                verb: Some(VERB.to_owned()),
                namespace: Some(stream.namespace.to_owned()),
                name: Some(stream.name.to_owned()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    }
}

/// Why a review gave no answer.
#[derive(Debug, thiserror::Error)]
enum CheckError {
    #[error("SubjectAccessReview request timed out after {0:?}")]
    Timeout(Duration),
    #[error("SubjectAccessReview request failed: {}", describe_kube_error(.0))]
    Api(#[source] kube::Error),
    #[error("SubjectAccessReview response has no status")]
    NoStatus,
}

fn describe_kube_error(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => {
            let mut text = format!("the API server answered {}", status.code);
            if !status.reason.is_empty() {
                text.push_str(&format!(" {}", status.reason));
            }
            if !status.message.is_empty() {
                text.push_str(&format!(": {}", status.message));
            }
            if status.code == 403 {
                // The usual install mistake: the missing permission is the webhook's, not the pod's.
                text.push_str(
                    "; the webhook's own service account needs create on \
                     subjectaccessreviews (authorization.k8s.io)",
                );
            }
            text
        }
        other => other.to_string(),
    }
}

fn failed_message(
    sa: ServiceAccount<'_>,
    stream: StreamName<'_>,
    why: impl fmt::Display,
) -> String {
    format!("service account {sa} may not use imagestream {stream}: access check failed: {why}")
}

fn denied_message(
    sa: ServiceAccount<'_>,
    stream: StreamName<'_>,
    status: &SubjectAccessReviewStatus,
) -> String {
    let detail = [
        status
            .reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        status
            .evaluation_error
            .as_deref()
            .filter(|e| !e.is_empty())
            .map(|e| format!("evaluation error: {e}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ");
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    };
    let permission = format!(
        "{VERB} on {RESOURCE}/{SUBRESOURCE} ({GROUP}) in namespace {}",
        stream.namespace
    );
    if status.denied == Some(true) {
        // A binding cannot lift an explicit deny, so suggesting one would mislead.
        return format!(
            "service account {sa} may not use imagestream {stream}: an authorizer explicitly \
             denies it {permission}{detail}; a role binding cannot override that: the policy \
             that denies it must change"
        );
    }
    format!(
        "service account {sa} may not use imagestream {stream}: it lacks {permission}{detail}; \
         grant it with: kubectl create rolebinding {}-{}-pulls-{} --clusterrole={PULLER_ROLE} \
         --serviceaccount={}:{} -n {}",
        sa.namespace, sa.name, stream.name, sa.namespace, sa.name, stream.namespace
    )
}

/// A (service account, stream) pair, owned so that it outlives the request it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    sa_namespace: String,
    sa_name: String,
    stream_namespace: String,
    stream_name: String,
}

impl Key {
    fn new(sa: ServiceAccount<'_>, stream: StreamName<'_>) -> Key {
        Key {
            sa_namespace: sa.namespace.to_owned(),
            sa_name: sa.name.to_owned(),
            stream_namespace: stream.namespace.to_owned(),
            stream_name: stream.name.to_owned(),
        }
    }

    fn sa(&self) -> ServiceAccount<'_> {
        ServiceAccount {
            namespace: &self.sa_namespace,
            name: &self.sa_name,
        }
    }

    fn stream(&self) -> StreamName<'_> {
        StreamName {
            namespace: &self.stream_namespace,
            name: &self.stream_name,
        }
    }
}

enum Slot {
    Ready {
        decision: AccessDecision,
        expires_at: Instant,
    },
    /// A request is in flight; `id` tells its answer from a later request's.
    Pending {
        id: u64,
        answer: watch::Receiver<Option<AccessDecision>>,
    },
}

/// The leader's side of a shared request. Dropped unfinished (the task panicked or
/// the runtime shut down), it clears its slot so that the next check asks again; its
/// sender goes with it, which wakes the waiters.
struct Flight {
    inner: Arc<Inner>,
    key: Key,
    id: u64,
    tx: watch::Sender<Option<AccessDecision>>,
    done: bool,
}

impl Flight {
    /// Runs the shared request, stores its answer, then hands it to every waiter.
    async fn fly(mut self) {
        let (decision, ttl) = self.inner.ask(&self.key).await;
        // Stored before it is sent, so that a waiter's next check hits the cache.
        self.inner
            .lock_cache()
            .complete(&self.key, self.id, &decision, ttl, Instant::now());
        self.done = true;
        // No receivers left (every check was dropped) is fine: the answer is cached.
        let _ = self.tx.send(Some(decision));
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if !self.done {
            self.inner.lock_cache().remove_pending(&self.key, self.id);
        }
    }
}

/// What a check does after its one look at the cache.
enum Lookup {
    Hit(AccessDecision),
    /// Another check's request is in flight: wait for its answer.
    Join(watch::Receiver<Option<AccessDecision>>),
    /// A slot was reserved for request `id`: send it and answer through `tx`.
    Lead {
        id: u64,
        tx: watch::Sender<Option<AccessDecision>>,
    },
    /// No room (every slot is in flight) or no cache: ask without sharing.
    Uncached,
}

struct Cache {
    entries: HashMap<Key, Slot>,
    max_entries: usize,
    next_id: u64,
}

impl Cache {
    fn new(max_entries: usize) -> Cache {
        Cache {
            entries: HashMap::new(),
            max_entries,
            next_id: 0,
        }
    }

    /// A fresh answer, a request to join, or a reserved slot.
    fn lookup(&mut self, key: &Key, now: Instant) -> Lookup {
        match self.entries.get(key) {
            Some(Slot::Ready {
                decision,
                expires_at,
            }) if now < *expires_at => return Lookup::Hit(decision.clone()),
            // A closed sender means the leader is gone without clearing its slot
            // (it cannot be, but joining it would only yield "ended without an answer").
            Some(Slot::Pending { answer, .. }) if answer.has_changed().is_ok() => {
                return Lookup::Join(answer.clone());
            }
            _ => {}
        }
        if self.max_entries == 0 {
            return Lookup::Uncached;
        }
        if !self.entries.contains_key(key) && self.entries.len() >= self.max_entries {
            self.make_room(now);
            if self.entries.len() >= self.max_entries {
                return Lookup::Uncached;
            }
        }
        let (tx, answer) = watch::channel(None);
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.entries
            .insert(key.clone(), Slot::Pending { id, answer });
        Lookup::Lead { id, tx }
    }

    /// Makes room for one more entry: drops expired answers, and if none had
    /// expired, the answers that would expire soonest (denials before allows of the
    /// same age), a tenth of the cache at once so that the next misses do not each
    /// pay for a full scan. Requests in flight are kept: dropping one would only
    /// split its waiters from the next checks.
    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, slot| match slot {
            Slot::Ready { expires_at, .. } => now < *expires_at,
            Slot::Pending { .. } => true,
        });
        if self.entries.len() < self.max_entries {
            return;
        }
        let target = self.max_entries - (self.max_entries / 10).max(1);
        let excess = self.entries.len() - target;
        let mut ready: Vec<(Instant, &Key)> = self
            .entries
            .iter()
            .filter_map(|(key, slot)| match slot {
                Slot::Ready { expires_at, .. } => Some((*expires_at, key)),
                Slot::Pending { .. } => None,
            })
            .collect();
        let evict = excess.min(ready.len());
        if evict == 0 {
            return;
        }
        if evict < ready.len() {
            ready.select_nth_unstable_by_key(evict, |(expires_at, _)| *expires_at);
        }
        let victims: Vec<Key> = ready[..evict]
            .iter()
            .map(|(_, key)| (*key).clone())
            .collect();
        for key in &victims {
            self.entries.remove(key);
        }
    }

    /// Stores the answer of request `id`, unless the slot was since taken over.
    fn complete(
        &mut self,
        key: &Key,
        id: u64,
        decision: &AccessDecision,
        ttl: Option<Duration>,
        now: Instant,
    ) {
        if !matches!(self.entries.get(key), Some(Slot::Pending { id: current, .. }) if *current == id)
        {
            return;
        }
        match ttl {
            Some(ttl) => {
                self.entries.insert(
                    key.clone(),
                    Slot::Ready {
                        decision: decision.clone(),
                        expires_at: now + ttl,
                    },
                );
            }
            None => {
                self.entries.remove(key);
            }
        }
    }

    fn remove_pending(&mut self, key: &Key, id: u64) {
        if matches!(self.entries.get(key), Some(Slot::Pending { id: current, .. }) if *current == id)
        {
            self.entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SA: ServiceAccount<'static> = ServiceAccount {
        namespace: "toms-project",
        name: "default",
    };
    const STREAM: StreamName<'static> = StreamName {
        namespace: "shared-images",
        name: "base",
    };

    fn key(stream: &str) -> Key {
        Key::new(
            SA,
            StreamName {
                namespace: "shared-images",
                name: stream,
            },
        )
    }

    fn ready(cache: &mut Cache, stream: &str, expires_at: Instant) {
        cache.entries.insert(
            key(stream),
            Slot::Ready {
                decision: AccessDecision::Allowed,
                expires_at,
            },
        );
    }

    /// Reserves a slot for `stream` and answers it with `ttl`.
    fn answer(cache: &mut Cache, stream: &str, ttl: Option<Duration>, now: Instant) {
        let Lookup::Lead { id, .. } = cache.lookup(&key(stream), now) else {
            panic!("expected to lead the request for {stream}");
        };
        cache.complete(&key(stream), id, &AccessDecision::Allowed, ttl, now);
    }

    #[test]
    fn denial_names_the_permission_and_the_fix() {
        let status = SubjectAccessReviewStatus {
            allowed: false,
            ..Default::default()
        };
        assert_eq!(
            denied_message(SA, STREAM, &status),
            "service account toms-project/default may not use imagestream shared-images/base: \
             it lacks get on imagestreams/layers (image.openshift.io) in namespace shared-images; \
             grant it with: kubectl create rolebinding toms-project-default-pulls-base \
             --clusterrole=system:image-puller --serviceaccount=toms-project:default \
             -n shared-images"
        );
    }

    #[test]
    fn denial_carries_the_reason_and_evaluation_error() {
        let status = SubjectAccessReviewStatus {
            allowed: false,
            reason: Some("no RBAC policy matched".to_owned()),
            evaluation_error: Some("role.rbac.authorization.k8s.io \"x\" not found".to_owned()),
            ..Default::default()
        };
        let message = denied_message(SA, STREAM, &status);
        assert!(
            message.contains(
                "in namespace shared-images (no RBAC policy matched; evaluation error: \
                 role.rbac.authorization.k8s.io \"x\" not found); grant it with: "
            ),
            "{message}"
        );
    }

    #[test]
    fn explicit_deny_suggests_no_binding() {
        let status = SubjectAccessReviewStatus {
            allowed: false,
            denied: Some(true),
            reason: Some("blocked by policy".to_owned()),
            ..Default::default()
        };
        let message = denied_message(SA, STREAM, &status);
        assert!(message.contains("explicitly denies"), "{message}");
        assert!(message.contains("(blocked by policy)"), "{message}");
        assert!(!message.contains("kubectl create rolebinding"), "{message}");
    }

    #[test]
    fn timeout_text_names_the_duration() {
        assert_eq!(
            failed_message(SA, STREAM, CheckError::Timeout(Duration::from_secs(3))),
            "service account toms-project/default may not use imagestream shared-images/base: \
             access check failed: SubjectAccessReview request timed out after 3s"
        );
    }

    #[test]
    fn a_lookup_hits_until_expiry_then_leads_again() {
        let now = Instant::now();
        let mut cache = Cache::new(10);
        answer(&mut cache, "a", Some(Duration::from_secs(5)), now);
        assert!(matches!(
            cache.lookup(&key("a"), now + Duration::from_secs(4)),
            Lookup::Hit(AccessDecision::Allowed)
        ));
        assert!(matches!(
            cache.lookup(&key("a"), now + Duration::from_secs(5)),
            Lookup::Lead { .. }
        ));
        assert_eq!(cache.entries.len(), 1);
    }

    #[test]
    fn a_pending_slot_is_joined_and_a_failure_is_not_kept() {
        let now = Instant::now();
        let mut cache = Cache::new(10);
        let Lookup::Lead { id, tx } = cache.lookup(&key("a"), now) else {
            panic!("expected to lead");
        };
        assert!(matches!(cache.lookup(&key("a"), now), Lookup::Join(_)));
        cache.complete(
            &key("a"),
            id,
            &AccessDecision::Denied("x".into()),
            None,
            now,
        );
        assert!(cache.entries.is_empty());
        drop(tx);
    }

    #[test]
    fn an_abandoned_slot_is_taken_over() {
        let now = Instant::now();
        let mut cache = Cache::new(10);
        let Lookup::Lead { id, tx } = cache.lookup(&key("a"), now) else {
            panic!("expected to lead");
        };
        drop(tx);
        let Lookup::Lead { id: second, .. } = cache.lookup(&key("a"), now) else {
            panic!("a slot whose sender is gone should be led again");
        };
        assert_ne!(id, second);
        // The first request's late answer must not overwrite the second's slot.
        cache.complete(
            &key("a"),
            id,
            &AccessDecision::Allowed,
            Some(Duration::from_secs(5)),
            now,
        );
        assert!(matches!(
            cache.entries.get(&key("a")),
            Some(Slot::Pending { .. })
        ));
        cache.remove_pending(&key("a"), id);
        assert_eq!(cache.entries.len(), 1);
        cache.remove_pending(&key("a"), second);
        assert!(cache.entries.is_empty());
    }

    #[test]
    fn eviction_drops_expired_entries_first() {
        let now = Instant::now();
        let mut cache = Cache::new(3);
        ready(&mut cache, "expired", now - Duration::from_secs(1));
        ready(&mut cache, "soon", now + Duration::from_secs(1));
        ready(&mut cache, "late", now + Duration::from_secs(60));
        assert!(matches!(
            cache.lookup(&key("new"), now),
            Lookup::Lead { .. }
        ));
        let mut left: Vec<_> = cache
            .entries
            .keys()
            .map(|k| k.stream_name.as_str())
            .collect();
        left.sort_unstable();
        assert_eq!(left, ["late", "new", "soon"]);
    }

    #[test]
    fn eviction_then_drops_the_soonest_to_expire() {
        let now = Instant::now();
        let mut cache = Cache::new(3);
        ready(&mut cache, "late", now + Duration::from_secs(60));
        ready(&mut cache, "soon", now + Duration::from_secs(1));
        ready(&mut cache, "middle", now + Duration::from_secs(30));
        assert!(matches!(
            cache.lookup(&key("new"), now),
            Lookup::Lead { .. }
        ));
        let mut left: Vec<_> = cache
            .entries
            .keys()
            .map(|k| k.stream_name.as_str())
            .collect();
        left.sort_unstable();
        assert_eq!(left, ["late", "middle", "new"]);
    }

    #[test]
    fn eviction_frees_a_tenth_at_once() {
        let now = Instant::now();
        let mut cache = Cache::new(100);
        for i in 0..100 {
            ready(
                &mut cache,
                &format!("s{i}"),
                now + Duration::from_secs(10 + i),
            );
        }
        assert!(matches!(
            cache.lookup(&key("new"), now),
            Lookup::Lead { .. }
        ));
        assert_eq!(cache.entries.len(), 91);
        // The ten soonest to expire went.
        assert!((0..10).all(|i| !cache.entries.contains_key(&key(&format!("s{i}")))));
        assert!((10..100).all(|i| cache.entries.contains_key(&key(&format!("s{i}")))));
    }

    #[test]
    fn requests_in_flight_are_never_evicted_and_the_bound_holds() {
        let now = Instant::now();
        let mut cache = Cache::new(2);
        let mut senders = Vec::new();
        for stream in ["a", "b"] {
            let Lookup::Lead { tx, .. } = cache.lookup(&key(stream), now) else {
                panic!("expected to lead {stream}");
            };
            senders.push(tx);
        }
        assert!(matches!(cache.lookup(&key("c"), now), Lookup::Uncached));
        assert_eq!(cache.entries.len(), 2);
        // Joining an existing request needs no room.
        assert!(matches!(cache.lookup(&key("a"), now), Lookup::Join(_)));
    }

    #[test]
    fn many_answers_never_exceed_the_bound() {
        let now = Instant::now();
        let mut cache = Cache::new(7);
        for i in 0..1_000 {
            answer(
                &mut cache,
                &format!("s{i}"),
                Some(Duration::from_secs(60)),
                now,
            );
            assert!(cache.entries.len() <= 7);
        }
    }

    #[test]
    fn a_zero_bound_disables_the_cache() {
        let mut cache = Cache::new(0);
        assert!(matches!(
            cache.lookup(&key("a"), Instant::now()),
            Lookup::Uncached
        ));
        assert!(cache.entries.is_empty());
    }

    #[test]
    fn source_labels() {
        assert_eq!(Source::Cache.as_str(), "cache");
        assert_eq!(Source::Api.to_string(), "api");
    }
}
