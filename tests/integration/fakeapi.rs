//! A fake Kubernetes API server on 127.0.0.1 that speaks the real JSON: lists
//! with resourceVersions, chunked watch streams (ADDED, MODIFIED, DELETED,
//! BOOKMARK, ERROR), JSON patches with `test`, merge patches, server-side-apply
//! status patches, creates with generateName, and SubjectAccessReviews.
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

pub const STREAMS: &str = "image.openshift.io/v1/imagestreams";
pub const DEPLOYMENTS: &str = "apps/v1/deployments";
pub const STATEFULSETS: &str = "apps/v1/statefulsets";
pub const DAEMONSETS: &str = "apps/v1/daemonsets";
pub const CRONJOBS: &str = "batch/v1/cronjobs";
pub const EVENTS: &str = "v1/events";
pub const LEASES: &str = "coordination.k8s.io/v1/leases";
pub const SECRETS: &str = "v1/secrets";
pub const CONFIGMAPS: &str = "v1/configmaps";
pub const IMAGES: &str = "image.openshift.io/v1/images";
pub const SERVICES: &str = "v1/services";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
    /// The status the fake answered with (0 while the answer is being made).
    pub status: u16,
}

type ObjKey = (String, String, String);

#[derive(Default)]
struct Inner {
    objects: BTreeMap<ObjKey, Value>,
    rv: u64,
    /// (resourceVersion, resource, watch line) of every change, for watches that resume.
    log: Vec<(u64, String, String)>,
    requests: Vec<Recorded>,
    /// (user, namespace, name) a SubjectAccessReview allows.
    allowed: HashSet<(String, String, String)>,
    /// Answer 500 to everything and end open watches.
    down: bool,
    /// Answer 404 for ImageStreams, as an API server without the CRD does.
    no_crd: bool,
    /// Hold full lists (not the one-item CRD probe) this long.
    list_delay: std::time::Duration,
    generated: u64,
    /// A concurrent edit made just before the next JSON patch of that object:
    /// (resource, namespace, name, pointer, value).
    edit_before_patch: Option<(String, String, String, String, Value)>,
    /// Status patches still to be refused with a 409, as if another writer
    /// had just changed the object.
    status_conflicts: usize,
}

#[derive(Clone)]
pub struct FakeApi {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    /// (resource, line); `None` ends every open watch.
    events: broadcast::Sender<Option<(String, String)>>,
}

fn kind_of(resource: &str) -> (&'static str, &'static str) {
    match resource {
        STREAMS => ("image.openshift.io/v1", "ImageStream"),
        DEPLOYMENTS => ("apps/v1", "Deployment"),
        STATEFULSETS => ("apps/v1", "StatefulSet"),
        DAEMONSETS => ("apps/v1", "DaemonSet"),
        CRONJOBS => ("batch/v1", "CronJob"),
        EVENTS => ("v1", "Event"),
        LEASES => ("coordination.k8s.io/v1", "Lease"),
        SECRETS => ("v1", "Secret"),
        CONFIGMAPS => ("v1", "ConfigMap"),
        IMAGES => ("image.openshift.io/v1", "Image"),
        SERVICES => ("v1", "Service"),
        _ => ("v1", "Unknown"),
    }
}

