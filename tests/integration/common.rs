//! A real `imagestream-webhook serve` process on 127.0.0.1 and a TLS client
//! that talks to it as the API server does.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use imagestream_webhook::cli::certs;

/// Upper bound for anything that should happen soon.
pub const BOUND: Duration = Duration::from_secs(10);

pub const BIN: &str = env!("CARGO_BIN_EXE_imagestream-webhook");

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Copies the example streams into a fresh directory the test may change.
pub fn example_streams() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(repo_path("manifests/examples")).expect("examples") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    dir
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub ca_pem: String,
    #[allow(
        dead_code,
        reason = "keeps the certificate files alive while the server runs"
    )]
    pub certs_dir: tempfile::TempDir,
    /// Lines the server logged after start-up.
    pub log: mpsc::Receiver<String>,
    /// Lines the server logged until it listened.
    pub startup: Vec<String>,
}

impl Server {
    /// Starts `serve` on the streams in `dir` with fresh certificates.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut args = vec!["--streams-dir".to_owned(), dir.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::start_with(&args)
    }

    /// Starts `serve` in cluster mode against the API server of `kubeconfig`.
    pub fn start_cluster(kubeconfig: &Path, extra: &[&str]) -> Server {
        let mut args = vec!["--kubeconfig".to_owned(), kubeconfig.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::start_with(&args)
    }

    /// Starts `serve` in cluster mode as the pod `pod` (its Lease identity).
    pub fn start_cluster_as(kubeconfig: &Path, pod: &str, extra: &[&str]) -> Server {
        let mut args = vec!["--kubeconfig".to_owned(), kubeconfig.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::start_env(&args, &[("POD_NAME", pod)])
    }

    fn start_with(args: &[String]) -> Server {
        Server::start_env(args, &[])
    }

    fn start_env(args: &[String], env: &[(&str, &str)]) -> Server {
        let certs_dir = tempfile::tempdir().expect("tempdir");
        let generated = certs::generate_dev().expect("certs");
        certs::write(certs_dir.path(), &generated).expect("write certs");
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .arg("--tls-cert")
            .arg(certs_dir.path().join("tls.crt"))
            .arg("--tls-key")
            .arg(certs_dir.path().join("tls.key"))
            .args(["--dir-poll-ms", "100", "--tls-poll-ms", "100"])
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut https, mut http) = (None, None);
        let mut seen = Vec::new();
        while https.is_none() || http.is_none() {
            let line = rx.recv_timeout(BOUND).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "server did not start listening in time; it said:\n{}",
                    seen.join("\n")
                )
            });
            seen.push(line.clone());
            // `addr=…` in text logs, `"addr":"…"` with --log-format json.
            let addr = || {
                let json = serde_json::from_str::<Value>(&line).ok();
                let text = json.as_ref().map_or_else(
                    || {
                        line.split("addr=")
                            .nth(1)
                            .and_then(|a| a.split_whitespace().next())
                    },
                    |event| event["addr"].as_str(),
                );
                text.and_then(|a| a.parse::<SocketAddr>().ok())
            };
            if line.contains("serving https") {
                https = addr();
            } else if line.contains("serving http") {
                http = addr();
            }
        }
        Server {
            child,
            addr: https.expect("https addr"),
            admin: http.expect("http addr"),
            ca_pem: generated.ca_pem,
            certs_dir,
            log: rx,
            startup: seen,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `KILL`, …) to the server.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// The exit status, if the process ends within `bound`; waits without
    /// blocking the runtime, so clients in the same test keep running.
    pub async fn wait_exit(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + bound;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.wait_exit(BOUND)
            .await
            .expect("server did not exit after SIGTERM")
    }

    pub async fn post(&self, path: &str, body: impl Into<Bytes>) -> (StatusCode, Bytes) {
        request(self.addr, &self.ca_pem, "POST", path, body.into()).await
    }

    /// POSTs a review JSON and returns the decoded response object.
    pub async fn review(&self, path: &str, review: &Value) -> Value {
        let (status, body) = self
            .post(path, serde_json::to_vec(review).expect("json"))
            .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("response is json")
    }

    pub async fn admin_get(&self, path: &str) -> (StatusCode, String) {
        let stream = tokio::time::timeout(BOUND, TcpStream::connect(self.admin))
            .await
            .expect("connect in time")
            .expect("connect");
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
            .expect("answer in time")
            .expect("answer");
        let status = rsp.status();
        let body = rsp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tls_connector(ca_pem: &str) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("add ca");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// One HTTPS request on a new connection.
pub async fn request(
    addr: SocketAddr,
    ca_pem: &str,
    method: &str,
    path: &str,
    body: Bytes,
) -> (StatusCode, Bytes) {
    let tcp = tokio::time::timeout(BOUND, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    let tls = tokio::time::timeout(BOUND, tls_connector(ca_pem).connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("tls handshake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("http handshake");
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("request");
    let rsp = tokio::time::timeout(BOUND, sender.send_request(req))
        .await
        .expect("answer in time")
        .expect("answer");
    let status = rsp.status();
    let body = tokio::time::timeout(BOUND, rsp.into_body().collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    (status, body)
}

/// group, version, kind, resource of each kind the webhook handles.
pub const KINDS: [(&str, &str, &str, &str); 8] = [
    ("", "v1", "Pod", "pods"),
    ("", "v1", "ReplicationController", "replicationcontrollers"),
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "ReplicaSet", "replicasets"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("batch", "v1", "Job", "jobs"),
    ("batch", "v1", "CronJob", "cronjobs"),
];

pub fn gvkr(kind: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    *KINDS.iter().find(|k| k.2 == kind).expect("known kind")
}

/// An object of `kind` whose pod spec is `pod_spec`.
pub fn object(kind: &str, ns: &str, name: &str, pod_spec: Value) -> Value {
    let (group, version, kind, _) = gvkr(kind);
    let api_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    let template = json!({"metadata": {"labels": {"app": name}}, "spec": pod_spec});
    let spec = match kind {
        "Pod" => pod_spec,
        "CronJob" => {
            json!({"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}})
        }
        "Job" => json!({"template": template}),
        _ => {
            json!({"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": template})
        }
    };
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, "uid": "0b7ffd5e-4c1b-4d7e-9f1e-7f0c2a9a1b11", "creationTimestamp": "2026-11-26T17:00:00Z"},
        "spec": spec,
    })
}

/// The AdmissionReview the API server sends, with every field it fills.
pub fn admission_review(op: &str, object: &Value, old: Option<&Value>) -> Value {
    let kind = object["kind"].as_str().expect("kind");
    let (group, version, kind, resource) = gvkr(kind);
    let gvk = json!({"group": group, "version": version, "kind": kind});
    let gvr = json!({"group": group, "version": version, "resource": resource});
    let options_kind = if op == "CREATE" {
        "CreateOptions"
    } else {
        "UpdateOptions"
    };
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{}-{}", op.to_lowercase(), resource),
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": op,
            "userInfo": {"username": "alice", "uid": "u-alice", "groups": ["developers", "system:authenticated"]},
            "object": object,
            "oldObject": old.cloned().unwrap_or(Value::Null),
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": options_kind, "fieldManager": "kubectl-client-side-apply"},
        }
    })
}

/// The JSONPatch of a response, decoded; empty when there is none.
pub fn patch_of(rsp: &Value) -> Vec<Value> {
    use base64::Engine as _;
    match rsp["response"]["patch"].as_str() {
        None => Vec::new(),
        Some(p) => {
            assert_eq!(rsp["response"]["patchType"], "JSONPatch");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(p)
                .expect("base64");
            serde_json::from_slice(&raw).expect("patch json")
        }
    }
}

/// Applies the response's patch to `object`.
pub fn apply(rsp: &Value, object: &Value) -> Value {
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(patch_of(rsp))).expect("patch");
    let mut out = object.clone();
    json_patch::patch(&mut out, &patch).expect("patch applies");
    out
}

/// Reads the example digest of `marsview:latest` and friends from the examples.
pub fn example_digest(file: &str, nth: usize) -> String {
    let text =
        std::fs::read_to_string(repo_path(&format!("manifests/examples/{file}"))).expect("example");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("dockerImageReference: "))
        .nth(nth)
        .expect("reference")
        .to_owned()
}

/// The value of the first series in a Prometheus text page that starts with
/// `prefix` (0 when there is none).
pub fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The status items (digests) of `tag` in the stream file, newest first.
pub fn status_items(file: &Path, tag: &str) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("stream file");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("stream file parses");
    let stream = docs
        .iter()
        .find(|d| d["kind"] == "ImageStream")
        .expect("a stream");
    stream["status"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["tag"] == tag)
        .flat_map(|t| t["items"].as_array().cloned().unwrap_or_default())
        .map(|i| i["image"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Lossy UTF-8 of a command's output.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The exit code is `code`, else both outputs are shown.
pub fn assert_code(out: &std::process::Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The CLI on the streams in `dir`, namespace toms-project, no stdin.
pub fn cli_in_toms_project(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .arg("--streams-dir")
        .arg(dir)
        .args(["-n", "toms-project"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the CLI")
}
