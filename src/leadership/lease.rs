//! Leader election on a `coordination.k8s.io/v1` Lease, so that of the
//! replicas serving admission only one runs the importer and the triggers.
//!
//! The protocol is client-go's `leaderelection` with a `LeaseLock`:
//!
//! - Every retry period a replica reads the Lease. If it is absent, the replica
//!   creates it holding it. If another replica holds it and has renewed it
//!   within the lease duration, the replica waits. Otherwise (expired, released
//!   or already ours) it writes itself in as holder with a `PUT` carrying the
//!   `resourceVersion` it read, so the API server refuses the write (409) if
//!   anyone wrote in between: of two racing replicas exactly one wins.
//! - "Renewed within the lease duration" is judged by the local clock of when
//!   this replica last saw the record change, never by the `renewTime` written
//!   by another machine, so clock skew between nodes does not matter.
//! - A leader that has not renewed for `renew_deadline` steps down on its own
//!   clock, whether or not it can reach the API server. Since
//!   `renew_deadline < lease_duration`, and the others start counting the lease
//!   duration only after seeing the last renewal, a replica cut off from the
//!   API stops leading before another one may take over.
//!
//! Like client-go this gives no fencing: it relies on the local clocks of the
//! replicas running at about the same rate.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher as _;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// client-go's default lease duration.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// client-go's default renew deadline.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// client-go's default retry period.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// How far a follower stretches its retry period at most (as a fraction of it),
/// so that replicas started together do not keep hitting the API in lockstep.
const JITTER: f64 = 0.2;

/// Where the Lease lives, who we are, and the election's timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the webhook's own namespace).
    pub namespace: String,
    /// Name of the Lease, e.g. `imagestream-webhook-importer`.
    pub name: String,
    /// This replica's identity (its pod name); must be unique among replicas.
    pub identity: String,
    /// How long others wait, after last seeing the Lease change, before taking
    /// it over. Written to the Lease in whole seconds, rounded up.
    pub lease_duration: Duration,
    /// A leader that has not renewed within this steps down. Must be shorter
    /// than `lease_duration`.
    pub renew_deadline: Duration,
    /// Time between attempts to acquire or renew; also the timeout of each API
    /// call.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// A configuration with client-go's default timing (15 s / 10 s / 2 s).
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> LeaseConfig {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }

    /// Checks the rules client-go enforces, which the guarantee that a leader
    /// steps down before anyone else may take over rests on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.identity.is_empty() {
            return Err(ConfigError::EmptyIdentity);
        }
        if self.namespace.is_empty() || self.name.is_empty() {
            return Err(ConfigError::EmptyLease);
        }
        if self.retry_period.is_zero() {
            return Err(ConfigError::ZeroRetryPeriod);
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(ConfigError::DeadlineNotBelowLease {
                renew_deadline: self.renew_deadline,
                lease_duration: self.lease_duration,
            });
        }
        // client-go's JitterFactor: a renewal must fit within the deadline
        // with room to spare.
        if self.renew_deadline <= self.retry_period.mul_f64(1.2) {
            return Err(ConfigError::RetryNotBelowDeadline {
                retry_period: self.retry_period,
                renew_deadline: self.renew_deadline,
            });
        }
        Ok(())
    }

    /// `lease_duration` as the Lease's `leaseDurationSeconds`: rounded up, so
    /// others never wait less than we assume, and at least 1 as the API
    /// server's validation requires.
    fn lease_duration_seconds(&self) -> i32 {
        let whole = self.lease_duration.as_secs();
        let secs = if self.lease_duration.subsec_nanos() > 0 {
            whole.saturating_add(1)
        } else {
            whole
        };
        i32::try_from(secs).unwrap_or(i32::MAX).max(1)
    }
}