impl FakeApi {
    pub async fn start() -> FakeApi {
        let (events, _) = broadcast::channel(4096);
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

    /// Creates or replaces an object and sends ADDED or MODIFIED to watchers.
    pub fn put(&self, resource: &str, obj: Value) -> Value {
        self.lock_put(resource, obj)
    }

    fn lock_put(&self, resource: &str, mut obj: Value) -> Value {
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
        let (api_version, kind) = kind_of(resource);
        obj["apiVersion"] = json!(api_version);
        obj["kind"] = json!(kind);
        obj["metadata"]["namespace"] = json!(ns);
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        if obj["metadata"]["uid"].is_null() {
            obj["metadata"]["uid"] = json!(format!("uid-{kind}-{ns}-{name}").to_lowercase());
        }
        let key = (resource.to_owned(), ns, name);
        let verb = if s.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        s.objects.insert(key, obj.clone());
        let line = json!({"type": verb, "object": obj}).to_string();
        s.log.push((rv, resource.to_owned(), line.clone()));
        let _ = self.events.send(Some((resource.to_owned(), line)));
        obj
    }

    pub fn put_stream(&self, obj: Value) {
        self.put(STREAMS, obj);
    }

    /// Removes an object; with `tell` false no watch event is sent (a missed event).
    pub fn delete(&self, resource: &str, ns: &str, name: &str, tell: bool) {
        let mut s = self.lock();
        let Some(mut obj) =
            s.objects
                .remove(&(resource.to_owned(), ns.to_owned(), name.to_owned()))
        else {
            return;
        };
        s.rv += 1;
        let rv = s.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        if tell {
            let line = json!({"type": "DELETED", "object": obj}).to_string();
            s.log.push((rv, resource.to_owned(), line.clone()));
            let _ = self.events.send(Some((resource.to_owned(), line)));
        }
    }

    pub fn delete_stream(&self, ns: &str, name: &str, tell: bool) {
        self.delete(STREAMS, ns, name, tell);
    }

    pub fn bookmark(&self) {
        let s = self.lock();
        let line = json!({"type": "BOOKMARK", "object": {"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
            "metadata": {"resourceVersion": s.rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}}})
        .to_string();
        let _ = self.events.send(Some((STREAMS.to_owned(), line)));
    }

    /// Ends every open watch with `410 Gone`, as etcd compaction does; the log is
    /// dropped so a resume from an old resourceVersion is refused too.
    pub fn expire_watches(&self) {
        let mut s = self.lock();
        s.log.clear();
        let _ = self.events.send(Some((STREAMS.to_owned(), gone())));
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

    /// Someone else edits `pointer` of the object just before the next JSON patch lands.
    pub fn edit_before_next_patch(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        pointer: &str,
        value: Value,
    ) {
        self.lock().edit_before_patch = Some((
            resource.to_owned(),
            ns.to_owned(),
            name.to_owned(),
            pointer.to_owned(),
            value,
        ));
    }

    /// The next `n` status patches find the object just changed by someone
    /// else (a new resourceVersion) and get a 409.
    pub fn conflict_next_status_patches(&self, n: usize) {
        self.lock().status_conflicts = n;
    }

    pub fn allow(&self, user: &str, ns: &str, name: &str) {
        self.lock()
            .allowed
            .insert((user.to_owned(), ns.to_owned(), name.to_owned()));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(resource.to_owned(), ns.to_owned(), name.to_owned()))
            .cloned()
    }

    pub fn stream(&self, ns: &str, name: &str) -> Option<Value> {
        self.get(STREAMS, ns, name)
    }

    /// Every object of a resource, in name order.
    pub fn all(&self, resource: &str) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|((r, _, _), _)| r == resource)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn gone() -> String {
    json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410}})
    .to_string()
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

