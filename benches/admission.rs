//! Micro-benchmarks of admission (`make bench` runs them through `hack/bench.sh`).
//!
//! - `resolve/N`: resolving every container of a 10-container Deployment
//!   (`decision::evaluate` on the parsed review) against a snapshot of N
//!   streams. Admission looks streams up by namespace and name, so the
//!   100,000-stream time should stay close to the 10-stream one.
//! - `review/deployment_10_containers`: the whole in-process handling of the
//!   same review, bytes in to response bytes out
//!   (`Admission::review(Endpoint::Mutate, …)`), over 10,000 streams, with
//!   directory-mode access checks and an audit log written to a temporary
//!   file, as every real request writes an audit line.
//!
//! ```sh
//! cargo bench --bench admission
//! ```

use std::hint::black_box;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use prometheus_client::metrics::counter::Counter;

use imagestream_core::admission::decision::{Endpoint, Policy, evaluate};
use imagestream_core::admission::wire;
use imagestream_core::config::{Config, SameNamespaceAccess};
use imagestream_core::stream::ImageStream;
use imagestream_core::stream::resolve::Resolution;
use imagestream_core::stream::snapshot::Snapshot;

use imagestream_webhook::access::AccessChecker;
use imagestream_webhook::serving::admission::{Admission, Outcome};
use imagestream_webhook::serving::audit_log::{AuditLog, Destination};
use imagestream_webhook::store::Store;

mod fixtures;

use fixtures::Shape;

/// Streams of the in-process review benchmark, as in the load test.
const REVIEW_STREAMS: usize = 10_000;

/// A snapshot of `n` generated streams, built as the watch builds it.
fn snapshot(n: usize) -> Snapshot {
    let shape = Shape::new(n);
    Snapshot::build(fixtures::streams(&shape).map(|s| {
        let is: ImageStream =
            serde_json::from_value(s.to_json()).expect("a generated stream parses");
        Arc::new(is)
    }))
}

/// A snapshot of `n` streams, checked to resolve every container of `req` to
/// its pinned digest: the benchmark must measure real resolutions, not misses.
fn checked_snapshot(n: usize, req: &wire::Request<'_>, policy: &Policy<'_>) -> Snapshot {
    let snap = snapshot(n);
    assert_eq!(snap.stream_count(), n);
    let eval = evaluate(&snap, policy, req).expect("the review is evaluated");
    assert_eq!(eval.images.len(), fixtures::CONTAINERS);
    for (c, img) in eval.images.iter().enumerate() {
        assert!(matches!(img.resolution, Resolution::Resolved { .. }));
        let want = fixtures::container_pinned(&Shape::new(n), c);
        assert_eq!(img.resolved().map(|s| &**s), Some(want.as_str()));
    }
    drop(eval);
    snap
}

fn resolve(c: &mut Criterion) {
    // Every shape names the same 10 streams in the review, whatever its size.
    let body = fixtures::review_json(&Shape::new(fixtures::CONTAINERS));
    let review = wire::parse_review(&body).expect("the review parses");
    let req = review.request.as_ref().expect("the review has a request");
    let config = Config::default();
    let policy = Policy {
        stream_hosts: &config.stream_registry_hosts,
    };
    let mut group = c.benchmark_group("resolve");
    for n in [10, 1_000, 100_000] {
        // Built on first use, so that a filter (`cargo bench -- review`) skips it.
        let snap = OnceLock::new();
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let snap = snap.get_or_init(|| checked_snapshot(n, req, &policy));
            b.iter(|| evaluate(snap, &policy, black_box(req)))
        });
    }
    group.finish();
}

fn review(c: &mut Criterion) {
    // The product's runtime: multi-threaded, one worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.log");
    let (audit, writer) = {
        let _in_runtime = rt.enter();
        AuditLog::start(Destination::File(path.clone()), Counter::default()).expect("audit log")
    };
    let store = Store::new();
    store.publish(snapshot(REVIEW_STREAMS));
    let admission = Admission {
        store,
        config: Arc::new(Config::default()),
        access: AccessChecker::directory(SameNamespaceAccess::Allow),
        audit: Some(audit.clone()),
    };
    let body = fixtures::review_json(&Shape::new(REVIEW_STREAMS));
    let answer = rt
        .block_on(admission.review(Endpoint::Mutate, &body))
        .expect("the review is answered");
    assert_eq!(answer.outcome, Outcome::Mutate, "the review is patched");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("audit log file");

    c.bench_function("review/deployment_10_containers", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (admission, body, file) = (&admission, &body, &file);
            async move {
                let started = Instant::now();
                for _ in 0..iters {
                    let answer = admission
                        .review(Endpoint::Mutate, black_box(body))
                        .await
                        .expect("answered");
                    black_box(answer);
                }
                let took = started.elapsed();
                // Millions of ~4 KB audit lines would fill the disk: empty the
                // file between samples, outside the timed part. The writer
                // appends, so it goes on at the new end.
                let _ = file.set_len(0);
                took
            }
        })
    });

    let dropped = audit.dropped();
    drop(admission);
    drop(audit);
    let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), writer).await });
    if dropped > 0 {
        println!(
            "bench: note: the audit writer fell behind and dropped {dropped} records during review/deployment_10_containers"
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = resolve, review
}
criterion_main!(benches);
