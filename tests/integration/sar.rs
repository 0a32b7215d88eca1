//! `SarChecker` against a fake API server on 127.0.0.1: the tests see the JSON
//! the checker really sends and answer with the JSON a real API server sends.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use imagestream_core::access::{AccessDecision, ServiceAccount};
use imagestream_core::stream::resolve::StreamName;

use imagestream_webhook::access::sar::{SarChecker, SarConfig, Source};

const SAR_PATH: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
/// The longest any single check may take in these tests, hung server included.
const BOUND: Duration = Duration::from_secs(10);

const TOM: ServiceAccount<'static> = ServiceAccount {
    namespace: "toms-project",
    name: "default",
};
const ANN: ServiceAccount<'static> = ServiceAccount {
    namespace: "anns-project",
    name: "builder",
};
const BASE: StreamName<'static> = StreamName {
    namespace: "shared-images",
    name: "base",
};
const TOOLS: StreamName<'static> = StreamName {
    namespace: "shared-images",
    name: "tools",
};

/// How the fake answers.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// A `SubjectAccessReview` with `allowed` from the rules.
    Answer,
    /// This status code with a `Status` body.
    Fail(u16),
    /// Never answers.
    Hang,
}

struct Recorded {
    method: Method,
    path: String,
    body: Value,
}

struct FakeState {
    mode: Mode,
    /// Wait before answering, so that concurrent checks overlap.
    delay: Duration,
    /// (user, stream namespace, stream name) that are allowed.
    allowed: HashSet<(String, String, String)>,
    requests: Vec<Recorded>,
}

type Shared = Arc<Mutex<FakeState>>;

struct FakeApi {
    addr: SocketAddr,
    state: Shared,
    server: JoinHandle<()>,
}

