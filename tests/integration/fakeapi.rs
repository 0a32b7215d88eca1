//! A fake Kubernetes API server on 127.0.0.1 that speaks the real JSON: lists
//! with resourceVersions, chunked watch streams (ADDED, MODIFIED, DELETED,
//! BOOKMARK, ERROR), server-side-apply status patches and SubjectAccessReviews.
//! Every request is recorded so tests can assert what the client sent.

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    streams: BTreeMap<(String, String), Value>,
    rv: u64,
    /// (resourceVersion, watch line) of every change, for watches that resume.
    log: Vec<(u64, String)>,
    requests: Vec<Recorded>,
    /// (user, namespace, name) a SubjectAccessReview allows.
    allowed: HashSet<(String, String, String)>,
    /// Answer 503 to everything and end open watches.
    down: bool,
    /// Answer 404 for ImageStreams, as an API server without the CRD does.
    no_crd: bool,
    /// Answer this many status patches with 409 first.
    conflicts: usize,
    /// Hold full lists (not the one-item CRD probe) this long.
    list_delay: std::time::Duration,
}

#[derive(Clone)]
pub struct FakeApi {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    events: broadcast::Sender<Option<String>>,
}

impl FakeApi {
    pub async fn start() -> FakeApi {
        let (events, _) = broadcast::channel(1024);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let api = FakeApi {
            addr,
            inner: Arc::new(Mutex::new(Inner::default())),
            events,
        };
        let app = Router::new().fallback(handle).with_state(api.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        api
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A kubeconfig file pointing at this server.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"http://{}\"}}\nusers:\n- name: tester\n  user: {{token: not-a-secret}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: tester}}\ncurrent-context: fake\n",
            self.addr
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// Creates or replaces a stream and sends ADDED or MODIFIED to watchers.
    pub fn put_stream(&self, mut obj: Value) {
        let mut s = self.lock();
        s.rv += 1;
        let rv = s.rv;
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        obj["apiVersion"] = json!("image.openshift.io/v1");
        obj["kind"] = json!("ImageStream");
        obj["metadata"]["namespace"] = json!(ns);
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        obj["metadata"]["uid"] = json!(format!("uid-{ns}-{name}"));
        let kind = if s.streams.contains_key(&(ns.clone(), name.clone())) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        s.streams.insert((ns, name), obj.clone());
        let line = json!({"type": kind, "object": obj}).to_string();
        s.log.push((rv, line.clone()));
        let _ = self.events.send(Some(line));
    }

    /// Removes a stream; with `tell` false no watch event is sent (a missed event).
    pub fn delete_stream(&self, ns: &str, name: &str, tell: bool) {
        let mut s = self.lock();
        let Some(mut obj) = s.streams.remove(&(ns.to_owned(), name.to_owned())) else {
            return;
        };
        s.rv += 1;
        let rv = s.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        if tell {
            let line = json!({"type": "DELETED", "object": obj}).to_string();
            s.log.push((rv, line.clone()));
            let _ = self.events.send(Some(line));
        }
    }

    pub fn bookmark(&self) {
        let s = self.lock();
        let line = json!({"type": "BOOKMARK", "object": {"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
            "metadata": {"resourceVersion": s.rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}}})
        .to_string();
        let _ = self.events.send(Some(line));
    }

    /// Ends every open watch with `410 Gone`, as etcd compaction does; the log is
    /// dropped so a resume from an old resourceVersion is refused too.
    pub fn expire_watches(&self) {
        let mut s = self.lock();
        s.log.clear();
        let line = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410}})
        .to_string();
        let _ = self.events.send(Some(line));
        let _ = self.events.send(None);
    }

    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
        if down {
            let _ = self.events.send(None);
        }
    }

    pub fn set_no_crd(&self, no_crd: bool) {
        self.lock().no_crd = no_crd;
    }

    pub fn set_list_delay(&self, delay: std::time::Duration) {
        self.lock().list_delay = delay;
    }

    pub fn conflict_next_status_writes(&self, n: usize) {
        self.lock().conflicts = n;
    }

    pub fn allow(&self, user: &str, ns: &str, name: &str) {
        self.lock()
            .allowed
            .insert((user.to_owned(), ns.to_owned(), name.to_owned()));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    pub fn stream(&self, ns: &str, name: &str) -> Option<Value> {
        self.lock()
            .streams
            .get(&(ns.to_owned(), name.to_owned()))
            .cloned()
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn json_response(v: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

async fn handle(
    State(api): State<FakeApi>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (down, no_crd) = {
        let mut s = api.lock();
        s.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            content_type,
            body: body_json.clone(),
        });
        (s.down, s.no_crd)
    };
    if down {
        return status(500, "InternalError", "the fake API server is down");
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["apis", "image.openshift.io", "v1", "imagestreams"]) if no_crd => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
        (
            "GET",
            [
                "apis",
                "image.openshift.io",
                "v1",
                "namespaces",
                _,
                "imagestreams",
            ],
        ) if no_crd => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
        ("GET", ["apis", "image.openshift.io", "v1", "imagestreams"]) => {
            if query_param(&query, "watch") == Some("true")
                || query_param(&query, "watch") == Some("1")
            {
                watch(&api, &query)
            } else {
                let delay = api.lock().list_delay;
                if query_param(&query, "limit") != Some("1") {
                    tokio::time::sleep(delay).await;
                }
                list(&api, None)
            }
        }
        (
            "GET",
            [
                "apis",
                "image.openshift.io",
                "v1",
                "namespaces",
                ns,
                "imagestreams",
            ],
        ) => list(&api, Some(ns)),
        (
            "GET",
            [
                "apis",
                "image.openshift.io",
                "v1",
                "namespaces",
                ns,
                "imagestreams",
                name,
            ],
        ) => match api.stream(ns, name) {
            Some(obj) => json_response(&obj),
            None => status(
                404,
                "NotFound",
                &format!("imagestreams.image.openshift.io \"{name}\" not found"),
            ),
        },
        (
            "PATCH",
            [
                "apis",
                "image.openshift.io",
                "v1",
                "namespaces",
                ns,
                "imagestreams",
                name,
                "status",
            ],
        ) => patch_status(&api, ns, name, &body_json),
        ("POST", ["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"]) => {
            let spec = &body_json["spec"];
            let attrs = &spec["resourceAttributes"];
            let key = (
                spec["user"].as_str().unwrap_or_default().to_owned(),
                attrs["namespace"].as_str().unwrap_or_default().to_owned(),
                attrs["name"].as_str().unwrap_or_default().to_owned(),
            );
            let allowed = api.lock().allowed.contains(&key);
            let mut out = body_json.clone();
            out["status"] = if allowed {
                json!({"allowed": true, "reason": "RBAC: allowed by RoleBinding \"pullers\""})
            } else {
                json!({"allowed": false})
            };
            (
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, "application/json")],
                out.to_string(),
            )
                .into_response()
        }
        _ => status(
            404,
            "NotFound",
            &format!("the fake API server has no route for {method} {path}"),
        ),
    }
}