fn json_response(code: StatusCode, v: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// A request path taken apart: resource ("group/version/plural"), namespace, name, subresource.
struct Target {
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn target(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (gv, rest): (String, &[&str]) = match segs.as_slice() {
        ["api", v, rest @ ..] => (v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let (res, name, sub) = match rest {
        [res] => (*res, None, None),
        [res, name] => (*res, Some(name.to_string()), None),
        [res, name, sub] => (*res, Some(name.to_string()), Some(sub.to_string())),
        _ => return None,
    };
    Some(Target {
        resource: format!("{gv}/{res}"),
        namespace,
        name,
        sub,
    })
}

async fn handle(
    State(api): State<FakeApi>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        status: 0,
    };
    let (index, down, no_crd) = {
        let mut s = api.lock();
        s.requests.push(request.clone());
        (s.requests.len() - 1, s.down, s.no_crd)
    };
    let response = respond(&api, method, request, down, no_crd).await;
    if let Some(r) = api.lock().requests.get_mut(index) {
        r.status = response.status().as_u16();
    }
    response
}

async fn respond(
    api: &FakeApi,
    method: Method,
    request: Recorded,
    down: bool,
    no_crd: bool,
) -> Response {
    let Recorded {
        path,
        query,
        content_type,
        body: body_json,
        ..
    } = request;
    if down {
        return status(500, "InternalError", "the fake API server is down");
    }
    if method == Method::POST && path == "/apis/authorization.k8s.io/v1/subjectaccessreviews" {
        return subject_access_review(api, &body_json);
    }
    let Some(t) = target(&path) else {
        return status(
            404,
            "NotFound",
            &format!("the fake API server has no route for {method} {path}"),
        );
    };
    if t.resource == STREAMS && no_crd {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    }
    let watching = matches!(query_param(&query, "watch"), Some("true" | "1"));
    match (method.as_str(), &t.name) {
        ("GET", None) if watching => watch(api, &t.resource, &query),
        ("GET", None) => {
            let delay = api.lock().list_delay;
            if query_param(&query, "limit") != Some("1") {
                tokio::time::sleep(delay).await;
            }
            list(api, &t)
        }
        ("GET", Some(name)) => match api.get(
            &t.resource,
            t.namespace.as_deref().unwrap_or_default(),
            name,
        ) {
            Some(obj) => json_response(StatusCode::OK, &obj),
            None => status(
                404,
                "NotFound",
                &format!("{} \"{name}\" not found", t.resource),
            ),
        },
        ("POST", None) => create(api, &t, body_json),
        ("PATCH", Some(name)) => patch(api, &t, name, &content_type, &body_json),
        ("PUT", Some(name)) => replace(api, &t, name, body_json),
        _ => status(
            405,
            "MethodNotAllowed",
            &format!("{method} {path} is not supported by the fake"),
        ),
    }
}

fn subject_access_review(api: &FakeApi, body: &Value) -> Response {
    let spec = &body["spec"];
    let attrs = &spec["resourceAttributes"];
    let key = (
        spec["user"].as_str().unwrap_or_default().to_owned(),
        attrs["namespace"].as_str().unwrap_or_default().to_owned(),
        attrs["name"].as_str().unwrap_or_default().to_owned(),
    );
    let allowed = api.lock().allowed.contains(&key);
    let mut out = body.clone();
    out["status"] = if allowed {
        json!({"allowed": true, "reason": "RBAC: allowed by RoleBinding \"pullers\""})
    } else {
        json!({"allowed": false})
    };
    json_response(StatusCode::CREATED, &out)
}

fn list(api: &FakeApi, t: &Target) -> Response {
    let s = api.lock();
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|((r, n, _), _)| {
            *r == t.resource && t.namespace.as_ref().is_none_or(|want| want == n)
        })
        .map(|(_, v)| v.clone())
        .collect();
    let (api_version, kind) = kind_of(&t.resource);
    json_response(
        StatusCode::OK,
        &json!({"apiVersion": api_version, "kind": format!("{kind}List"),
        "metadata": {"resourceVersion": s.rv.to_string()}, "items": items}),
    )
}

fn watch(api: &FakeApi, resource: &str, query: &str) -> Response {
    use futures::StreamExt as _;
    let since: u64 = query_param(query, "resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (head, rx) = {
        let s = api.lock();
        let oldest = s
            .log
            .first()
            .map_or(s.rv, |(rv, _, _)| rv.saturating_sub(1));
        if since != 0 && since < oldest {
            // Resuming from a compacted resourceVersion: 410 and the end of the watch.
            (vec![gone()], None)
        } else {
            let replay = s
                .log
                .iter()
                .filter(|(rv, r, _)| *rv > since && r == resource)
                .map(|(_, _, l)| l.clone())
                .collect();
            (replay, Some(api.events.subscribe()))
        }
    };
    let head = futures::stream::iter(
        head.into_iter()
            .map(|l| Ok::<_, Infallible>(Bytes::from(l + "\n"))),
    );
    let resource = resource.to_owned();
    let live = futures::stream::unfold((rx, resource), |(rx, resource)| async move {
        let mut rx = rx?;
        loop {
            match rx.recv().await {
                Ok(Some((r, line))) if r == resource => {
                    return Some((Ok(Bytes::from(line + "\n")), (Some(rx), resource)));
                }
                Ok(Some(_)) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                _ => return None,
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(head.chain(live)))
        .unwrap_or_else(|_| status(500, "InternalError", "cannot build the watch response"))
}

fn create(api: &FakeApi, t: &Target, mut obj: Value) -> Response {
    let ns = t.namespace.clone().unwrap_or_default();
    if obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        let prefix = obj["metadata"]["generateName"]
            .as_str()
            .unwrap_or("obj-")
            .to_owned();
        let n = {
            let mut s = api.lock();
            s.generated += 1;
            s.generated
        };
        obj["metadata"]["name"] = json!(format!("{prefix}{n:05x}"));
    }
    obj["metadata"]["namespace"] = json!(ns);
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if api.get(&t.resource, &ns, &name).is_some() {
        return status(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", t.resource),
        );
    }
    let stored = api.put(&t.resource, obj);
    json_response(StatusCode::CREATED, &stored)
}

fn patch(api: &FakeApi, t: &Target, name: &str, content_type: &str, body: &Value) -> Response {
    let ns = t.namespace.clone().unwrap_or_default();
    let Some(mut obj) = api.get(&t.resource, &ns, name) else {
        return status(
            404,
            "NotFound",
            &format!("{} \"{name}\" not found", t.resource),
        );
    };
    if t.sub.as_deref() == Some("status") {
        let refuse = {
            let mut s = api.lock();
            let refuse = s.status_conflicts > 0;
            s.status_conflicts = s.status_conflicts.saturating_sub(1);
            refuse
        };
        if refuse {
            api.put(&t.resource, obj);
            return conflict();
        }
    }
    // A resourceVersion in a patch's body is a precondition, as the API server
    // treats it (apply and merge patches alike).
    if version(body).is_some_and(|rv| Some(rv) != version(&obj)) {
        return conflict();
    }
    if t.sub.as_deref() == Some("status") {
        obj["status"] = body["status"].clone();
        return json_response(StatusCode::OK, &api.put(&t.resource, obj));
    }
    if content_type.starts_with("application/json-patch+json") {
        let edit = {
            let mut s = api.lock();
            match &s.edit_before_patch {
                Some((r, n, o, _, _)) if *r == t.resource && *n == ns && o == name => {
                    s.edit_before_patch.take()
                }
                _ => None,
            }
        };
        if let Some((_, _, _, pointer, value)) = edit {
            if let Some(field) = obj.pointer_mut(&pointer) {
                *field = value;
            }
            obj = api.put(&t.resource, obj);
        }
        let ops: json_patch::Patch = match serde_json::from_value(body.clone()) {
            Ok(p) => p,
            Err(e) => return status(400, "BadRequest", &format!("invalid JSON patch: {e}")),
        };
        if let Err(e) = json_patch::patch(&mut obj, &ops) {
            // The API server answers a failed `test` with 422 Invalid.
            return status(
                422,
                "Invalid",
                &format!("the server rejected our request due to an error in our request: {e}"),
            );
        }
    } else if content_type.starts_with("application/merge-patch+json") {
        json_patch::merge(&mut obj, body);
    } else {
        return status(
            415,
            "UnsupportedMediaType",
            &format!("the fake does not take {content_type}"),
        );
    }
    json_response(StatusCode::OK, &api.put(&t.resource, obj))
}

/// PUT with optimistic concurrency: a stale resourceVersion is a 409, as the API server answers.
fn replace(api: &FakeApi, t: &Target, name: &str, obj: Value) -> Response {
    let ns = t.namespace.clone().unwrap_or_default();
    let Some(current) = api.get(&t.resource, &ns, name) else {
        return status(
            404,
            "NotFound",
            &format!("{} \"{name}\" not found", t.resource),
        );
    };
    if version(&obj) != version(&current) {
        return conflict();
    }
    json_response(StatusCode::OK, &api.put(&t.resource, obj))
}

fn version(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

/// The API server's answer to a write from a stale resourceVersion.
fn conflict() -> Response {
    status(
        409,
        "Conflict",
        "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
    )
}