/// Why a [`LeaseConfig`] is refused by [`LeaseConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No identity: every replica would think the Lease is its own.
    #[error("leader election identity must not be empty")]
    EmptyIdentity,
    /// No namespace or name for the Lease.
    #[error("leader election Lease namespace and name must not be empty")]
    EmptyLease,
    /// A zero retry period would spin.
    #[error("leader election retry period must be greater than zero")]
    ZeroRetryPeriod,
    /// The leader could still believe it leads after others took over.
    #[error(
        "leader election lease duration ({lease_duration:?}) must be greater than the renew deadline ({renew_deadline:?})"
    )]
    DeadlineNotBelowLease {
        /// The configured renew deadline.
        renew_deadline: Duration,
        /// The configured lease duration.
        lease_duration: Duration,
    },
    /// The leader would step down before it had a fair chance to renew.
    #[error(
        "leader election renew deadline ({renew_deadline:?}) must be greater than 1.2 × the retry period ({retry_period:?})"
    )]
    RetryNotBelowDeadline {
        /// The configured retry period.
        retry_period: Duration,
        /// The configured renew deadline.
        renew_deadline: Duration,
    },
}

/// Runs the election until `shutdown` fires; `tx` carries whether this replica
/// leads now (`true` is sent once on becoming leader, `false` on stepping down).
///
/// API errors and timeouts are logged and retried; they never end the loop.
/// A configuration that fails [`LeaseConfig::validate`] is logged and run with
/// client-go's default timing instead, since there is no error to return.
///
/// On shutdown `false` is sent first, then a leader releases the Lease
/// (clears `holderIdentity`, backdates `renewTime`) best-effort, so another
/// replica takes over at once instead of after the lease duration. Whatever
/// this replica guards with the lease should stop before `shutdown` fires.
pub async fn run(
    client: kube::Client,
    config: LeaseConfig,
    tx: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let config = match config.validate() {
        Ok(()) => config,
        Err(error) => {
            tracing::error!(
                %error,
                lease_duration = ?config.lease_duration,
                renew_deadline = ?config.renew_deadline,
                retry_period = ?config.retry_period,
                "invalid leader election timing; using the defaults"
            );
            LeaseConfig {
                lease_duration: DEFAULT_LEASE_DURATION,
                renew_deadline: DEFAULT_RENEW_DEADLINE,
                retry_period: DEFAULT_RETRY_PERIOD,
                ..config
            }
        }
    };
    let mut elector = Elector::new(client, config);
    elector.run(&tx, &shutdown).await;
    set(&tx, false);
    elector.release().await;
}

/// Sends `leading` only when it differs from what the channel holds, so
/// receivers see each change once. Never fails: nobody listening is fine.
fn set(tx: &watch::Sender<bool>, leading: bool) {
    tx.send_if_modified(|current| {
        let changed = *current != leading;
        *current = leading;
        changed
    });
}

/// The result of one attempt to acquire or renew.
#[derive(Debug)]
enum Attempt {
    /// We hold the Lease: our write went through.
    Held,
    /// Another replica holds the Lease and it has not expired.
    HeldByOther(String),
    /// Our write lost a race (409): someone wrote the Lease since we read it.
    Conflict,
    /// The API failed or timed out; already logged.
    Failed,
}

struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The Lease spec as last read or written, compared on each read to notice
    /// whether its holder has renewed since.
    observed: Option<LeaseSpec>,
    /// When `observed` last changed, by our clock: the start of the holder's
    /// lease as far as we can tell.
    observed_at: Instant,
}

impl Elector {
    fn new(client: kube::Client, config: LeaseConfig) -> Elector {
        Elector {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
            observed_at: Instant::now(),
        }
    }