fn list(api: &FakeApi, ns: Option<&str>) -> Response {
    let s = api.lock();
    let items: Vec<Value> = s
        .streams
        .iter()
        .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
        .map(|(_, v)| v.clone())
        .collect();
    json_response(
        &json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamList",
        "metadata": {"resourceVersion": s.rv.to_string()}, "items": items}),
    )
}

fn watch(api: &FakeApi, query: &str) -> Response {
    use futures::StreamExt as _;
    let since: u64 = query_param(query, "resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (head, rx) = {
        let s = api.lock();
        let oldest = s.log.first().map_or(s.rv, |(rv, _)| rv.saturating_sub(1));
        if since != 0 && since < oldest {
            // Resuming from a compacted resourceVersion: 410 and the end of the watch.
            let gone = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410}});
            (vec![gone.to_string()], None)
        } else {
            let replay = s
                .log
                .iter()
                .filter(|(rv, _)| *rv > since)
                .map(|(_, l)| l.clone())
                .collect();
            (replay, Some(api.events.subscribe()))
        }
    };
    let head = futures::stream::iter(
        head.into_iter()
            .map(|l| Ok::<_, Infallible>(Bytes::from(l + "\n"))),
    );
    let live = futures::stream::unfold(rx, |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Ok(Some(line)) => Some((Ok(Bytes::from(line + "\n")), Some(rx))),
            _ => None,
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(head.chain(live)))
        .unwrap_or_else(|_| status(500, "InternalError", "cannot build the watch response"))
}

fn patch_status(api: &FakeApi, ns: &str, name: &str, body: &Value) -> Response {
    {
        let mut s = api.lock();
        if s.conflicts > 0 {
            s.conflicts -= 1;
            drop(s);
            return status(
                409,
                "Conflict",
                "Operation cannot be fulfilled: the object has been modified",
            );
        }
    }
    let Some(mut obj) = api.stream(ns, name) else {
        return status(
            404,
            "NotFound",
            &format!("imagestreams.image.openshift.io \"{name}\" not found"),
        );
    };
    obj["status"] = body["status"].clone();
    api.put_stream(obj);
    match api.stream(ns, name) {
        Some(stored) => json_response(&stored),
        None => status(500, "InternalError", "stream vanished"),
    }
}
