//! Leader election against a fake API server on 127.0.0.1 that keeps one
//! Lease and enforces optimistic concurrency as the real one does.
//!
//! The fake listens on one port per replica ("link"), all sharing the same
//! Lease, so a single replica can be cut off from the API while the others
//! still reach it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use imagestream_webhook::leadership::lease::{self, LeaseConfig};

const NS: &str = "webhook-system";
const NAME: &str = "imagestream-webhook-importer";
const LEASE_PREFIX: &str = "/apis/coordination.k8s.io/v1/namespaces/";

const LEASE_DURATION: Duration = Duration::from_secs(1);
const RENEW_DEADLINE: Duration = Duration::from_millis(600);
const RETRY_PERIOD: Duration = Duration::from_millis(100);
/// Slack for timers and scheduling on a busy machine.
const MARGIN: Duration = Duration::from_millis(250);
/// Upper bound for anything that should happen soon.
const BOUND: Duration = Duration::from_secs(10);

/// What a replica's connection to the fake API does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Up,
    /// Answers every request with 503.
    Unavailable,
    /// Never answers.
    Hang,
}

/// A request the fake received, and how it answered (0: never).
#[derive(Clone, Debug)]
struct Request {
    link: usize,
    method: Method,
    path: String,
    body: Option<Value>,
    status: u16,
}

#[derive(Default)]
struct ApiState {
    lease: Option<Value>,
    resource_version: u64,
    uid_counter: u64,
    requests: Vec<Request>,
    links: Vec<Link>,
    /// Once, right after answering a GET of the Lease on this link, another
    /// writer (named here) claims the Lease: a race the reader then loses.
    intrude_after_get: Option<(usize, String)>,
}

struct FakeApi {
    state: Arc<Mutex<ApiState>>,
    addrs: Vec<SocketAddr>,
}

impl FakeApi {
    async fn start(links: usize) -> FakeApi {
        let state = Arc::new(Mutex::new(ApiState {
            links: vec![Link::Up; links],
            ..ApiState::default()
        }));
        let mut addrs = Vec::new();
        for link in 0..links {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            addrs.push(listener.local_addr().expect("addr"));
            let app = Router::new()
                .fallback(handle)
                .with_state((state.clone(), link));
            tokio::spawn(async move {
                axum::serve(listener, app).await.expect("fake api server");
            });
        }
        FakeApi { state, addrs }
    }

    fn lock(&self) -> MutexGuard<'_, ApiState> {
        self.state.lock().expect("fake api state")
    }

    fn client(&self, link: usize) -> kube::Client {
        let url = format!("http://{}", self.addrs[link]).parse().expect("url");
        kube::Client::try_from(kube::Config::new(url)).expect("kube client")
    }

    fn set_link(&self, link: usize, to: Link) {
        self.lock().links[link] = to;
    }

    fn lease(&self) -> Value {
        self.lock().lease.clone().expect("the lease exists")
    }

    /// Stores `lease` as if someone had written it.
    fn seed(&self, mut lease: Value) {
        let mut state = self.lock();
        state.resource_version += 1;
        lease["metadata"]["resourceVersion"] = json!(state.resource_version.to_string());
        lease["metadata"]["uid"] = json!("seeded");
        state.lease = Some(lease);
    }

    fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    fn intrude_after_next_get(&self, link: usize, holder: &str) {
        self.lock().intrude_after_get = Some((link, holder.to_owned()));
    }
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": { "name": NAME, "group": "coordination.k8s.io", "kind": "leases" },
        "code": code.as_u16(),
    });
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn object(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn now_rfc3339_micros() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// The checks of the API server's Lease validation that matter here.
fn validate(lease: &Value) -> Result<(), String> {
    let spec = &lease["spec"];
    if let Some(d) = spec.get("leaseDurationSeconds")
        && d.as_i64().is_none_or(|d| d <= 0)
    {
        return Err(format!("spec.leaseDurationSeconds: Invalid value: {d}"));
    }
    if let Some(t) = spec.get("leaseTransitions")
        && t.as_i64().is_none_or(|t| t < 0)
    {
        return Err(format!("spec.leaseTransitions: Invalid value: {t}"));
    }
    for field in ["acquireTime", "renewTime"] {
        if let Some(t) = spec.get(field)
            && t.as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_none()
        {
            return Err(format!("spec.{field}: Invalid value: {t}"));
        }
    }
    Ok(())
}

async fn handle(
    State((state, link)): State<(Arc<Mutex<ApiState>>, usize)>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    let mode = state.lock().expect("fake api state").links[link];
    if mode == Link::Hang {
        state
            .lock()
            .expect("fake api state")
            .requests
            .push(Request {
                link,
                method,
                path,
                body,
                status: 0,
            });
        return std::future::pending().await;
    }
    let mut guard = state.lock().expect("fake api state");
    let response = if mode == Link::Unavailable {
        status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the server is currently unable to handle the request".into(),
        )
    } else {
        serve(&mut guard, link, &method, &path, body.as_ref())
    };
    guard.requests.push(Request {
        link,
        method,
        path,
        body,
        status: response.status().as_u16(),
    });
    response
}

