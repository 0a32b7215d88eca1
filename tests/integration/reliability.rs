//! Reliability under load: the real binary stopped with SIGTERM while
//! keep-alive clients keep it busy, as the API server does when Kubernetes
//! replaces a webhook pod. Everything runs on 127.0.0.1, every wait is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::CONNECTION;
use tokio::net::TcpStream;

use crate::common::*;
use crate::faults::{admin_status, check_pinned, http_open, pod_review, post, wait_ready};

/// What one request of a load client came to.
#[derive(Debug)]
enum Outcome {
    /// The right answer; whether it carried `Connection: close`.
    Answered { close: bool },
    /// An answer, but not the right one.
    Wrong(String),
    /// No answer.
    Failed(String),
}

#[derive(Debug)]
struct Sample {
    /// Whether the client had already seen `/readyz` answer 503 when it sent it.
    after_not_ready: bool,
    outcome: Outcome,
}

/// Sends one review on `sender`; the whole exchange bounded.
async fn send(sender: &mut SendRequest<Full<Bytes>>, uid: &str, pinned: &str) -> Outcome {
    let review = pod_review("toms-project", uid, "default", &["marsview:latest"]);
    let rsp = match tokio::time::timeout(BOUND, sender.send_request(post("/mutate", &review))).await
    {
        Err(_) => return Outcome::Failed("no answer in time".into()),
        Ok(Err(e)) => return Outcome::Failed(format!("request failed: {e:?}")),
        Ok(Ok(rsp)) => rsp,
    };
    let status = rsp.status();
    let close = rsp
        .headers()
        .get_all(CONNECTION)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let body = match tokio::time::timeout(BOUND, rsp.into_body().collect()).await {
        Err(_) => return Outcome::Failed("body not complete in time".into()),
        Ok(Err(e)) => return Outcome::Failed(format!("body failed: {e:?}")),
        Ok(Ok(b)) => b.to_bytes(),
    };
    match check_pinned(status, &body, uid, pinned) {
        Ok(()) => Outcome::Answered { close },
        Err(why) => Outcome::Wrong(why),
    }
}

/// Kubernetes stops a webhook pod with SIGTERM while the API server keeps
/// sending it reviews over keep-alive connections. Traffic that reaches the
/// pod through a Service opens no new connection to it once it is not ready,
/// but reuses the connections it has. So after SIGTERM every answer must say
/// `Connection: close` (the client then goes elsewhere) and idle connections
/// must be closed before the listener stops: then not one request fails.
/// 8 keep-alive clients, SIGTERM mid-load, `--shutdown-delay-seconds 2`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_keep_alive_load_fails_no_request() {
    let dir = example_streams();
    let mut proc = Server::start(
        dir.path(),
        &[
            "--no-import",
            "--shutdown-delay-seconds",
            "2",
            "--audit-log",
            "/dev/null",
        ],
    );
    wait_ready(proc.admin).await;
    let pinned = example_digest("marsview.yaml", 0);
    let (addr, ca, admin) = (proc.addr, proc.ca_pem.clone(), proc.admin);

    // Readiness as the endpoints controller sees it.
    let not_ready = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (not_ready, stop) = (not_ready.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if admin_status(admin, "/readyz").await
                    == Some(hyper::StatusCode::SERVICE_UNAVAILABLE)
                {
                    not_ready.store(true, Ordering::Relaxed);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    // An idle keep-alive connection: used once, then left alone.
    let mut idle = http_open(addr, &ca).await.expect("idle connection");
    let first = send(&mut idle, "idle-first", &pinned).await;
    assert!(
        matches!(first, Outcome::Answered { close: false }),
        "{first:?}"
    );

    let mut clients = Vec::new();
    for task in 0..8 {
        let (not_ready, stop, ca, pinned) =
            (not_ready.clone(), stop.clone(), ca.clone(), pinned.clone());
        clients.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut n = 0;
            // A new connection only while the pod is ready (bounded: the
            // process exits within BOUND of the signal).
            while !stop.load(Ordering::Relaxed) && !not_ready.load(Ordering::Relaxed) {
                let mut sender = match http_open(addr, &ca).await {
                    Ok(s) => s,
                    Err(e) => {
                        samples.push(Sample {
                            after_not_ready: not_ready.load(Ordering::Relaxed),
                            outcome: Outcome::Failed(e),
                        });
                        break;
                    }
                };
                // Reused until the server says close (or closes it while idle).
                while !stop.load(Ordering::Relaxed) && sender.ready().await.is_ok() {
                    n += 1;
                    let after_not_ready = not_ready.load(Ordering::Relaxed);
                    let outcome = send(&mut sender, &format!("load-{task}-{n}"), &pinned).await;
                    let failed = !matches!(outcome, Outcome::Answered { .. });
                    samples.push(Sample {
                        after_not_ready,
                        outcome,
                    });
                    if failed {
                        break;
                    }
                }
            }
            samples
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;

    let signalled = Instant::now();
    proc.signal("TERM");

    // The idle connection is closed by the server while it still serves.
    let closed = tokio::time::timeout(BOUND, async {
        while idle.ready().await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the idle keep-alive connection was never closed"
    );
    let listener_open = TcpStream::connect(addr).await.is_ok();
    assert!(
        listener_open,
        "the idle connection was only closed when the listener stopped, {:?} after SIGTERM",
        signalled.elapsed()
    );

    let status = proc.wait_exit(BOUND).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for c in clients {
        samples.extend(
            tokio::time::timeout(BOUND, c)
                .await
                .expect("client task ends")
                .expect("client task"),
        );
    }
    let _ = poller.await;
    let status = status.expect("the process did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        not_ready.load(Ordering::Relaxed),
        "readiness never answered 503"
    );

    let failed: Vec<String> = samples
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::Answered { .. } => None,
            Outcome::Wrong(why) | Outcome::Failed(why) => Some(why.clone()),
        })
        .collect();
    let answered = samples.len() - failed.len();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        samples.len()
    );
    let kept_alive_after: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.after_not_ready && matches!(s.outcome, Outcome::Answered { close: false }))
        .collect();
    assert!(
        kept_alive_after.is_empty(),
        "{} answers sent after readiness turned 503 did not say Connection: close",
        kept_alive_after.len()
    );
    assert!(answered >= 40, "too little load: {answered} answers");
    eprintln!(
        "sigterm under keep-alive load: {answered} answered, 0 failed; exit {:?} after the signal",
        signalled.elapsed()
    );
}