    /// The election loop, until `shutdown` fires.
    async fn run(&mut self, tx: &watch::Sender<bool>, shutdown: &CancellationToken) {
        let ns = self.config.namespace.clone();
        let name = self.config.name.clone();
        let identity = self.config.identity.clone();
        let retry_period = self.config.retry_period;
        let renew_deadline = self.config.renew_deadline;
        tracing::info!(
            namespace = %ns, lease = %name, %identity,
            "starting leader election"
        );

        // While leading: when the last successful renewal started. Measured
        // from before the GET rather than after the PUT, because the API server
        // may apply the write (and others start their wait) any time after we
        // send it; the deadline must not start later than they do.
        let mut renewed_at: Option<Instant> = None;
        let mut next_attempt = Instant::now();
        loop {
            let step_down_at = renewed_at.map(|at| at + renew_deadline);
            let at = next_attempt;
            let this = &mut *self;
            let attempt = async move {
                tokio::time::sleep_until(at).await;
                let started = Instant::now();
                (started, this.try_acquire_or_renew().await)
            };
            // Racing the attempt against the deadline is what makes stepping
            // down independent of the API: a hung call cannot hold it up.
            let (started, outcome) = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = sleep_until_opt(step_down_at) => {
                    tracing::warn!(
                        namespace = %ns, lease = %name, %identity, ?renew_deadline,
                        "could not renew the lease within the renew deadline; stepping down"
                    );
                    renewed_at = None;
                    set(tx, false);
                    // Try again right away as a follower: if nobody took over,
                    // the Lease is still ours to renew.
                    next_attempt = Instant::now();
                    continue;
                }
                result = attempt => result,
            };
            let leading = renewed_at.is_some();
            match outcome {
                Attempt::Held => {
                    if !leading {
                        tracing::info!(
                            namespace = %ns, lease = %name, %identity,
                            "acquired the lease; now leading"
                        );
                    }
                    renewed_at = Some(started);
                    set(tx, true);
                }
                Attempt::HeldByOther(holder) => {
                    if leading {
                        // Someone else is in the record: we are not the leader,
                        // whatever our deadline says.
                        tracing::warn!(
                            namespace = %ns, lease = %name, %identity, %holder,
                            "the lease is held by another replica; stepping down"
                        );
                        renewed_at = None;
                        set(tx, false);
                    } else {
                        tracing::debug!(
                            namespace = %ns, lease = %name, %identity, %holder,
                            "the lease is held by another replica"
                        );
                    }
                }
                // A leader keeps its deadline: a 409 or an error says nothing
                // yet about who holds the Lease; the next read will.
                Attempt::Conflict | Attempt::Failed => {}
            }
            next_attempt = if renewed_at.is_some() {
                // A leader renews on a steady beat to stay within its deadline.
                Instant::now() + retry_period
            } else {
                Instant::now() + jittered(retry_period)
            };
        }
        tracing::info!(
            namespace = %ns, lease = %name, %identity,
            "leader election stopped"
        );
    }

    /// One round of client-go's `tryAcquireOrRenew`: GET the Lease, create it
    /// if absent, leave it if another holder's lease is live, else PUT
    /// ourselves in with the read `resourceVersion`.
    async fn try_acquire_or_renew(&mut self) -> Attempt {
        let config = &self.config;
        let timeout = config.retry_period;
        let now = now_micros();

        let current = match call(timeout, self.api.get_opt(&config.name)).await {
            Ok(Some(lease)) => lease,
            Ok(None) => return self.create(now).await,
            Err(error) => {
                tracing::warn!(
                    namespace = %config.namespace, lease = %config.name,
                    identity = %config.identity, %error,
                    "could not read the lease"
                );
                return Attempt::Failed;
            }
        };

        let old = current.spec.clone().unwrap_or_default();
        if self.observed.as_ref() != Some(&old) {
            self.observed = Some(old.clone());
            self.observed_at = Instant::now();
        }
        let holder = old.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(config.identity.as_str());
        if let Some(holder) = holder.filter(|_| !ours) {
            // Judge expiry by the duration the holder wrote, counted from when
            // we saw its record change: the remote renewTime may be skewed.
            let lease_duration = old
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|&s| s > 0)
                .map_or(config.lease_duration, Duration::from_secs);
            if Instant::now() < self.observed_at + lease_duration {
                return Attempt::HeldByOther(holder);
            }
            tracing::info!(
                namespace = %config.namespace, lease = %config.name,
                identity = %config.identity, %holder, ?lease_duration,
                "the lease has expired; trying to take it over"
            );
        }

        let transitions = old.lease_transitions.unwrap_or(0);
        let spec = LeaseSpec {
            holder_identity: Some(config.identity.clone()),
            lease_duration_seconds: Some(config.lease_duration_seconds()),
            acquire_time: if ours {
                old.acquire_time.clone().or_else(|| Some(now.clone()))
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if ours {
                transitions
            } else {
                transitions.saturating_add(1)
            }),
            ..LeaseSpec::default()
        };
        let resource_version = current.metadata.resource_version.clone();
        let lease = Lease {
            spec: Some(spec),
            ..current
        };
        let params = PostParams::default();
        let put = self.api.replace(&config.name, &params, &lease);
        match call(timeout, put).await {
            Ok(written) => {
                self.observed = written.spec;
                self.observed_at = Instant::now();
                Attempt::Held
            }
            Err(CallError::Kube(kube::Error::Api(status))) if status.code == 409 => {
                tracing::info!(
                    namespace = %config.namespace, lease = %config.name,
                    identity = %config.identity, ?resource_version,
                    "the lease changed since we read it (409); not writing it this round"
                );
                Attempt::Conflict
            }
            Err(error) => {
                tracing::warn!(
                    namespace = %config.namespace, lease = %config.name,
                    identity = %config.identity, %error,
                    "could not write the lease"
                );
                Attempt::Failed
            }
        }
    }

    /// Creates the absent Lease holding it.
    async fn create(&mut self, now: MicroTime) -> Attempt {
        let config = &self.config;
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                namespace: Some(config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(config.lease_duration_seconds()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        let params = PostParams::default();
        let post = self.api.create(&params, &lease);
        match call(config.retry_period, post).await {
            Ok(created) => {
                tracing::info!(
                    namespace = %config.namespace, lease = %config.name,
                    identity = %config.identity,
                    "created the lease"
                );
                self.observed = created.spec;
                self.observed_at = Instant::now();
                Attempt::Held
            }
            // AlreadyExists: another replica created it first.
            Err(CallError::Kube(kube::Error::Api(status))) if status.code == 409 => {
                tracing::info!(
                    namespace = %config.namespace, lease = %config.name,
                    identity = %config.identity,
                    "another replica created the lease first"
                );
                Attempt::Conflict
            }
            Err(error) => {
                tracing::warn!(
                    namespace = %config.namespace, lease = %config.name,
                    identity = %config.identity, %error,
                    "could not create the lease"
                );
                Attempt::Failed
            }
        }
    }

    /// Best-effort release on shutdown, if the Lease may still name us: empties
    /// `holderIdentity` (which lets any replica take it at once) and backdates
    /// `renewTime` by the lease duration (so readers that trust the timestamp
    /// see it expired too). Keeps `leaseTransitions`: the next holder counts.
    async fn release(&mut self) {
        let config = &self.config;
        let ours = |spec: Option<&LeaseSpec>| {
            spec.and_then(|s| s.holder_identity.as_deref()) == Some(config.identity.as_str())
        };
        if !ours(self.observed.as_ref()) {
            return;
        }
        let timeout = config.retry_period;
        let current = match call(timeout, self.api.get_opt(&config.name)).await {
            Ok(Some(lease)) => lease,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(
                    namespace = %config.namespace, lease = %config.name,
                    identity = %config.identity, %error,
                    "could not read the lease to release it; it will expire"
                );
                return;
            }
        };
        if !ours(current.spec.as_ref()) {
            return;
        }
        let old = current.spec.clone().unwrap_or_default();
        let backdated = jiff::SignedDuration::try_from(config.lease_duration)
            .ok()
            .and_then(|d| now_micros().0.checked_sub(d).ok())
            .map_or_else(now_micros, MicroTime);
        let lease = Lease {
            spec: Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(config.lease_duration_seconds()),
                acquire_time: old.acquire_time,
                renew_time: Some(backdated),
                lease_transitions: old.lease_transitions,
                ..LeaseSpec::default()
            }),
            ..current
        };
        let params = PostParams::default();
        let put = self.api.replace(&config.name, &params, &lease);
        match call(timeout, put).await {
            Ok(written) => {
                tracing::info!(
                    namespace = %config.namespace, lease = %config.name,
                    identity = %config.identity,
                    "released the lease"
                );
                self.observed = written.spec;
            }
            Err(error) => tracing::warn!(
                namespace = %config.namespace, lease = %config.name,
                identity = %config.identity, %error,
                "could not release the lease; it will expire"
            ),
        }
    }
}

