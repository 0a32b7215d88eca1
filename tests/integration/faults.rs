//! Fault tests: the real binary under the failures `failurePolicy: Fail` turns
//! into outages or into wrong answers. SIGTERM under load, stalled clients,
//! SIGKILL in the middle of directory-mode status writes, a broken stream
//! file, SubjectAccessReviews that fail or hang, an API watch that keeps
//! breaking, bodies over the size limit, and an audit log whose directory
//! disappears or whose disk fills up. Everything runs on 127.0.0.1 and every
//! wait is bounded.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::StatusCode;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::common::*;
use crate::fakeapi::FakeApi;

const HOST: &str = "image-registry.openshift-image-registry.svc:5000";

// ------------------------------------------------------------------ helpers --

/// A TLS connection to the webhook, or why not (never panics: after
/// shutdown a refused connection is an expected answer).
pub(crate) async fn tls_open(
    addr: SocketAddr,
    ca_pem: &str,
) -> Result<TlsStream<TcpStream>, String> {
    let tcp = tokio::time::timeout(BOUND, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::try_from("localhost").expect("server name");
    tokio::time::timeout(BOUND, tls_connector(ca_pem).connect(name, tcp))
        .await
        .map_err(|_| "tls handshake timed out".to_owned())?
        .map_err(|e| format!("tls handshake: {e}"))
}

/// A keep-alive HTTP/1.1 client connection over TLS.
pub(crate) async fn http_open(
    addr: SocketAddr,
    ca_pem: &str,
) -> Result<SendRequest<Full<Bytes>>, String> {
    let tls = tls_open(addr, ca_pem).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("http handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

pub(crate) fn post(path: &str, body: &Value) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            serde_json::to_vec(body).expect("json"),
        )))
        .expect("request")
}

/// Sends one request on `sender` and reads the whole answer, all bounded.
pub(crate) async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    req: hyper::Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), String> {
    let rsp = tokio::time::timeout(Duration::from_secs(5), sender.send_request(req))
        .await
        .map_err(|_| "no answer within 5 s".to_owned())?
        .map_err(|e| format!("request failed: {e:?}"))?;
    let status = rsp.status();
    let body = tokio::time::timeout(Duration::from_secs(5), rsp.into_body().collect())
        .await
        .map_err(|_| "body not complete within 5 s".to_owned())?
        .map_err(|e| format!("body failed: {e:?}"))?
        .to_bytes();
    Ok((status, body))
}

/// The status of an admin GET, or `None` when the admin listener does not answer.
pub(crate) async fn admin_status(admin: SocketAddr, path: &str) -> Option<StatusCode> {
    let stream = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(admin))
        .await
        .ok()?
        .ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .ok()?;
    let rsp = tokio::time::timeout(Duration::from_secs(2), sender.send_request(req))
        .await
        .ok()?
        .ok()?;
    Some(rsp.status())
}

pub(crate) async fn admin_text(admin: SocketAddr, path: &str) -> String {
    let stream = TcpStream::connect(admin).await.expect("connect admin");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let rsp = tokio::time::timeout(BOUND, sender.send_request(req))
        .await
        .expect("admin answers in time")
        .expect("admin answers");
    let body = rsp.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

pub(crate) async fn wait_ready(admin: SocketAddr) {
    let deadline = Instant::now() + BOUND;
    while admin_status(admin, "/readyz").await != Some(StatusCode::OK) {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Pod review with its own uid.
pub(crate) fn pod_review(ns: &str, uid: &str, sa: &str, images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    let obj = object(
        "Pod",
        ns,
        "p",
        json!({"serviceAccountName": sa, "containers": containers}),
    );
    let mut review = admission_review("CREATE", &obj, None);
    review["request"]["uid"] = json!(uid);
    review
}

/// Checks a `/mutate` answer that should pin container 0 to `pinned`; the reason when not.
pub(crate) fn check_pinned(
    status: StatusCode,
    body: &[u8],
    uid: &str,
    pinned: &str,
) -> Result<(), String> {
    if status != StatusCode::OK {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(body)));
    }
    let rsp: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let r = &rsp["response"];
    if r["uid"] != uid || r["allowed"] != true {
        return Err(format!("wrong answer for {uid}: {rsp}"));
    }
    let want = vec![json!({"op": "replace", "path": "/spec/containers/0/image", "value": pinned})];
    if patch_of(&rsp) != want {
        return Err(format!("wrong patch for {uid}: {:?}", patch_of(&rsp)));
    }
    Ok(())
}

/// A `/mutate` of a fresh pod (uid "after") still pins marsview:latest to
/// `pinned`: the server survived what the test did to it.
async fn assert_still_pins(server: &Server, pinned: &str, what: &str) {
    let review = pod_review("toms-project", "after", "default", &["marsview:latest"]);
    let (status, body) = server
        .post("/mutate", serde_json::to_vec(&review).expect("json"))
        .await;
    check_pinned(status, &body, "after", pinned).expect(what);
}

/// A small deterministic PRNG (xorshift64*): no extra dependency, and the seed
/// is printed so that a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("FAULTS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
            | 1;
        eprintln!("faults: random seed {seed} (set FAULTS_SEED to replay)");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, max).
    fn below(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos().max(1) as u64;
        Duration::from_nanos(self.next() % nanos)
    }
}

// ------------------------------------------------------- 1. SIGTERM under load --

#[derive(Debug)]
enum Outcome {
    /// A 200 with the right review.
    Answered,
    /// An answer, but not the right one.
    Wrong(String),
    /// No answer: the request failed on the connection, or no connection.
    Failed(String),
}

#[derive(Debug)]
struct Sample {
    started: Instant,
    outcome: Outcome,
}