impl FakeApi {
    async fn start() -> FakeApi {
        let state: Shared = Arc::new(Mutex::new(FakeState {
            mode: Mode::Answer,
            delay: Duration::ZERO,
            allowed: HashSet::new(),
            requests: Vec::new(),
        }));
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake api server");
        });
        FakeApi {
            addr,
            state,
            server,
        }
    }

    fn checker(&self, config: SarConfig) -> SarChecker {
        let url = format!("http://{}", self.addr).parse().expect("url");
        let client = kube::Client::try_from(kube::Config::new(url)).expect("kube client");
        SarChecker::new(client, config)
    }

    fn allow(&self, sa: ServiceAccount<'_>, stream: StreamName<'_>) {
        self.state.lock().unwrap().allowed.insert((
            format!("system:serviceaccount:{}:{}", sa.namespace, sa.name),
            stream.namespace.to_owned(),
            stream.name.to_owned(),
        ));
    }

    fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    fn set_delay(&self, delay: Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    fn calls(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    fn bodies(&self) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state.requests.iter().map(|r| r.body.clone()).collect()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(State(state): State<Shared>, method: Method, uri: Uri, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (mode, delay, allowed) = {
        let mut state = state.lock().unwrap();
        state.requests.push(Recorded {
            method: method.clone(),
            path: uri.path().to_owned(),
            body: body.clone(),
        });
        let spec = &body["spec"];
        let attributes = &spec["resourceAttributes"];
        let asked = (
            spec["user"].as_str().unwrap_or_default().to_owned(),
            attributes["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            attributes["name"].as_str().unwrap_or_default().to_owned(),
        );
        (state.mode, state.delay, state.allowed.contains(&asked))
    };
    if method != Method::POST || uri.path() != SAR_PATH {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    }
    tokio::time::sleep(delay).await;
    match mode {
        Mode::Hang => std::future::pending().await,
        Mode::Fail(code) => status(
            code,
            if code == 403 {
                "Forbidden"
            } else {
                "InternalError"
            },
            "etcdserver: request timed out",
        ),
        Mode::Answer => {
            let status = if allowed {
                json!({"allowed": true, "reason": "RBAC: allowed by RoleBinding \"pullers\""})
            } else {
                json!({"allowed": false, "reason": "no RBAC policy matched"})
            };
            let review = json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "metadata": {"creationTimestamp": null},
                "spec": body["spec"],
                "status": status,
            });
            json_response(StatusCode::CREATED, &review)
        }
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    json_response(StatusCode::from_u16(code).expect("status code"), &body)
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A check that must finish within [`BOUND`].
async fn check(
    checker: &SarChecker,
    sa: ServiceAccount<'_>,
    stream: StreamName<'_>,
) -> (AccessDecision, Source) {
    tokio::time::timeout(BOUND, checker.check(sa, stream))
        .await
        .expect("the check finished in time")
}

fn denial(decision: AccessDecision) -> String {
    match decision {
        AccessDecision::Denied(message) => message,
        AccessDecision::Allowed => panic!("expected a denial, got an allow"),
    }
}

fn long_ttls() -> SarConfig {
    SarConfig {
        allowed_ttl: Duration::from_secs(60),
        denied_ttl: Duration::from_secs(60),
        timeout: Duration::from_secs(3),
        max_entries: 1000,
    }
}

#[tokio::test]
async fn sends_a_review_of_layers_for_the_service_account() {
    let api = FakeApi::start().await;
    api.allow(TOM, BASE);
    let checker = api.checker(long_ttls());

    assert_eq!(
        check(&checker, TOM, BASE).await,
        (AccessDecision::Allowed, Source::Api)
    );

    let state = api.state.lock().unwrap();
    assert_eq!(state.requests.len(), 1);
    let request = &state.requests[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, SAR_PATH);
    assert_eq!(request.body["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(request.body["kind"], "SubjectAccessReview");
    // Exactly these fields: anything more (a version, extra, a uid) would change
    // what the authorizer is asked.
    assert_eq!(
        request.body["spec"],
        json!({
            "user": "system:serviceaccount:toms-project:default",
            "groups": [
                "system:serviceaccounts",
                "system:serviceaccounts:toms-project",
                "system:authenticated",
            ],
            "resourceAttributes": {
                "group": "image.openshift.io",
                "resource": "imagestreams",
                "subresource": "layers",
                "verb": "get",
                "namespace": "shared-images",
                "name": "base",
            },
        })
    );
    assert!(request.body.get("status").is_none());
}

#[tokio::test]
async fn a_denial_names_the_permission_the_reason_and_the_fix() {
    let api = FakeApi::start().await;
    let checker = api.checker(long_ttls());

    let (decision, source) = check(&checker, TOM, BASE).await;
    assert_eq!(source, Source::Api);
    assert_eq!(
        denial(decision),
        "service account toms-project/default may not use imagestream shared-images/base: \
         it lacks get on imagestreams/layers (image.openshift.io) in namespace shared-images \
         (no RBAC policy matched); grant it with: kubectl create rolebinding \
         toms-project-default-pulls-base --clusterrole=system:image-puller \
         --serviceaccount=toms-project:default -n shared-images"
    );
}

#[tokio::test]
async fn a_second_check_within_the_ttl_comes_from_the_cache() {
    let api = FakeApi::start().await;
    api.allow(TOM, BASE);
    let checker = api.checker(long_ttls());

    assert_eq!(check(&checker, TOM, BASE).await.1, Source::Api);
    assert_eq!(
        check(&checker, TOM, BASE).await,
        (AccessDecision::Allowed, Source::Cache)
    );
    // Denials are cached too.
    let (first, source) = check(&checker, ANN, BASE).await;
    assert_eq!(source, Source::Api);
    let (second, source) = check(&checker, ANN, BASE).await;
    assert_eq!(source, Source::Cache);
    assert_eq!(first, second);
    assert_eq!(api.calls(), 2);
    // Clones share the cache.
    assert_eq!(checker.clone().check(TOM, BASE).await.1, Source::Cache);
    assert_eq!(api.calls(), 2);
}

#[tokio::test]
async fn each_account_and_stream_pair_is_asked_separately() {
    let api = FakeApi::start().await;
    api.allow(TOM, BASE);
    let checker = api.checker(long_ttls());

    let pairs = [(TOM, BASE), (TOM, TOOLS), (ANN, BASE)];
    for (sa, stream) in pairs {
        assert_eq!(check(&checker, sa, stream).await.1, Source::Api);
    }
    for (sa, stream) in pairs {
        assert_eq!(check(&checker, sa, stream).await.1, Source::Cache);
    }
    assert_eq!(check(&checker, TOM, BASE).await.0, AccessDecision::Allowed);
    assert!(matches!(
        check(&checker, TOM, TOOLS).await.0,
        AccessDecision::Denied(_)
    ));
    assert!(matches!(
        check(&checker, ANN, BASE).await.0,
        AccessDecision::Denied(_)
    ));

    let asked: Vec<(String, String)> = api
        .bodies()
        .iter()
        .map(|b| {
            (
                b["spec"]["user"].as_str().unwrap().to_owned(),
                b["spec"]["resourceAttributes"]["name"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        asked,
        [
            (
                "system:serviceaccount:toms-project:default".to_owned(),
                "base".to_owned()
            ),
            (
                "system:serviceaccount:toms-project:default".to_owned(),
                "tools".to_owned()
            ),
            (
                "system:serviceaccount:anns-project:builder".to_owned(),
                "base".to_owned()
            ),
        ]
    );
    assert_eq!(
        api.bodies()[2]["spec"]["groups"][1],
        "system:serviceaccounts:anns-project"
    );
}

#[tokio::test]
async fn allowed_and_denied_answers_expire_after_their_own_ttl() {
    let api = FakeApi::start().await;
    api.allow(TOM, BASE);
    let checker = api.checker(SarConfig {
        allowed_ttl: Duration::from_millis(1000),
        denied_ttl: Duration::from_millis(100),
        ..long_ttls()
    });

    assert_eq!(check(&checker, TOM, BASE).await.1, Source::Api);
    assert_eq!(check(&checker, ANN, BASE).await.1, Source::Api);

    // Past the denied TTL, well within the allowed one.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(check(&checker, TOM, BASE).await.1, Source::Cache);
    assert_eq!(check(&checker, ANN, BASE).await.1, Source::Api);
    assert_eq!(api.calls(), 3);

    // Past the allowed TTL too.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        check(&checker, TOM, BASE).await,
        (AccessDecision::Allowed, Source::Api)
    );
    assert_eq!(api.calls(), 4);
}

#[tokio::test]
async fn an_api_error_denies_and_is_not_cached() {
    let api = FakeApi::start().await;
    api.allow(TOM, BASE);
    api.set_mode(Mode::Fail(500));
    let checker = api.checker(long_ttls());

    let (decision, source) = check(&checker, TOM, BASE).await;
    assert_eq!(source, Source::Api);
    assert_eq!(
        denial(decision),
        "service account toms-project/default may not use imagestream shared-images/base: \
         access check failed: SubjectAccessReview request failed: the API server answered \
         500 InternalError: etcdserver: request timed out"
    );
    assert_eq!(checker.cached_entries(), 0);

    // The next check asks again, and this time gets an answer.
    api.set_mode(Mode::Answer);
    assert_eq!(
        check(&checker, TOM, BASE).await,
        (AccessDecision::Allowed, Source::Api)
    );
    assert_eq!(api.calls(), 2);
}

#[tokio::test]
async fn a_forbidden_review_says_what_the_webhook_lacks() {
    let api = FakeApi::start().await;
    api.set_mode(Mode::Fail(403));
    let checker = api.checker(long_ttls());

    let message = denial(check(&checker, TOM, BASE).await.0);
    assert!(message.contains("access check failed: "), "{message}");
    assert!(
        message.contains(
            "answered 403 Forbidden: etcdserver: request timed out; the webhook's own service \
             account needs create on subjectaccessreviews (authorization.k8s.io)"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_hanging_api_denies_after_the_timeout() {
    let api = FakeApi::start().await;
    api.allow(TOM, BASE);
    api.set_mode(Mode::Hang);
    let checker = api.checker(SarConfig {
        timeout: Duration::from_millis(200),
        ..long_ttls()
    });

    let started = Instant::now();
    let (decision, source) = check(&checker, TOM, BASE).await;
    let elapsed = started.elapsed();
    assert_eq!(source, Source::Api);
    assert_eq!(
        denial(decision),
        "service account toms-project/default may not use imagestream shared-images/base: \
         access check failed: SubjectAccessReview request timed out after 200ms"
    );
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(checker.cached_entries(), 0);

    // Not cached: the next check asks again.
    api.set_mode(Mode::Answer);
    assert_eq!(
        check(&checker, TOM, BASE).await,
        (AccessDecision::Allowed, Source::Api)
    );
    assert_eq!(api.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_of_one_pair_share_one_request() {
    let api = FakeApi::start().await;
    api.allow(TOM, BASE);
    // Long enough that every check starts while the request is in flight.
    api.set_delay(Duration::from_millis(300));
    let checker = api.checker(long_ttls());

    let mut checks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let checker = checker.clone();
        checks.spawn(async move { check(&checker, TOM, BASE).await });
    }
    let answers = tokio::time::timeout(BOUND, checks.join_all())
        .await
        .expect("the checks finished in time");

    assert_eq!(api.calls(), 1);
    assert!(answers.iter().all(|(d, _)| *d == AccessDecision::Allowed));
    let from_api = answers.iter().filter(|(_, s)| *s == Source::Api).count();
    assert_eq!(
        from_api, 1,
        "only the check that sent the request counts as api"
    );
    assert_eq!(check(&checker, TOM, BASE).await.1, Source::Cache);
    assert_eq!(api.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_share_a_timeout_too() {
    let api = FakeApi::start().await;
    api.set_mode(Mode::Hang);
    let checker = api.checker(SarConfig {
        timeout: Duration::from_millis(200),
        ..long_ttls()
    });

    let started = Instant::now();
    let mut checks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let checker = checker.clone();
        checks.spawn(async move { check(&checker, TOM, BASE).await });
    }
    let answers = tokio::time::timeout(BOUND, checks.join_all())
        .await
        .expect("the checks finished in time");

    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(api.calls(), 1);
    for (decision, _) in answers {
        assert!(denial(decision).ends_with("timed out after 200ms"));
    }
    assert_eq!(checker.cached_entries(), 0);
}

#[tokio::test]
async fn a_dropped_check_still_completes_and_caches_its_request() {
    let api = FakeApi::start().await;
    api.allow(TOM, BASE);
    api.set_delay(Duration::from_millis(200));
    let checker = api.checker(long_ttls());

    // The admission request that started the check goes away mid-flight.
    let dropped = tokio::time::timeout(Duration::from_millis(50), checker.check(TOM, BASE)).await;
    assert!(dropped.is_err());

    // The next check joins the request still in flight (or hits its cached answer).
    assert_eq!(
        check(&checker, TOM, BASE).await,
        (AccessDecision::Allowed, Source::Cache)
    );
    assert_eq!(api.calls(), 1);
}

#[tokio::test]
async fn the_cache_never_holds_more_than_max_entries() {
    let api = FakeApi::start().await;
    let checker = api.checker(SarConfig {
        max_entries: 3,
        ..long_ttls()
    });

    let names: Vec<String> = (0..10).map(|i| format!("stream-{i}")).collect();
    for name in &names {
        let stream = StreamName {
            namespace: "shared-images",
            name,
        };
        assert_eq!(check(&checker, TOM, stream).await.1, Source::Api);
        assert!(
            checker.cached_entries() <= 3,
            "{}",
            checker.cached_entries()
        );
    }
    assert_eq!(api.calls(), 10);

    // The newest answer is kept; the oldest went.
    let newest = StreamName {
        namespace: "shared-images",
        name: &names[9],
    };
    let oldest = StreamName {
        namespace: "shared-images",
        name: &names[0],
    };
    assert_eq!(check(&checker, TOM, newest).await.1, Source::Cache);
    assert_eq!(check(&checker, TOM, oldest).await.1, Source::Api);
    assert!(checker.cached_entries() <= 3);
    assert_eq!(api.calls(), 11);
}
