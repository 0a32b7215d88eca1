//! Prometheus metrics served on the admin listener's `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use imagestream_core::access::Source;
use imagestream_core::admission::decision::Endpoint;
use imagestream_core::admission::workload::Kind;
use imagestream_core::import::Reason;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: &'static str,
    pub kind: &'static str,
    pub decision: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AccessLabels {
    /// `allowed` or `denied`.
    pub result: &'static str,
    /// `local`, `cache` or `api`.
    pub source: &'static str,
}

/// The six access-check counters, looked up once: a family lookup (lock,
/// label hash) for each image of each request cost more than the count.
#[derive(Clone)]
pub struct AccessCounters {
    /// `[allowed, denied]` × `[local, cache, api]`.
    by: [[Counter; 3]; 2],
}

impl AccessCounters {
    pub fn of(family: &Family<AccessLabels, Counter>) -> AccessCounters {
        let row = |result: &'static str| {
            Source::ALL.map(|source| {
                family
                    .get_or_create(&AccessLabels {
                        result,
                        source: source.as_str(),
                    })
                    .clone()
            })
        };
        AccessCounters {
            by: [row("allowed"), row("denied")],
        }
    }

    pub fn count(&self, allowed: bool, source: Source) {
        self.by[usize::from(!allowed)][source as usize].inc();
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ImportLabels {
    /// `success` or `failure`.
    pub result: &'static str,
    /// Empty on success; `NotFound`, `Unauthorized`, `Forbidden` or `InternalError`.
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TriggerLabels {
    /// `fired` or `failed`.
    pub result: &'static str,
    /// Empty when fired; `InvalidTrigger`, `TriggerForbidden` or `ApiError`.
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EventLabels {
    /// The path's format: `distribution`, `harbor`, `quay`, `dockerhub`, `github`.
    pub format: &'static str,
    /// `accepted`, `ignored`, `unauthorized`, `invalid`, `too_large`, `timeout`, `busy`.
    pub result: &'static str,
}

/// Every `result` of `events_received` (the receiver's answers).
pub const EVENT_RESULTS: [&str; 7] = [
    "accepted",
    "ignored",
    "unauthorized",
    "invalid",
    "too_large",
    "timeout",
    "busy",
];

/// Push-to-status latency buckets, 10 ms to 60 s.
const EVENT_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];

/// Registry request latency buckets, 5 ms to 10 s.
const REGISTRY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Admission latency buckets, 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Every metric the process exports.
pub struct Metrics {
    registry: Registry,
    pub admission_requests: Family<RequestLabels, Counter>,
    pub admission_latency: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    pub streams: Gauge,
    pub tags: Gauge,
    pub reload_errors: Counter,
    pub directory_warnings: Counter,
    pub access_checks: Family<AccessLabels, Counter>,
    pub audit_dropped: Counter,
    pub watch_errors: Counter,
    pub imports: Family<ImportLabels, Counter>,
    pub registry_latency: Histogram,
    pub import_backlog: Gauge,
    pub leader: Gauge,
    pub triggers: Family<TriggerLabels, Counter>,
    pub events_received: Family<EventLabels, Counter>,
    pub event_import_latency: Histogram,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("imagestream_webhook");
        let admission_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission reviews answered, by endpoint, kind and decision",
            admission_requests.clone(),
        );
        let admission_latency = Family::<EndpointLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(LATENCY_BUCKETS)) as fn() -> Histogram,
        );
        registry.register(
            "admission_duration_seconds",
            "Time from the request body read to the response, by endpoint",
            admission_latency.clone(),
        );
        let streams = Gauge::default();
        registry.register(
            "streams",
            "ImageStreams in the snapshot admission reads",
            streams.clone(),
        );
        let tags = Gauge::default();
        registry.register(
            "tags",
            "Tags over all ImageStreams in the snapshot",
            tags.clone(),
        );
        let reload_errors = Counter::default();
        registry.register(
            "directory_reload_errors",
            "Files in --streams-dir that could not be read or parsed on a reload, and folders skipped",
            reload_errors.clone(),
        );
        let directory_warnings = Counter::default();
        registry.register(
            "directory_warnings",
            "Unknown fields found in files of --streams-dir as they were read",
            directory_warnings.clone(),
        );
        let access_checks = Family::<AccessLabels, Counter>::default();
        registry.register(
            "access_checks",
            "Service-account access decisions, by result and where they came from",
            access_checks.clone(),
        );
        let audit_dropped = Counter::default();
        registry.register(
            "audit_records_dropped",
            "Audit records not written: the writer fell 64 MiB behind, or the audit log could not be written (disk full, file or directory gone)",
            audit_dropped.clone(),
        );
        let watch_errors = Counter::default();
        registry.register(
            "watch_errors",
            "Errors of the ImageStream watch (cluster mode); each is followed by a re-list with backoff",
            watch_errors.clone(),
        );
        let imports = Family::<ImportLabels, Counter>::default();
        registry.register(
            "imports",
            "Tag imports, by result and failure reason",
            imports.clone(),
        );
        let registry_latency = Histogram::new(REGISTRY_BUCKETS);
        registry.register(
            "registry_request_duration_seconds",
            "Duration of registry manifest requests",
            registry_latency.clone(),
        );
        let import_backlog = Gauge::default();
        registry.register(
            "scheduled_import_backlog",
            "Scheduled tag imports that are due but wait for the maxScheduledImportsPerMinute pace",
            import_backlog.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica runs the importer or the triggers (holds the Lease in cluster mode)",
            leader.clone(),
        );
        let triggers = Family::<TriggerLabels, Counter>::default();
        registry.register(
            "triggers",
            "Image-change triggers fired (workloads patched) and failed, by reason",
            triggers.clone(),
        );
        let events_received = Family::<EventLabels, Counter>::default();
        registry.register(
            "events_received",
            "Registry push events received (serve --events-listen), by format and result",
            events_received.clone(),
        );
        let event_import_latency = Histogram::new(EVENT_BUCKETS);
        registry.register(
            "event_import_duration_seconds",
            "Time from a push event's arrival to the status of the tags it moved written",
            event_import_latency.clone(),
        );
        let metrics = Metrics {
            events_received,
            event_import_latency,
            triggers,
            imports,
            registry_latency,
            import_backlog,
            leader,
            watch_errors,
            access_checks,
            audit_dropped,
            registry,
            admission_requests,
            admission_latency,
            streams,
            tags,
            reload_errors,
            directory_warnings,
        };
        metrics.create_known_series();
        metrics
    }

    /// Creates every series whose labels are known in advance, at zero, so
    /// that each metric is there from the first scrape: a series that first
    /// appears at 1 hides that increment from `rate()` and `increase()`.
    fn create_known_series(&self) {
        for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
            let endpoint = endpoint.as_str();
            let _ = self
                .admission_latency
                .get_or_create(&EndpointLabels { endpoint });
            let decisions: &[&'static str] = match endpoint {
                "mutate" => &["allow", "mutate", "deny"],
                _ => &["allow", "deny"],
            };
            let kinds = Kind::ALL.iter().map(|k| k.as_str());
            for kind in kinds {
                for &decision in decisions {
                    let _ = self.admission_requests.get_or_create(&RequestLabels {
                        endpoint,
                        kind,
                        decision,
                    });
                }
            }
            for (kind, decision) in [("other", "allow"), ("unknown", "bad-request")] {
                let _ = self.admission_requests.get_or_create(&RequestLabels {
                    endpoint,
                    kind,
                    decision,
                });
            }
        }
        AccessCounters::of(&self.access_checks);
        let _ = self.imports.get_or_create(&ImportLabels {
            result: "success",
            reason: "",
        });
        for reason in [
            Reason::NotFound,
            Reason::Unauthorized,
            Reason::Forbidden,
            Reason::InternalError,
        ] {
            let _ = self.imports.get_or_create(&ImportLabels {
                result: "failure",
                reason: reason.as_str(),
            });
        }
        for format in imagestream_core::events::Format::ALL {
            for result in EVENT_RESULTS {
                let _ = self.events_received.get_or_create(&EventLabels {
                    format: format.as_str(),
                    result,
                });
            }
        }
        for (result, reason) in [
            ("fired", ""),
            ("failed", "InvalidTrigger"),
            ("failed", "TriggerForbidden"),
            ("failed", "ApiError"),
        ] {
            let _ = self
                .triggers
                .get_or_create(&TriggerLabels { result, reason });
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