/// Kubernetes stops a webhook pod with SIGTERM while the API server is still
/// sending it reviews. With `--shutdown-delay-seconds 1`: readiness turns 503
/// at once while the listener keeps serving (so the endpoints controller can
/// take the pod out of the Service), then open requests are finished, and the
/// process exits 0. An in-flight request is never cut off. These clients
/// reconnect whatever readiness says, so after the delay their connection
/// attempts fail; that clients that follow readiness see no failure at all is
/// `reliability::sigterm_under_keep_alive_load_fails_no_request`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_every_accepted_request_and_exits_zero() {
    let dir = example_streams();
    let mut proc = Server::start(
        dir.path(),
        &[
            "--no-import",
            "--shutdown-delay-seconds",
            "1",
            "--audit-log",
            "/dev/null",
        ],
    );
    wait_ready(proc.admin).await;
    let pinned = example_digest("marsview.yaml", 0);
    let (addr, ca) = (proc.addr, proc.ca_pem.clone());

    // One request stays in flight across the whole shutdown: its head and half
    // its body are sent now, the rest only after the listener has closed.
    let slow_body = serde_json::to_vec(&pod_review(
        "toms-project",
        "in-flight",
        "default",
        &["marsview:latest"],
    ))
    .expect("json");
    let mut slow = tls_open(addr, &ca).await.expect("slow connection");
    let head = format!(
        "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        slow_body.len()
    );
    let half = slow_body.len() / 2;
    slow.write_all(head.as_bytes()).await.expect("write head");
    slow.write_all(&slow_body[..half])
        .await
        .expect("write half");
    slow.flush().await.expect("flush");

    // 8 clients, each looping over its keep-alive connection (a new one when it closes).
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for task in 0..8 {
        let (samples, stop, ca, pinned) =
            (samples.clone(), stop.clone(), ca.clone(), pinned.clone());
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            let record = |started, outcome| {
                samples
                    .lock()
                    .expect("samples")
                    .push(Sample { started, outcome });
            };
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let mut sender = match http_open(addr, &ca).await {
                    Ok(s) => s,
                    Err(e) => {
                        record(started, Outcome::Failed(e));
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                while !stop.load(Ordering::Relaxed) && sender.ready().await.is_ok() {
                    n += 1;
                    let uid = format!("load-{task}-{n}");
                    let review = pod_review("toms-project", &uid, "default", &["marsview:latest"]);
                    let started = Instant::now();
                    match exchange(&mut sender, post("/mutate", &review)).await {
                        Ok((status, body)) => match check_pinned(status, &body, &uid, &pinned) {
                            Ok(()) => record(started, Outcome::Answered),
                            Err(e) => record(started, Outcome::Wrong(e)),
                        },
                        Err(e) => {
                            record(started, Outcome::Failed(e));
                            break;
                        }
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;

    let signalled = Instant::now();
    proc.signal("TERM");

    // Readiness turns off while the listener still serves new connections.
    let ready_off = loop {
        if admin_status(proc.admin, "/readyz").await == Some(StatusCode::SERVICE_UNAVAILABLE) {
            break Instant::now();
        }
        assert!(
            signalled.elapsed() < BOUND,
            "readiness never turned 503 after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut fresh = http_open(addr, &ca)
        .await
        .expect("the listener still accepts after readiness turned off");
    let review = pod_review(
        "toms-project",
        "after-readyz",
        "default",
        &["marsview:latest"],
    );
    let (status, body) = exchange(&mut fresh, post("/mutate", &review))
        .await
        .expect("answered while not ready");
    check_pinned(status, &body, "after-readyz", &pinned).expect("right answer while not ready");
    drop(fresh);

    // Then the listener closes (after the delay, not before).
    let closed = loop {
        if TcpStream::connect(addr).await.is_err() {
            break Instant::now();
        }
        assert!(signalled.elapsed() < BOUND, "the listener never closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        ready_off < closed,
        "readiness must turn off before the listener closes"
    );
    assert!(
        closed - signalled >= Duration::from_millis(900),
        "the listener closed {:?} after SIGTERM, before --shutdown-delay-seconds 1",
        closed - signalled
    );

    // The request in flight since before the signal is still answered.
    tokio::time::sleep(Duration::from_millis(100)).await;
    slow.write_all(&slow_body[half..])
        .await
        .expect("the in-flight connection is still open after the listener closed");
    slow.flush().await.expect("flush");
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "in-flight request not answered within 5 s");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("in-flight request got no HTTP answer: {text:?} ({read:?})"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    check_pinned(StatusCode::OK, body.as_bytes(), "in-flight", &pinned)
        .expect("in-flight request answered right");

    let status = proc.wait_exit(BOUND).await;
    let exited = signalled.elapsed();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        tokio::time::timeout(BOUND, c)
            .await
            .expect("client task ends")
            .expect("client task");
    }
    let status = status.expect("the process did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(exited < Duration::from_secs(6), "exit took {exited:?}");

    let samples = samples.lock().expect("samples");
    let wrong: Vec<&str> = samples
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::Wrong(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    assert!(wrong.is_empty(), "wrong answers: {wrong:?}");
    // Sent before the signal, or while the listener was still serving normally: answered.
    let serving_until = signalled + Duration::from_millis(700);
    let lost: Vec<String> = samples
        .iter()
        .filter(|s| s.started < serving_until)
        .filter_map(|s| match &s.outcome {
            Outcome::Answered => None,
            Outcome::Wrong(why) | Outcome::Failed(why) => Some(format!(
                "{:?} after the signal: {why}",
                s.started.saturating_duration_since(signalled)
            )),
        })
        .collect();
    assert!(
        lost.is_empty(),
        "requests sent while serving got no answer: {lost:?}"
    );
    let before = samples
        .iter()
        .filter(|s| s.started < signalled && matches!(s.outcome, Outcome::Answered))
        .count();
    let during = samples
        .iter()
        .filter(|s| s.started >= signalled && matches!(s.outcome, Outcome::Answered))
        .count();
    assert!(before >= 40, "too little load before SIGTERM: {before}");
    assert!(during >= 8, "too little load during the delay: {during}");
    eprintln!(
        "sigterm: {before} answered before the signal, {during} after; readiness off {:?}, listener closed {:?}, exit {:?} after it",
        ready_off - signalled,
        closed - signalled,
        exited
    );
}

// ----------------------------------------------- 2. 200 stalled connections --

const PARTIAL_HEAD: &[u8] = b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Ty";

/// Waits (bounded by `deadline`) for the server to close `stream`; how long after `since`.
async fn closed_by_server(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    since: Instant,
    deadline: Instant,
) -> Option<Duration> {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            // Whatever the server says before closing (a 408, say) is fine.
            Ok(Ok(_)) => continue,
        }
    }
}

/// 200 clients that finish TLS and then stall in their request head, and 50
/// that never start TLS, must not slow down anyone else, and the stalled
/// heads are dropped after `--header-timeout-seconds`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_neither_delay_others_nor_stay_open() {
    let dir = example_streams();
    let server = Server::start(
        dir.path(),
        &[
            "--no-import",
            "--header-timeout-seconds",
            "2",
            "--audit-log",
            "/dev/null",
        ],
    );
    let pinned = example_digest("marsview.yaml", 0);
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (addr, ca) = (server.addr, server.ca_pem.clone());
        opening.spawn(async move {
            let mut tls = tls_open(addr, &ca)
                .await
                .expect("stalled client's handshake");
            tls.write_all(PARTIAL_HEAD).await.expect("partial head");
            tls.flush().await.expect("flush");
            (tls, Instant::now())
        });
    }
    let mut stalled = Vec::new();
    while let Some(joined) = opening.join_next().await {
        stalled.push(joined.expect("open task"));
    }

    // A normal client, while 250 connections stall: every answer well within 2 s.
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let uid = format!("normal-{i}");
        let started = Instant::now();
        let (status, body) = tokio::time::timeout(
            Duration::from_secs(2),
            server.post(
                "/mutate",
                serde_json::to_vec(&pod_review(
                    "toms-project",
                    &uid,
                    "default",
                    &["marsview:latest"],
                ))
                .expect("json"),
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("request {i} not answered within 2 s while others stall"));
        check_pinned(status, &body, &uid, &pinned).expect("right answer");
        slowest = slowest.max(started.elapsed());
    }

    // The server closes each stalled head after the header timeout (2 s), not much later.
    let mut closing = tokio::task::JoinSet::new();
    for (mut tls, sent) in stalled {
        closing.spawn(async move {
            closed_by_server(&mut tls, sent, sent + Duration::from_secs(6)).await
        });
    }
    let mut after = Vec::new();
    while let Some(joined) = closing.join_next().await {
        after.push(joined.expect("close task"));
    }
    let still_open = after.iter().filter(|a| a.is_none()).count();
    assert_eq!(still_open, 0, "stalled heads still open 6 s later");
    let first = after.iter().flatten().min().copied().unwrap_or_default();
    let last = after.iter().flatten().max().copied().unwrap_or_default();
    assert!(
        first >= Duration::from_millis(1200),
        "a stalled head was dropped after {first:?}, before the 2 s header timeout"
    );

    // Still serving, and healthy.
    assert_still_pins(&server, &pinned, "right answer after the stall").await;
    assert_eq!(server.admin_get("/healthz").await.0, 200);
    drop(silent);
    eprintln!(
        "stalled: slowest normal request {slowest:?}; stalled heads closed after {first:?}..{last:?}"
    );
}

/// A client that connects and never starts TLS has not finished its request
/// head within `--header-timeout-seconds` either, so it should be dropped as
/// soon; otherwise slots (--max 4096 connections) are held for the fixed
/// 10 s TLS handshake timeout whatever the flag says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_start_tls_are_dropped_after_the_header_timeout() {
    let dir = example_streams();
    let server = Server::start(
        dir.path(),
        &[
            "--no-import",
            "--header-timeout-seconds",
            "2",
            "--audit-log",
            "/dev/null",
        ],
    );
    let mut closing = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let since = Instant::now();
        closing.spawn(async move {
            closed_by_server(&mut tcp, since, since + Duration::from_secs(4)).await
        });
    }
    let mut after = Vec::new();
    while let Some(joined) = closing.join_next().await {
        after.push(joined.expect("task"));
    }
    assert!(
        after.iter().all(Option::is_some),
        "connections without a TLS handshake still open 4 s after connecting with --header-timeout-seconds 2: {} of 50",
        after.iter().filter(|a| a.is_none()).count()
    );
}

// ---------------------------- 3. SIGKILL during directory-mode status writes --

/// A stream file big enough that reading, editing, checking and writing it
/// takes a while: `tags` spec tags with a history item each, between another
/// document before and after, with comments.
fn big_stream_file(tags: usize) -> String {
    let mut s = String::from(
        "# Streams of the soak namespace; this comment must survive every write.\n\
         apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: small\n  namespace: toms-project\n\
         spec:\n  lookupPolicy:\n    local: true\n---\n# The big one.\n\
         apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: big\n  namespace: toms-project\n\
         spec:\n  lookupPolicy:\n    local: true\n  tags:\n",
    );
    for i in 0..tags {
        s.push_str(&format!(
            "  - name: t{i}\n    from:\n      kind: DockerImage\n      name: 127.0.0.1:1/big/app:t{i}\n"
        ));
    }
    s.push_str("status:\n  dockerImageRepository: image-registry.openshift-image-registry.svc:5000/toms-project/big\n  tags:\n");
    for i in 0..tags {
        s.push_str(&format!(
            "  - tag: t{i}\n    items:\n    - created: \"2026-11-26T17:00:00Z\"\n      dockerImageReference: 127.0.0.1:1/big/app@sha256:{i:064x}\n      image: sha256:{i:064x}\n      generation: 1\n"
        ));
    }
    s.push_str("---\n# Trailing document.\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: trailing\n  namespace: toms-project\nrules: []\n");
    s
}

/// The one field a status write sets from the clock.
fn without_clock(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("lastTransitionTime:") {
            Some(at) => format!("{}lastTransitionTime: <now>", &l[..at]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn import_image(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--streams-dir")
        .arg(dir)
        .args(["-n", "toms-project", "import-image", "big:t0"])
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn review_loads(dir: &Path) -> Result<(), String> {
    // Input without a manifest is bad input of its own: review one that needs nothing.
    let manifest = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(
        manifest.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    )
    .expect("write manifest");
    let out = Command::new(BIN)
        .arg("review")
        .arg("--streams-dir")
        .arg(dir)
        .arg("-f")
        .arg(manifest.path())
        .stdin(Stdio::null())
        .output()
        .expect("run review");
    match out.status.code() {
        Some(0) => Ok(()),
        code => Err(format!(
            "review exit {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// The hidden temporary files of writes in `dir`.
fn temp_files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with('.') && name.ends_with(".tmp")
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// `import-image` against a registry that is not there still writes a status
/// condition into the stream's file. Killed with SIGKILL at a random point, 50
/// times, the file is always exactly the old or the new content: never torn,
/// never empty, and no temporary file is left where the directory poller
/// would read it as a stream file. Half the kills land anywhere in the run;
/// the other half are aimed at the write itself (a few milliseconds of it):
/// they wait for the temporary file to appear, then kill within 2 ms.
#[test]
fn sigkill_during_directory_status_writes_never_tears_the_file() {
    let old = big_stream_file(150);
    let parsed: Vec<Value> = serde_saphyr::from_multiple(&old).expect("old file parses");
    assert_eq!(parsed.len(), 3);

    // One full run tells the new content and how long a run takes.
    let reference = tempfile::tempdir().expect("tempdir");
    let file = reference.path().join("big.yaml");
    std::fs::write(&file, &old).expect("write");
    let started = Instant::now();
    let status = import_image(reference.path())
        .status()
        .expect("run import-image");
    let full_run = started.elapsed();
    assert_eq!(
        status.code(),
        Some(1),
        "the import fails: no registry there"
    );
    let new = std::fs::read_to_string(&file).expect("read");
    assert_ne!(new, old, "a failed import writes its condition");
    assert!(
        new.contains("ImportSuccess"),
        "{}",
        &new[new.len() - 2000..]
    );
    let docs: Vec<Value> = serde_saphyr::from_multiple(&new).expect("new file parses");
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0], parsed[0]);
    assert_eq!(docs[2], parsed[2]);
    assert_eq!(docs[1]["spec"], parsed[1]["spec"]);
    assert!(new.starts_with("# Streams of the soak namespace"));
    let new_norm = without_clock(&new);

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.yaml");
    let mut rng = Rng::seeded();
    let (mut kept_old, mut got_new, mut mid_write, mut left) = (0, 0, 0, 0);
    for round in 0..50 {
        // What a kill left behind is hidden, so harmless; cleared so the next write's shows.
        for temp in temp_files_in(dir.path()) {
            std::fs::remove_file(temp).expect("remove temporary file");
            left += 1;
        }
        std::fs::write(&file, &old).expect("reset file");
        let mut child = import_image(dir.path()).spawn().expect("spawn");
        if round % 2 == 0 {
            // Anywhere in the run, or a little after it.
            std::thread::sleep(rng.below(full_run + full_run / 4));
        } else {
            // Aimed at the write: from the temporary file's creation to its rename.
            let deadline = Instant::now() + BOUND;
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                if !temp_files_in(dir.path()).is_empty() {
                    std::thread::sleep(rng.below(Duration::from_millis(2)));
                    mid_write += usize::from(!temp_files_in(dir.path()).is_empty());
                    break;
                }
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        let _ = child.kill();
        let _ = child.wait();

        let now = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("round {round}: the stream file is gone: {e}"));
        assert!(!now.is_empty(), "round {round}: the stream file is empty");
        if now == old {
            kept_old += 1;
        } else if without_clock(&now) == new_norm {
            got_new += 1;
        } else {
            panic!(
                "round {round}: the file is neither the old nor the new content ({} bytes; old {}, new {})",
                now.len(),
                old.len(),
                new.len()
            );
        }
        for entry in std::fs::read_dir(dir.path()).expect("list") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            assert!(
                name.starts_with('.') || name == "big.yaml",
                "round {round}: {name} was left where the poller reads it"
            );
        }
        if round % 10 == 9 {
            review_loads(dir.path())
                .unwrap_or_else(|e| panic!("round {round}: the directory no longer loads: {e}"));
        }
    }
    left += temp_files_in(dir.path()).len();
    eprintln!(
        "sigkill: full run {full_run:?}; 50 kills: {kept_old} kept the old file, {got_new} had the new one; {mid_write} killed with the temporary file written but not renamed; {left} hidden temporary files left"
    );
    assert!(
        kept_old > 0 && got_new > 0,
        "the kills never landed on one side: {kept_old} old, {got_new} new"
    );
    assert!(mid_write > 0, "no kill landed inside a write");
}

// ---------------------------------- 4. a broken file keeps the last snapshot --

/// A stream file replaced by garbage (a bad editor save, a half-synced Git
/// checkout) keeps its last good content in force: admission keeps pinning the
/// last good digests, readiness stays on, the error is counted; the next good
/// version of the file is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_stream_file_keeps_the_last_good_snapshot() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &["--no-import", "--audit-log", "/dev/null"]);
    let latest = example_digest("marsview.yaml", 0);
    let one = example_digest("marsview.yaml", 2);
    let file = dir.path().join("marsview.yaml");
    let good = std::fs::read_to_string(&file).expect("read");

    let pin = |image: &'static str| {
        let server = &server;
        async move {
            let rsp = server
                .review(
                    "/mutate",
                    &pod_review("toms-project", "u", "default", &[image]),
                )
                .await;
            assert_eq!(rsp["response"]["allowed"], true, "{rsp}");
            patch_of(&rsp)
                .first()
                .and_then(|p| p["value"].as_str())
                .map(str::to_owned)
        }
    };
    let wait_errors = |n: f64| {
        let admin = server.admin;
        async move {
            let deadline = Instant::now() + BOUND;
            loop {
                let text = admin_text(admin, "/metrics").await;
                if metric(&text, "imagestream_webhook_directory_reload_errors_total") >= n {
                    return text;
                }
                assert!(
                    Instant::now() < deadline,
                    "reload error {n} not counted: {text}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(
        pin("marsview:latest").await.as_deref(),
        Some(latest.as_str())
    );

    let garbage: [&[u8]; 3] = [
        b"kind: [broken",
        b"\xff\xfe\x00 not even UTF-8 \x80\x81",
        // Valid YAML, but not what a stream is: the typed parse fails.
        b"apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: marsview, namespace: toms-project}\nspec: {tags: 7}\n",
    ];
    for (i, junk) in garbage.iter().enumerate() {
        std::fs::write(&file, junk).expect("break the file");
        let metrics = wait_errors((i + 1) as f64).await;
        assert!(
            metrics.contains("imagestream_webhook_streams 3"),
            "{metrics}"
        );
        assert_eq!(
            pin("marsview:latest").await.as_deref(),
            Some(latest.as_str()),
            "garbage {i}: the last good digest stays in force"
        );
        assert_eq!(pin("marsview:1.0").await.as_deref(), Some(one.as_str()));
        assert_eq!(server.admin_get("/readyz").await.0, 200);
    }

    // Fixed, with `latest` moved: the new content applies.
    let moved = "sha256:7777777777777777777777777777777777777777777777777777777777777777";
    std::fs::write(
        &file,
        good.replacen(
            "sha256:96eb1912832ca200ad10328de66a50ffff61d79b9baa9b07f102133ddcb5c7af",
            moved,
            2,
        ),
    )
    .expect("fix the file");
    let want = format!("registry.marsrover.space/engine/marsview@{moved}");
    let deadline = Instant::now() + BOUND;
    while pin("marsview:latest").await.as_deref() != Some(want.as_str()) {
        assert!(Instant::now() < deadline, "the fixed file was not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// -------------------------------- a fault-injecting proxy in front of FakeApi --

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SarMode {
    Pass,
    /// Answer every SubjectAccessReview with 500.
    Error,
    /// Hold every SubjectAccessReview this long before passing it on.
    Hang(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WatchMode {
    Pass,
    /// Every ImageStream watch answers one `ERROR 410 Gone` event and ends.
    Gone,
    /// Every ImageStream watch ends at once, with no event.
    CloseAtOnce,
}

#[derive(Clone)]
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    modes: Arc<Mutex<(SarMode, WatchMode)>>,
    sars: Arc<AtomicUsize>,
    watches: Arc<AtomicUsize>,
    lists: Arc<AtomicUsize>,
}

const SAR_PATH: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
const STREAMS_PATH: &str = "/apis/image.openshift.io/v1/imagestreams";

impl Proxy {
    /// Forwards everything to `api` but what the modes say to break.
    async fn start(api: &FakeApi) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let proxy = Proxy {
            addr: listener.local_addr().expect("addr"),
            upstream: api.addr,
            modes: Arc::new(Mutex::new((SarMode::Pass, WatchMode::Pass))),
            sars: Arc::default(),
            watches: Arc::default(),
            lists: Arc::default(),
        };
        let app = Router::new()
            .fallback(proxy_handle)
            .with_state(proxy.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        proxy
    }

    fn set_sar(&self, mode: SarMode) {
        self.modes.lock().expect("modes").0 = mode;
    }

    fn set_watch(&self, mode: WatchMode) {
        self.modes.lock().expect("modes").1 = mode;
    }

    /// A kubeconfig that sends the client through this proxy.
    fn kubeconfig(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"http://{}\"}}\nusers:\n- name: tester\n  user: {{token: not-a-secret}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: tester}}\ncurrent-context: fake\n",
            self.addr
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

fn api_status(code: u16, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": "InternalError", "code": code});
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn proxy_handle(State(p): State<Proxy>, req: axum::extract::Request) -> Response {
    let (sar, watch) = *p.modes.lock().expect("modes");
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    if path == SAR_PATH {
        p.sars.fetch_add(1, Ordering::Relaxed);
        match sar {
            SarMode::Pass => {}
            SarMode::Error => return api_status(500, "etcdserver: request timed out"),
            SarMode::Hang(d) => tokio::time::sleep(d).await,
        }
    }
    if path == STREAMS_PATH {
        if query.contains("watch=true") || query.contains("watch=1") {
            p.watches.fetch_add(1, Ordering::Relaxed);
            let gone = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410}});
            match watch {
                WatchMode::Pass => {}
                WatchMode::Gone => {
                    return (
                        [(header::CONTENT_TYPE, "application/json")],
                        format!("{gone}\n"),
                    )
                        .into_response();
                }
                WatchMode::CloseAtOnce => {
                    return ([(header::CONTENT_TYPE, "application/json")], "").into_response();
                }
            }
        } else if !query.contains("limit=1") {
            p.lists.fetch_add(1, Ordering::Relaxed);
        }
    }
    forward(p.upstream, req).await
}

async fn forward(upstream: SocketAddr, req: axum::extract::Request) -> Response {
    let Ok(tcp) = TcpStream::connect(upstream).await else {
        return api_status(502, "proxy: upstream unreachable");
    };
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
    else {
        return api_status(502, "proxy: upstream handshake failed");
    };
    tokio::spawn(conn);
    match sender.send_request(req).await {
        Ok(rsp) => rsp.map(Body::new).into_response(),
        Err(e) => api_status(502, &format!("proxy: {e}")),
    }
}

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

/// A stream as the API server returns it; its source is on 127.0.0.1 so that
/// an import, should one start, never leaves the machine.
fn api_stream(ns: &str, name: &str, local: bool, d: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": "2026-11-26T17:00:00Z", "generation": 1},
        "spec": {"lookupPolicy": {"local": local}, "tags": [{"name": "latest", "annotations": null,
            "from": {"kind": "DockerImage", "name": format!("127.0.0.1:1/{ns}/{name}:latest")},
            "generation": 1, "importPolicy": {}, "referencePolicy": {"type": "Source"}}]},
        "status": {"dockerImageRepository": format!("{HOST}/{ns}/{name}"), "tags": [{"tag": "latest", "items": [
            {"created": "2026-11-26T17:00:00Z", "dockerImageReference": format!("127.0.0.1:1/{ns}/{name}@{d}"), "image": d, "generation": 1}]}]}
    })
}

// ------------------------- 5. SubjectAccessReview errors and timeouts deny --

fn denial_message(rsp: &Value) -> String {
    assert_eq!(rsp["response"]["allowed"], false, "never allowed: {rsp}");
    assert_eq!(rsp["response"]["status"]["code"], 403, "{rsp}");
    assert!(rsp["response"].get("patch").is_none(), "{rsp}");
    rsp["response"]["status"]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

/// In cluster mode, whether a pod may use another namespace's stream is the
/// API server's answer to a SubjectAccessReview. When that answer does not
/// come (500s, or no answer within `accessCheck.timeoutSeconds`), the review
/// is denied and says so, even though RBAC would allow it: failing open would
/// let a forbidden image through during any API trouble. A failure is not
/// cached: once the API answers again, the same request is allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_access_review_errors_and_timeouts_deny_with_the_reason() {
    let api = FakeApi::start().await;
    api.put_stream(api_stream("shared", "base", false, &digest(5)));
    api.put_stream(api_stream("team", "app", true, &digest(1)));
    for sa in ["builder", "tester"] {
        api.allow(
            &format!("system:serviceaccount:team:{sa}"),
            "shared",
            "base",
        );
    }
    let proxy = Proxy::start(&api).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("config.yaml");
    std::fs::write(
        &config,
        "accessCheck:\n  timeoutSeconds: 1\n  allowedTtlSeconds: 300\n  deniedTtlSeconds: 30\n",
    )
    .expect("config");
    let server = Server::start_cluster(
        &proxy.kubeconfig(tmp.path()),
        &[
            "--config",
            config.to_str().expect("path"),
            "--audit-log",
            "/dev/null",
        ],
    );
    wait_ready(server.admin).await;
    let base = format!("{HOST}/shared/base:latest");
    let pinned = format!("127.0.0.1:1/shared/base@{}", digest(5));

    // 500s: denied on both endpoints, dry run too, with the reason.
    proxy.set_sar(SarMode::Error);
    for endpoint in ["/mutate", "/validate"] {
        for dry in [false, true] {
            let mut review = pod_review("team", "e", "builder", &["app:latest", &base]);
            review["request"]["dryRun"] = json!(dry);
            let msg = denial_message(&server.review(endpoint, &review).await);
            for want in [
                "container \"c1\"",
                "service account team/builder may not use imagestream shared/base",
                "access check failed",
                "500",
            ] {
                assert!(
                    msg.contains(want),
                    "{endpoint} dryRun={dry}: missing {want:?}: {msg}"
                );
            }
            // /validate sees the unmutated object, where the short name is (rightly) refused too.
            if endpoint == "/mutate" {
                assert!(
                    !msg.contains("container \"c0\""),
                    "same-namespace image is fine: {msg}"
                );
            }
        }
    }
    // Not cached: the API answers again, and the same request is allowed.
    proxy.set_sar(SarMode::Pass);
    let rsp = server
        .review("/mutate", &pod_review("team", "ok", "builder", &[&base]))
        .await;
    assert_eq!(rsp["response"]["allowed"], true, "{rsp}");
    assert_eq!(patch_of(&rsp)[0]["value"], pinned);

    // Hanging longer than the timeout: denied after about the timeout, never allowed,
    // and concurrent reviews of the same pair all get the denial.
    proxy.set_sar(SarMode::Hang(Duration::from_secs(4)));
    let started = Instant::now();
    let mut hung = Vec::new();
    for i in 0..4 {
        let (addr, ca) = (server.addr, server.ca_pem.clone());
        let review = pod_review("team", &format!("h{i}"), "tester", &[&base]);
        hung.push(tokio::spawn(async move {
            let body = serde_json::to_vec(&review).expect("json");
            let (status, body) = request(addr, &ca, "POST", "/mutate", body.into()).await;
            assert_eq!(status, 200);
            (
                serde_json::from_slice::<Value>(&body).expect("json"),
                Instant::now(),
            )
        }));
    }
    for h in hung {
        let (rsp, at) = h.await.expect("task");
        let msg = denial_message(&rsp);
        assert!(msg.contains("access check failed"), "{msg}");
        assert!(msg.contains("timed out after 1s"), "{msg}");
        assert!(
            at - started < Duration::from_millis(3500),
            "answered {:?} after the request: the access-check timeout is 1 s",
            at - started
        );
    }
    let msg = denial_message(
        &server
            .review("/validate", &pod_review("team", "hv", "tester", &[&base]))
            .await,
    );
    assert!(msg.contains("access check failed"), "{msg}");

    let metrics = admin_text(server.admin, "/metrics").await;
    assert!(
        metric(
            &metrics,
            r#"imagestream_webhook_access_checks_total{result="denied",source="api"}"#
        ) >= 1.0,
        "{metrics}"
    );
    assert!(proxy.sars.load(Ordering::Relaxed) >= 3);
}

// ------------------ 6. a broken API watch keeps serving the last snapshot --

/// The watch of ImageStreams breaks in every way it can at once: the API
/// server expires it with `410 Gone` over and over, then every new watch is
/// answered with a 410 at once, then every watch ends as soon as it starts.
/// Meanwhile admission answers from the last snapshot, with bounded latency,
/// and readiness stays on; 410s are retried with backoff instead of
/// hammering the API server (watches that end at once are not: see
/// `watches_that_end_at_once_are_retried_with_backoff`); when the API heals,
/// changes flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_storm_keeps_serving_the_last_snapshot_with_bounded_latency() {
    let api = FakeApi::start().await;
    api.put_stream(api_stream("team", "app", true, &digest(1)));
    let proxy = Proxy::start(&api).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_cluster(
        &proxy.kubeconfig(tmp.path()),
        &["--no-import", "--audit-log", "/dev/null"],
    );
    wait_ready(server.admin).await;
    let app1 = format!("127.0.0.1:1/team/app@{}", digest(1));
    let (addr, ca) = (server.addr, server.ca_pem.clone());

    // Runs admission for `span`; every answer pins `want`, each within 2 s.
    let serve_through = |span: Duration, want: String| {
        let ca = ca.clone();
        async move {
            let end = Instant::now() + span;
            let (mut n, mut slowest) = (0, Duration::ZERO);
            let mut sender = http_open(addr, &ca).await.expect("connect");
            while Instant::now() < end {
                n += 1;
                let uid = format!("storm-{n}");
                let started = Instant::now();
                let (status, body) = tokio::time::timeout(
                    Duration::from_secs(2),
                    exchange(
                        &mut sender,
                        post("/mutate", &pod_review("team", &uid, "default", &["app"])),
                    ),
                )
                .await
                .expect("answered within 2 s during the storm")
                .expect("answered");
                check_pinned(status, &body, &uid, &want).expect("the last snapshot answers");
                slowest = slowest.max(started.elapsed());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (n, slowest)
        }
    };

    // The API server expires every watch, every 20 ms.
    let storm = {
        let api = api.clone();
        tokio::spawn(async move {
            let end = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < end {
                api.expire_watches();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let (n1, slow1) = serve_through(Duration::from_millis(1500), app1.clone()).await;
    storm.await.expect("storm");

    // Every new watch is a 410 at once.
    proxy.set_watch(WatchMode::Gone);
    let w0 = proxy.watches.load(Ordering::Relaxed);
    let l0 = proxy.lists.load(Ordering::Relaxed);
    let (n2, slow2) = serve_through(Duration::from_millis(1500), app1.clone()).await;
    let gone_watches = proxy.watches.load(Ordering::Relaxed) - w0;
    let gone_lists = proxy.lists.load(Ordering::Relaxed) - l0;

    // Every new watch ends at once.
    proxy.set_watch(WatchMode::CloseAtOnce);
    let w1 = proxy.watches.load(Ordering::Relaxed);
    let (n3, slow3) = serve_through(Duration::from_millis(1000), app1.clone()).await;
    let closing_watches = proxy.watches.load(Ordering::Relaxed) - w1;

    assert_eq!(
        server.admin_get("/readyz").await.0,
        200,
        "the snapshot is still good"
    );
    let metrics = admin_text(server.admin, "/metrics").await;
    assert!(
        metric(&metrics, "imagestream_webhook_watch_errors_total") >= 1.0,
        "{metrics}"
    );
    eprintln!(
        "410 storm: {n1}+{n2}+{n3} reviews, slowest {slow1:?}/{slow2:?}/{slow3:?}; 1.5 s of 410 watches: {gone_watches} watches, {gone_lists} lists; 1 s of closing watches: {closing_watches} watches"
    );
    // Backoff: a few re-lists a second at most, not a hot loop against the API server.
    assert!(
        gone_watches <= 20 && gone_lists <= 20,
        "1.5 s of 410 answers drew {gone_watches} watches and {gone_lists} lists"
    );

    // Healed: a change flows again.
    proxy.set_watch(WatchMode::Pass);
    api.put_stream(api_stream("team", "app", true, &digest(2)));
    let app2 = format!("127.0.0.1:1/team/app@{}", digest(2));
    let healing = Instant::now();
    let deadline = healing + Duration::from_secs(20);
    loop {
        let rsp = server
            .review(
                "/mutate",
                &pod_review("team", "healed", "default", &["app"]),
            )
            .await;
        if patch_of(&rsp).first().and_then(|p| p["value"].as_str()) == Some(app2.as_str()) {
            eprintln!(
                "410 storm: changes flow again {:?} after healing",
                healing.elapsed()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "changes never flowed again after the storm"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A watch that the API server (or a proxy in front of it) ends as soon as it
/// starts, over and over, must not turn the client into a hot loop against
/// the API server: client-go treats a watch that ends within a second with
/// no event as an error and backs off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_that_end_at_once_are_retried_with_backoff() {
    let api = FakeApi::start().await;
    api.put_stream(api_stream("team", "app", true, &digest(1)));
    let proxy = Proxy::start(&api).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_cluster(
        &proxy.kubeconfig(tmp.path()),
        &["--no-import", "--audit-log", "/dev/null"],
    );
    wait_ready(server.admin).await;
    proxy.set_watch(WatchMode::CloseAtOnce);
    // Let the watch in progress notice (it ends when the next one starts).
    api.expire_watches();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let w0 = proxy.watches.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let watches = proxy.watches.load(Ordering::Relaxed) - w0;
    let rsp = server
        .review("/mutate", &pod_review("team", "u", "default", &["app"]))
        .await;
    assert_eq!(
        patch_of(&rsp)[0]["value"],
        format!("127.0.0.1:1/team/app@{}", digest(1))
    );
    assert!(
        watches <= 20,
        "watches that end at once were re-opened {watches} times in 2 s"
    );
}

// ------------------------------------------- 7. bodies over the size limit --

/// Everything the server sends on `tls` until it closes the connection, while
/// `body` is written to it (in 64 KiB pieces, then the write side is shut);
/// the reason when the connection ends in anything but a clean close, or
/// the writes fail.
async fn exchange_raw(
    tls: TlsStream<TcpStream>,
    head: String,
    body: Vec<u8>,
) -> Result<String, String> {
    let (mut rd, mut wr) = tokio::io::split(tls);
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        for piece in body.chunks(64 * 1024) {
            wr.write_all(piece).await?;
        }
        wr.flush().await?;
        wr.shutdown().await
    });
    let mut raw = Vec::new();
    let read = tokio::time::timeout(BOUND, rd.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    match read {
        Err(_) => return Err(format!("no close within {BOUND:?}; got {text:?}")),
        Ok(Err(e)) => return Err(format!("connection broken ({e}) after {text:?}")),
        Ok(Ok(_)) => {}
    }
    match tokio::time::timeout(BOUND, writer).await {
        Err(_) => Err("the body was not taken within the bound".into()),
        Ok(Ok(Ok(()))) => Ok(text),
        Ok(Ok(Err(e))) => Err(format!("sending the body failed ({e}) after {text:?}")),
        Ok(Err(e)) => Err(format!("writer task: {e}")),
    }
}

/// The status line and head of the first answer in `raw`.
fn first_head(raw: &str) -> &str {
    raw.split("\r\n\r\n").next().unwrap_or_default()
}

/// A request that declares a body over 3 MiB is refused on its head, without
/// waiting for the body (the old answer was a 408 once `--body-timeout-seconds`
/// had passed); a chunked body is refused as soon as it passes the limit; and
/// whatever the client still sends after the answer is read and discarded, so
/// the connection ends in a clean close and the client reads its 413 rather
/// than a reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_and_a_clean_close() {
    let dir = example_streams();
    let server = Server::start(
        dir.path(),
        &[
            "--no-import",
            "--body-timeout-seconds",
            "60",
            "--audit-log",
            "/dev/null",
        ],
    );
    let (addr, ca) = (server.addr, server.ca_pem.clone());
    let big = 20 * 1024 * 1024;

    // Declared too large, body never sent: answered at once.
    let head = format!(
        "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {big}\r\n\r\n"
    );
    let tls = tls_open(addr, &ca).await.expect("connect");
    let (mut rd, mut wr) = tokio::io::split(tls);
    wr.write_all(head.as_bytes()).await.expect("head");
    wr.flush().await.expect("flush");
    let mut raw = Vec::new();
    let read = tokio::time::timeout(BOUND, rd.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(
        read.is_ok(),
        "no answer while the declared body is not sent: {text:?}"
    );
    let head_text = first_head(&text).to_ascii_lowercase();
    assert!(head_text.starts_with("http/1.1 413"), "{text:?}");
    assert!(head_text.contains("connection: close"), "{text:?}");
    assert!(text.contains("3145728 bytes"), "{text:?}");
    drop((rd, wr));

    // Declared too large and sent anyway; chunked past the limit.
    let chunked = {
        let mut b = Vec::new();
        for _ in 0..(big / (64 * 1024)) {
            b.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
            b.extend(std::iter::repeat_n(b' ', 64 * 1024));
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"0\r\n\r\n");
        b
    };
    let cases = [
        ("declared and sent", head.clone(), vec![b' '; big]),
        (
            "chunked",
            "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned(),
            chunked,
        ),
    ];
    for (what, head, body) in cases {
        let tls = tls_open(addr, &ca).await.expect("connect");
        let text = exchange_raw(tls, head, body)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            first_head(&text).starts_with("HTTP/1.1 413"),
            "{what}: {text:?}"
        );
    }

    // A hyper client streaming a chunked body gets its 413 too.
    let tls = tls_open(addr, &ca).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("http handshake");
    tokio::spawn(conn);
    let pieces = futures::stream::iter((0..(big / (64 * 1024))).map(|_| {
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from(vec![
            b' ';
            64 * 1024
        ])))
    }));
    let req = hyper::Request::post("/validate")
        .header("host", "localhost")
        .body(http_body_util::StreamBody::new(pieces))
        .expect("request");
    let rsp = tokio::time::timeout(BOUND, sender.send_request(req))
        .await
        .expect("answered in time")
        .expect("an answer, not a broken connection");
    assert_eq!(rsp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A body longer than its Content-Length: the declared bytes are the
    // request (not an AdmissionReview: 400); the rest cannot be a request
    // either, and the connection still ends in a clean close.
    let tls = tls_open(addr, &ca).await.expect("connect");
    let text = exchange_raw(
        tls,
        "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n".to_owned(),
        vec![b'{'; 8 * 1024 * 1024],
    )
    .await
    .unwrap_or_else(|e| panic!("longer than declared: {e}"));
    assert!(first_head(&text).starts_with("HTTP/1.1 400"), "{text:?}");

    // Still serving.
    let pinned = example_digest("marsview.yaml", 0);
    assert_still_pins(&server, &pinned, "right answer afterwards").await;
}

// ----------------------------- 8. audit records are never lost silently --

/// Sends `n` reviews with uids `PREFIX-i`, each answered; their uids.
async fn send_reviews(server: &Server, prefix: &str, n: usize) -> Vec<String> {
    let pinned = example_digest("marsview.yaml", 0);
    let mut uids = Vec::new();
    for i in 0..n {
        let uid = format!("{prefix}-{i}");
        let (status, body) = server
            .post(
                "/mutate",
                serde_json::to_vec(&pod_review(
                    "toms-project",
                    &uid,
                    "default",
                    &["marsview:latest"],
                ))
                .expect("json"),
            )
            .await;
        check_pinned(status, &body, &uid, &pinned).expect("admission answers whatever the disk");
        uids.push(uid);
    }
    uids
}

/// The uids of the records in an audit file; panics on any line that is not
/// one whole JSON record.
fn audit_uids(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .map(|line| {
            assert!(
                line.ends_with('\n'),
                "a partial line ends {}: {line:?}",
                path.display()
            );
            let rec: imagestream_core::admission::audit_record::AuditRecord =
                serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!("not one whole record in {} ({e}): {line:?}", path.display())
                });
            rec.uid
        })
        .collect()
}

async fn dropped(server: &Server) -> f64 {
    metric(
        &admin_text(server.admin, "/metrics").await,
        "imagestream_webhook_audit_records_dropped_total",
    )
}

/// Waits (bounded) until `done` holds, sending one more review named
/// `PREFIX-i` before each check (each review is a chance for the writer to
/// retry); the uids sent.
async fn send_until(
    server: &Server,
    prefix: &str,
    mut done: impl AsyncFnMut() -> bool,
    what: &str,
) -> Vec<String> {
    let mut sent = Vec::new();
    let deadline = Instant::now() + BOUND;
    for i in 0.. {
        if done().await {
            return sent;
        }
        assert!(Instant::now() < deadline, "{what}");
        sent.extend(send_reviews(server, &format!("{prefix}-{i}"), 1).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!()
}

/// Every sent record is in the files or counted as dropped, never both and
/// never neither.
fn assert_accounted(sent: &[String], written: &[String], dropped: f64) {
    let mut seen = std::collections::HashSet::new();
    for uid in written {
        assert!(seen.insert(uid), "{uid} written twice");
        assert!(sent.contains(uid), "{uid} written but never sent");
    }
    assert_eq!(
        written.len() as f64 + dropped,
        sent.len() as f64,
        "{} sent, {} written, {dropped} counted as dropped",
        sent.len(),
        written.len()
    );
}

/// The audit log's directory is removed while the server runs (a volume
/// unmounted, a careless cleanup): every record that cannot be written is
/// counted and the cause logged, and once the directory is back the file is
/// created again and records flow into it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_are_counted_while_the_log_directory_is_gone() {
    let dir = example_streams();
    let logs = tempfile::tempdir().expect("tempdir");
    let sub = logs.path().join("audit");
    std::fs::create_dir(&sub).expect("mkdir");
    let path = sub.join("audit.log");
    let server = Server::start(
        dir.path(),
        &["--no-import", "--audit-log", path.to_str().expect("path")],
    );
    wait_ready(server.admin).await;

    let mut sent = send_reviews(&server, "before", 5).await;
    let deadline = Instant::now() + BOUND;
    while audit_uids(&path).len() < 5 {
        assert!(Instant::now() < deadline, "records never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = audit_uids(&path);

    std::fs::remove_dir_all(&sub).expect("remove the directory");
    sent.extend(send_reviews(&server, "gone", 10).await);
    let deadline = Instant::now() + BOUND;
    while dropped(&server).await < 10.0 {
        assert!(
            Instant::now() < deadline,
            "records written into a deleted file were not counted as dropped: {}",
            dropped(&server).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logged: Vec<String> = server.log.try_iter().collect();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("audit") && l.contains("dropped")),
        "the cause was not logged:\n{}",
        logged.join("\n")
    );

    std::fs::create_dir(&sub).expect("mkdir again");
    let p = path.clone();
    sent.extend(
        send_until(
            &server,
            "after",
            async || !audit_uids(&p).is_empty(),
            "the audit file was never created again",
        )
        .await,
    );
    // What is sent now is written, not dropped.
    sent.extend(send_reviews(&server, "steady", 5).await);
    let deadline = Instant::now() + BOUND;
    while !audit_uids(&path).contains(&"steady-4".to_owned()) {
        assert!(
            Instant::now() < deadline,
            "records after the recovery never written"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut written = before;
    written.extend(audit_uids(&path));
    assert_accounted(&sent, &written, dropped(&server).await);
}

/// Sets the soft file-size limit (RLIMIT_FSIZE) of process `pid`.
fn set_file_size_limit(pid: u32, bytes: Option<u64>) {
    let limit = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit reads `limit` and writes nothing (a null old limit).
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// The audit file cannot grow (a full disk, simulated by a file-size limit on
/// the process: the write that crosses it is cut short, the next ones fail):
/// admission goes on, every record that is not written whole is counted and
/// the cause logged, the file never keeps half a record, and once it can grow
/// again records flow into it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_audit_file_never_keeps_half_a_record() {
    let dir = example_streams();
    let logs = tempfile::tempdir().expect("tempdir");
    let path = logs.path().join("audit.log");
    let server = Server::start(
        dir.path(),
        &["--no-import", "--audit-log", path.to_str().expect("path")],
    );
    wait_ready(server.admin).await;

    let mut sent = send_reviews(&server, "before", 3).await;
    let deadline = Instant::now() + BOUND;
    while audit_uids(&path).len() < 3 {
        assert!(Instant::now() < deadline, "records never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Room for one and a half more records.
    let size = std::fs::metadata(&path).expect("size").len();
    set_file_size_limit(server.pid(), Some(size + size / 2));

    sent.extend(send_reviews(&server, "full", 10).await);
    let p = path.clone();
    let s = sent.len();
    let metrics_of = server.admin;
    send_until(
        &server,
        "more",
        async || {
            let d = metric(
                &admin_text(metrics_of, "/metrics").await,
                "imagestream_webhook_audit_records_dropped_total",
            );
            d >= 1.0 && audit_uids(&p).len() as f64 + d >= s as f64
        },
        "records that did not fit were never counted as dropped",
    )
    .await
    .into_iter()
    .for_each(|uid| sent.push(uid));
    let logged: Vec<String> = server.log.try_iter().collect();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("audit") && l.contains("dropped")),
        "the cause was not logged:\n{}",
        logged.join("\n")
    );
    // Each line is one whole record, also right at the limit.
    audit_uids(&path);

    set_file_size_limit(server.pid(), None);
    sent.extend(send_reviews(&server, "after", 5).await);
    let deadline = Instant::now() + BOUND;
    while !audit_uids(&path).contains(&"after-4".to_owned()) {
        assert!(
            Instant::now() < deadline,
            "records never written once there is room"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_accounted(&sent, &audit_uids(&path), dropped(&server).await);
}