fn serve(
    state: &mut ApiState,
    link: usize,
    method: &Method,
    path: &str,
    body: Option<&Value>,
) -> Response {
    let parts: Vec<&str> = path
        .strip_prefix(LEASE_PREFIX)
        .map(|rest| rest.split('/').collect())
        .unwrap_or_default();
    let (ns, name) = match parts.as_slice() {
        [ns, "leases"] => (*ns, None),
        [ns, "leases", name] => (*ns, Some(*name)),
        _ => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no route for {path}"),
            );
        }
    };
    let stored = state.lease.as_ref().filter(|l| {
        l["metadata"]["namespace"] == ns && name.is_none_or(|name| l["metadata"]["name"] == name)
    });
    let not_found = || {
        status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "leases.coordination.k8s.io \"{}\" not found",
                name.unwrap_or("")
            ),
        )
    };
    match (method.clone(), name) {
        (Method::GET, Some(_)) => {
            let Some(lease) = stored.cloned() else {
                return not_found();
            };
            if let Some((_, holder)) = state.intrude_after_get.take_if(|(on, _)| *on == link) {
                let mut claimed = lease.clone();
                let now = now_rfc3339_micros();
                let transitions = claimed["spec"]["leaseTransitions"].as_i64().unwrap_or(0);
                claimed["spec"] = json!({
                    "holderIdentity": holder,
                    "leaseDurationSeconds": 1,
                    "acquireTime": now,
                    "renewTime": now,
                    "leaseTransitions": transitions + 1,
                });
                state.resource_version += 1;
                claimed["metadata"]["resourceVersion"] = json!(state.resource_version.to_string());
                state.lease = Some(claimed);
            }
            object(StatusCode::OK, &lease)
        }
        (Method::POST, None) => {
            let Some(mut lease) = body.cloned() else {
                return status(StatusCode::BAD_REQUEST, "BadRequest", "no JSON body".into());
            };
            let Some(new_name) = lease["metadata"]["name"].as_str().map(str::to_owned) else {
                return status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    "metadata.name: Required value".into(),
                );
            };
            if let Err(message) = validate(&lease) {
                return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message);
            }
            if state.lease.as_ref().is_some_and(|l| {
                l["metadata"]["namespace"] == ns && l["metadata"]["name"] == new_name.as_str()
            }) {
                return status(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    format!("leases.coordination.k8s.io \"{new_name}\" already exists"),
                );
            }
            state.resource_version += 1;
            state.uid_counter += 1;
            let meta = &mut lease["metadata"];
            meta["namespace"] = json!(ns);
            meta["uid"] = json!(format!("uid-{}", state.uid_counter));
            meta["resourceVersion"] = json!(state.resource_version.to_string());
            meta["creationTimestamp"] = json!(jiff::Timestamp::now().to_string());
            state.lease = Some(lease.clone());
            object(StatusCode::CREATED, &lease)
        }
        (Method::PUT, Some(name)) => {
            let Some(mut lease) = body.cloned() else {
                return status(StatusCode::BAD_REQUEST, "BadRequest", "no JSON body".into());
            };
            if lease["metadata"]["name"] != name {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "the name of the object does not match the name on the URL".into(),
                );
            }
            let Some(current) = stored.cloned() else {
                return not_found();
            };
            // Leases do not allow unconditional updates.
            let Some(sent) = lease["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_owned)
            else {
                return status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
                        .into(),
                );
            };
            if current["metadata"]["resourceVersion"] != sent.as_str() {
                return status(
                    StatusCode::CONFLICT,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": \
                         the object has been modified; please apply your changes to the latest \
                         version and try again"
                    ),
                );
            }
            if let Err(message) = validate(&lease) {
                return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message);
            }
            state.resource_version += 1;
            let meta = &mut lease["metadata"];
            meta["namespace"] = json!(ns);
            meta["uid"] = current["metadata"]["uid"].clone();
            meta["resourceVersion"] = json!(state.resource_version.to_string());
            state.lease = Some(lease.clone());
            object(StatusCode::OK, &lease)
        }
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{method} {path} is not supported"),
        ),
    }
}