/// An API call that failed or took too long.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("API request timed out after {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// Bounds an API call so that an unreachable server cannot stall the loop.
async fn call<T>(
    timeout: Duration,
    request: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(timeout, request).await {
        Ok(result) => result.map_err(CallError::Kube),
        Err(_elapsed) => Err(CallError::Timeout(timeout)),
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The current time at the Lease's microsecond precision, so a record we
/// wrote compares equal to the same record read back.
fn now_micros() -> MicroTime {
    let now = jiff::Timestamp::now();
    MicroTime(jiff::Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now))
}

/// `period` stretched by a random fraction of up to [`JITTER`].
fn jittered(period: Duration) -> Duration {
    // Each RandomState is keyed afresh, which is random enough to spread
    // replicas apart without a dependency on a random number crate.
    let bits = RandomState::new().hash_one(std::time::SystemTime::now());
    // The top 53 bits make an f64 in [0, 1).
    let fraction = (bits >> 11) as f64 / (1u64 << 53) as f64;
    period.mul_f64(1.0 + JITTER * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LeaseConfig {
        LeaseConfig::new("ns", "lease", "me")
    }

    #[test]
    fn defaults_are_client_gos_and_valid() {
        let c = config();
        assert_eq!(c.lease_duration, Duration::from_secs(15));
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.retry_period, Duration::from_secs(2));
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.lease_duration_seconds(), 15);
    }

    #[test]
    fn validate_enforces_the_ordering_of_durations() {
        let mut c = config();
        c.renew_deadline = c.lease_duration;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::DeadlineNotBelowLease { .. })
        ));
        let mut c = config();
        c.retry_period = Duration::from_millis(8500);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::RetryNotBelowDeadline { .. })
        ));
        let mut c = config();
        c.retry_period = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::ZeroRetryPeriod));
        let mut c = config();
        c.identity.clear();
        assert_eq!(c.validate(), Err(ConfigError::EmptyIdentity));
        let mut c = config();
        c.name.clear();
        assert_eq!(c.validate(), Err(ConfigError::EmptyLease));
    }

    #[test]
    fn lease_duration_seconds_rounds_up_and_is_positive() {
        let mut c = config();
        c.lease_duration = Duration::from_millis(1500);
        assert_eq!(c.lease_duration_seconds(), 2);
        c.lease_duration = Duration::from_millis(200);
        assert_eq!(c.lease_duration_seconds(), 1);
        c.lease_duration = Duration::from_secs(u64::MAX);
        assert_eq!(c.lease_duration_seconds(), i32::MAX);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let period = Duration::from_millis(100);
        for _ in 0..1000 {
            let d = jittered(period);
            assert!(d >= period && d <= period.mul_f64(1.0 + JITTER), "{d:?}");
        }
    }

    #[test]
    fn micro_time_round_trips_through_json() {
        let t = now_micros();
        let json = serde_json::to_value(&t).expect("serialize");
        let text = json.as_str().expect("string");
        // RFC 3339 with exactly six fractional digits, as the API server writes.
        assert_eq!(text.len(), "2006-01-02T15:04:05.000000Z".len(), "{text}");
        let back: MicroTime = serde_json::from_value(json.clone()).expect("deserialize");
        assert_eq!(back, t);
    }

    #[test]
    fn set_reports_only_changes() {
        let (tx, mut rx) = watch::channel(false);
        set(&tx, false);
        assert!(!rx.has_changed().expect("open"));
        set(&tx, true);
        assert!(rx.has_changed().expect("open"));
        assert!(*rx.borrow_and_update());
        set(&tx, true);
        assert!(!rx.has_changed().expect("open"));
    }
}