/// One replica running the election in the background.
struct Replica {
    rx: watch::Receiver<bool>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Replica {
    fn start(api: &FakeApi, link: usize, identity: &str) -> Replica {
        let config = LeaseConfig {
            lease_duration: LEASE_DURATION,
            renew_deadline: RENEW_DEADLINE,
            retry_period: RETRY_PERIOD,
            ..LeaseConfig::new(NS, NAME, identity)
        };
        let (tx, rx) = watch::channel(false);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(lease::run(api.client(link), config, tx, shutdown.clone()));
        Replica { rx, shutdown, task }
    }

    fn leading(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until the replica reports `leading`; panics after `within`.
    async fn wait_for(&mut self, leading: bool, within: Duration) {
        tokio::time::timeout(within, self.rx.wait_for(|l| *l == leading))
            .await
            .unwrap_or_else(|_| panic!("leading = {leading} not reported within {within:?}"))
            .expect("the election ended");
    }

    /// Shuts the replica down and checks it reported `false` at the end.
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(BOUND, self.task)
            .await
            .expect("run() returns after shutdown")
            .expect("run() does not panic");
        assert!(!*self.rx.borrow(), "false is sent when run() returns");
    }
}

fn spec_time(lease: &Value, field: &str) -> jiff::Timestamp {
    lease["spec"][field]
        .as_str()
        .unwrap_or_else(|| panic!("spec.{field} in {lease}"))
        .parse()
        .expect("timestamp")
}

fn resource_version(lease: &Value) -> u64 {
    lease["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("resourceVersion")
}

/// MicroTime on the wire: RFC 3339 in UTC with exactly six fractional digits.
fn assert_micro_time(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is a string"));
    let bytes = text.as_bytes();
    assert!(
        text.len() == 27 && bytes[10] == b'T' && bytes[19] == b'.' && text.ends_with('Z'),
        "{text} is a MicroTime"
    );
    text.parse::<jiff::Timestamp>().expect("RFC 3339");
}

/// Every Lease the replicas wrote uses the API's field names and types, and
/// every update was conditional on a resourceVersion.
fn assert_written_leases(requests: &[Request]) {
    let writes: Vec<&Request> = requests
        .iter()
        .filter(|r| r.method == Method::POST || r.method == Method::PUT)
        .collect();
    assert!(!writes.is_empty());
    for write in writes {
        assert!(
            !matches!(write.status, 400 | 404 | 405 | 422),
            "refused write: {write:?}"
        );
        let body = write.body.as_ref().expect("JSON body");
        assert_eq!(body["apiVersion"], "coordination.k8s.io/v1", "{body}");
        assert_eq!(body["kind"], "Lease", "{body}");
        assert_eq!(body["metadata"]["name"], NAME, "{body}");
        if write.method == Method::POST {
            assert_eq!(write.path, format!("{LEASE_PREFIX}{NS}/leases"));
            assert_eq!(body["metadata"]["namespace"], NS, "{body}");
            assert_eq!(body["spec"]["leaseTransitions"], 0, "{body}");
        } else {
            assert_eq!(write.path, format!("{LEASE_PREFIX}{NS}/leases/{NAME}"));
            assert!(body["metadata"]["resourceVersion"].is_string(), "{body}");
        }
        let spec = body["spec"].as_object().expect("spec");
        for key in spec.keys() {
            assert!(
                [
                    "holderIdentity",
                    "leaseDurationSeconds",
                    "acquireTime",
                    "renewTime",
                    "leaseTransitions"
                ]
                .contains(&key.as_str()),
                "unexpected spec field {key} in {body}"
            );
        }
        assert_eq!(spec["leaseDurationSeconds"], 1, "{body}");
        assert!(spec["leaseTransitions"].is_u64(), "{body}");
        assert_micro_time(&spec["acquireTime"]);
        assert_micro_time(&spec["renewTime"]);
        if let Some(holder) = spec.get("holderIdentity") {
            assert!(holder.is_string(), "{body}");
        }
    }
}

#[tokio::test]
async fn single_replica_acquires_and_renews() {
    let api = FakeApi::start(1).await;
    let mut a = Replica::start(&api, 0, "replica-a");
    a.wait_for(true, BOUND).await;

    let first = api.lease();
    assert_eq!(first["spec"]["holderIdentity"], "replica-a");
    assert_eq!(first["spec"]["leaseTransitions"], 0);
    tokio::time::sleep(RETRY_PERIOD * 4).await;
    let later = api.lease();
    assert_eq!(later["spec"]["holderIdentity"], "replica-a");
    assert!(spec_time(&later, "renewTime") > spec_time(&first, "renewTime"));
    assert_eq!(later["spec"]["acquireTime"], first["spec"]["acquireTime"]);
    assert_eq!(later["spec"]["leaseTransitions"], 0);
    assert!(resource_version(&later) > resource_version(&first));
    assert!(a.leading());

    // On the wire: GET finds nothing, POST creates, then GET + PUT renewals.
    let requests = api.requests();
    assert_eq!(
        (requests[0].method.clone(), requests[0].status),
        (Method::GET, 404)
    );
    assert_eq!(
        (requests[1].method.clone(), requests[1].status),
        (Method::POST, 201)
    );
    let renewals = requests
        .iter()
        .filter(|r| r.method == Method::PUT && r.status == 200)
        .count();
    assert!(renewals >= 2, "renewed {renewals} times: {requests:#?}");
    assert_written_leases(&requests);

    a.stop().await;
    // Released: no holder, and expired even for readers of renewTime.
    let released = api.lease();
    assert!(
        released["spec"]
            .get("holderIdentity")
            .is_none_or(|h| h == ""),
        "{released}"
    );
    let expires = spec_time(&released, "renewTime")
        .checked_add(jiff::SignedDuration::from_secs(1))
        .expect("time");
    assert!(expires <= jiff::Timestamp::now(), "{released}");
    assert_eq!(released["spec"]["leaseTransitions"], 0);
    assert_written_leases(&api.requests());
}

#[tokio::test]
async fn two_replicas_have_exactly_one_leader() {
    let api = FakeApi::start(2).await;
    let a = Replica::start(&api, 0, "replica-a");
    let b = Replica::start(&api, 1, "replica-b");

    let start = Instant::now();
    while !(a.leading() || b.leading()) {
        assert!(start.elapsed() < BOUND, "nobody became leader");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = if a.leading() {
        "replica-a"
    } else {
        "replica-b"
    };
    // Several lease durations of steady state, sampled often.
    for _ in 0..250 {
        let (la, lb) = (a.leading(), b.leading());
        assert!(!(la && lb), "both replicas lead");
        assert!(la || lb, "no replica leads in steady state");
        let holder = if la { "replica-a" } else { "replica-b" };
        assert_eq!(holder, first, "leadership moved without cause");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(api.lease()["spec"]["holderIdentity"], first);

    // At most one create succeeded; a racing one was refused.
    let requests = api.requests();
    let posts: Vec<u16> = requests
        .iter()
        .filter(|r| r.method == Method::POST)
        .map(|r| r.status)
        .collect();
    assert_eq!(posts.iter().filter(|&&s| s == 201).count(), 1, "{posts:?}");
    assert!(posts.iter().all(|&s| s == 201 || s == 409), "{posts:?}");
    assert_written_leases(&requests);

    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn shutdown_hands_over_at_once() {
    let api = FakeApi::start(2).await;
    let mut a = Replica::start(&api, 0, "replica-a");
    a.wait_for(true, BOUND).await;
    let mut b = Replica::start(&api, 1, "replica-b");
    tokio::time::sleep(RETRY_PERIOD * 3).await;
    assert!(!b.leading());
    let acquired_by_a = api.lease()["spec"]["acquireTime"].clone();

    let stopped = Instant::now();
    a.stop().await;
    let released = api.lease();
    assert!(
        released["spec"]
            .get("holderIdentity")
            .is_none_or(|h| h == ""),
        "{released}"
    );
    b.wait_for(true, LEASE_DURATION / 2).await;
    let took = stopped.elapsed();
    assert!(took < LEASE_DURATION / 2, "hand-over took {took:?}");

    let lease = api.lease();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
    assert_ne!(lease["spec"]["acquireTime"], acquired_by_a);
    let requests = api.requests();
    assert_written_leases(&requests);
    // B's acquiring write counted the transition from A's release.
    let b_first_put = requests
        .iter()
        .find(|r| r.link == 1 && r.method == Method::PUT && r.status == 200)
        .and_then(|r| r.body.clone())
        .expect("B wrote the lease");
    assert_eq!(b_first_put["spec"]["holderIdentity"], "replica-b");
    assert_eq!(b_first_put["spec"]["leaseTransitions"], 1);

    b.stop().await;
}

/// The leader loses the API: it must report `false` within the renew
/// deadline, before the follower may take over after the lease expires.
async fn partitioned_leader_steps_down(cut: Link) {
    let api = FakeApi::start(2).await;
    let mut a = Replica::start(&api, 0, "replica-a");
    a.wait_for(true, BOUND).await;
    let mut b = Replica::start(&api, 1, "replica-b");
    tokio::time::sleep(RETRY_PERIOD * 3).await;
    assert!(!b.leading());

    api.set_link(0, cut);
    let partitioned = Instant::now();
    a.wait_for(false, BOUND).await;
    let stepped_down = partitioned.elapsed();
    assert!(
        stepped_down <= RENEW_DEADLINE + MARGIN,
        "stepped down after {stepped_down:?}"
    );
    assert!(
        !b.leading(),
        "the follower took over before the leader stepped down"
    );

    b.wait_for(true, BOUND).await;
    let took_over = partitioned.elapsed();
    // B waited out the lease, counted from its last sight of A's renewal
    // (at most one retry period before the cut).
    assert!(
        took_over >= LEASE_DURATION - RETRY_PERIOD * 2,
        "took over after only {took_over:?}"
    );
    assert!(
        took_over <= LEASE_DURATION + RETRY_PERIOD * 3 + MARGIN,
        "took over after {took_over:?}"
    );
    let lease = api.lease();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);

    // A kept trying through the partition, and once it heals, sees B and
    // stays a follower.
    let tried = api
        .requests()
        .iter()
        .filter(|r| r.link == 0 && (r.status == 0 || r.status == 503))
        .count();
    assert!(tried >= 2, "A stopped trying during the partition");
    api.set_link(0, Link::Up);
    tokio::time::sleep(RETRY_PERIOD * 5).await;
    assert!(!a.leading());
    assert!(b.leading());
    assert_eq!(api.lease()["spec"]["holderIdentity"], "replica-b");
    assert_written_leases(&api.requests());

    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn partitioned_leader_steps_down_when_the_api_hangs() {
    partitioned_leader_steps_down(Link::Hang).await;
}

#[tokio::test]
async fn partitioned_leader_steps_down_when_the_api_fails() {
    partitioned_leader_steps_down(Link::Unavailable).await;
}

fn released_lease(transitions: i64) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": { "name": NAME, "namespace": NS },
        "spec": {
            "leaseDurationSeconds": 1,
            "acquireTime": "2020-01-01T00:00:00.000000Z",
            "renewTime": "2020-01-01T00:00:00.000000Z",
            "leaseTransitions": transitions,
        },
    })
}

#[tokio::test]
async fn fake_refuses_a_stale_resource_version() {
    let api = FakeApi::start(1).await;
    api.seed(released_lease(0));
    let leases: Api<Lease> = Api::namespaced(api.client(0), NS);
    let read = leases.get(NAME).await.expect("get");
    let mut fresh = read.clone();
    fresh
        .spec
        .get_or_insert_with(Default::default)
        .holder_identity = Some("first".into());
    leases
        .replace(NAME, &PostParams::default(), &fresh)
        .await
        .expect("a write with the current resourceVersion succeeds");

    let mut stale = read;
    stale
        .spec
        .get_or_insert_with(Default::default)
        .holder_identity = Some("second".into());
    match leases.replace(NAME, &PostParams::default(), &stale).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 409, "{status:?}");
            assert_eq!(status.reason, "Conflict", "{status:?}");
        }
        other => panic!("a stale write must conflict: {other:?}"),
    }
    assert_eq!(api.lease()["spec"]["holderIdentity"], "first");
}

#[tokio::test]
async fn loser_of_a_write_race_does_not_lead() {
    let api = FakeApi::start(1).await;
    api.seed(released_lease(3));
    // Between the replica's GET and its PUT another writer claims the Lease.
    api.intrude_after_next_get(0, "replica-x");
    let raced = Instant::now();
    let mut a = Replica::start(&api, 0, "replica-a");

    let conflict = loop {
        if let Some(put) = api
            .requests()
            .into_iter()
            .find(|r| r.method == Method::PUT && r.status == 409)
        {
            break put;
        }
        assert!(raced.elapsed() < BOUND, "no conflicting PUT");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // The refused PUT carried the resourceVersion the replica had read.
    let sent = conflict.body.as_ref().expect("body");
    assert!(
        resource_version(sent) < resource_version(&api.lease()),
        "{sent}"
    );
    // The intruder's lease is live: the replica waits, never once claiming
    // leadership (the channel never changed).
    tokio::time::sleep(LEASE_DURATION / 2).await;
    assert!(!a.rx.has_changed().expect("running"), "claimed leadership");
    let lease = api.lease();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-x");
    assert_eq!(lease["spec"]["leaseTransitions"], 4);

    // The intruder never renews, so once its lease expires the replica takes it.
    a.wait_for(true, BOUND).await;
    assert!(raced.elapsed() >= LEASE_DURATION, "took a live lease");
    let lease = api.lease();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
    assert_eq!(lease["spec"]["leaseTransitions"], 5);
    assert_written_leases(&api.requests());

    a.stop().await;
}
