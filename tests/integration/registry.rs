//! A real OCI registry on 127.0.0.1 for the importer's tests: Debian's
//! `docker-registry` (the CNCF distribution reference registry, 2.8) with
//! storage in a temporary directory, plain HTTP and, by default, htpasswd
//! basic authentication. Images are written as OCI image layouts by this
//! module (no Docker engine needed) and pushed with `skopeo copy`.
//!
//! Needs `apt-get install docker-registry skopeo apache2-utils` and the
//! coreutils `sha256sum`. Every external command runs with a bounded time
//! and panics with its stderr when it fails.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Media types the registry serves manifests with.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `Accept` for manifest requests that takes every type this module pushes.
/// docker-registry 2.8 answers 404 (MANIFEST_UNKNOWN, "OCI index found, but
/// accept header does not support OCI indexes") when the tag is an OCI
/// index or manifest and `Accept` lacks its type: always send all four.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// How long the registry may take to answer `/v2/` after it is started.
const START_BOUND: Duration = Duration::from_secs(10);
/// How long one external command (htpasswd, sha256sum, skopeo) may take.
const COMMAND_BOUND: Duration = Duration::from_secs(60);
/// Socket timeouts of the tiny HTTP client.
const HTTP_BOUND: Duration = Duration::from_secs(10);

const USER: &str = "importer";
const PASSWORD: &str = "s3cret-Pa55";

/// A running `docker-registry serve` on 127.0.0.1; stopped on drop.
pub struct Registry {
    /// 127.0.0.1:PORT.
    pub addr: SocketAddr,
    /// "127.0.0.1:PORT", the registry part of image references.
    pub host: String,
    /// Credentials the registry accepts ([`Registry::start`]); an anonymous
    /// registry ignores them, so clients may send them either way.
    pub user: &'static str,
    pub password: &'static str,
    auth: bool,
    /// `notifications:` of config.yml ([`Registry::start_notifying`]).
    notify: Option<String>,
    /// When the last `skopeo copy` ended (before the push is checked).
    copied_at: std::sync::Mutex<Option<Instant>>,
    bin: PathBuf,
    child: Option<Child>,
    /// Holds config.yml, htpasswd, registry.log and storage/.
    dir: tempfile::TempDir,
}

/// An HTTP response of [`Registry::request`].
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

impl Registry {
    /// Starts docker-registry on a free port of 127.0.0.1 with htpasswd
    /// (bcrypt) authentication for `user`/`password`, storage in a temporary
    /// directory and deletes enabled; returns once `GET /v2/` answers 401.
    pub fn start() -> Registry {
        Registry::launch(true)
    }

    /// Same as [`Registry::start`] without authentication (`/v2/` is 200).
    pub fn start_anonymous() -> Registry {
        Registry::launch(false)
    }

    /// An anonymous registry that sends its events (pushes, pulls, blobs)
    /// to `url` with `Authorization: Bearer TOKEN`, as an operator
    /// configures `notifications.endpoints`, one event per request.
    pub fn start_notifying(url: &str, token: &str) -> Registry {
        let notify = format!(
            "notifications:\n  events:\n    includereferences: true\n  endpoints:\n  \
             - name: imagestream-webhook\n    url: {url}\n    headers:\n      \
             Authorization: [{bearer}]\n    timeout: 2s\n    threshold: 3\n    backoff: 1s\n",
            url = serde_json::to_string(url).expect("url as JSON"),
            bearer = serde_json::to_string(&format!("Bearer {token}")).expect("token as JSON"),
        );
        Registry::launch_with(false, Some(notify))
    }

    fn launch(auth: bool) -> Registry {
        Registry::launch_with(auth, None)
    }

    fn launch_with(auth: bool, notify: Option<String>) -> Registry {
        let bin = find_tool(
            "docker-registry",
            "apt-get install docker-registry (the CNCF distribution registry 2.x)",
        );
        find_tool("skopeo", "apt-get install skopeo");
        let dir = tempfile::Builder::new()
            .prefix("registry-")
            .tempdir()
            .expect("registry tempdir");
        fs::create_dir(dir.path().join("storage")).expect("storage dir");
        if auth {
            find_tool("htpasswd", "apt-get install apache2-utils");
            let line = run(
                Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]),
                "htpasswd",
            );
            fs::write(dir.path().join("htpasswd"), line).expect("write htpasswd");
        }
        let mut registry = Registry {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            host: String::new(),
            user: USER,
            password: PASSWORD,
            auth,
            notify,
            copied_at: std::sync::Mutex::new(None),
            bin,
            child: None,
            dir,
        };
        // The free port is found by binding port 0 and closing it, so another
        // process may take it before the registry does: try a few ports.
        for attempt in 1.. {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("find a free port")
                .port();
            registry.addr = SocketAddr::from(([127, 0, 0, 1], port));
            registry.host = registry.addr.to_string();
            registry.write_config();
            match registry.spawn() {
                Ok(()) => break,
                Err(e) if attempt < 3 && e.contains("address already in use") => continue,
                Err(e) => panic!("{e}"),
            }
        }
        registry
    }

    fn write_config(&self) {
        let path = |rel: &str| {
            // JSON strings are YAML double-quoted scalars.
            serde_json::to_string(&self.dir.path().join(rel)).expect("path as JSON")
        };
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n  secret: imagestream-webhook-tests\n",
            storage = path("storage"),
            addr = self.addr,
        );
        if self.auth {
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: imagestream-webhook-tests\n    path: {}\n",
                path("htpasswd")
            ));
        }
        if let Some(notify) = &self.notify {
            config.push_str(notify);
        }
        fs::write(self.dir.path().join("config.yml"), config).expect("write config.yml");
    }

    /// Spawns the registry on the current config and waits until `/v2/`
    /// answers; on failure stops it and returns the reason with its log.
    fn spawn(&mut self) -> Result<(), String> {
        let log_path = self.dir.path().join("registry.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open registry.log");
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        self.child = Some(child);
        let expected = if self.auth { 401 } else { 200 };
        let deadline = Instant::now() + START_BOUND;
        let failure = loop {
            let child = self.child.as_mut().expect("child");
            if let Some(status) = child.try_wait().expect("try_wait registry") {
                break format!("docker-registry exited with {status}");
            }
            match self.request("GET", "/v2/", None, false) {
                Ok(r) if r.status == expected => return Ok(()),
                Ok(r) if Instant::now() >= deadline => {
                    break format!("GET /v2/ answered {} instead of {expected}", r.status);
                }
                Err(e) if Instant::now() >= deadline => {
                    break format!("GET /v2/ failed after {START_BOUND:?}: {e}");
                }
                _ => thread::sleep(Duration::from_millis(25)),
            }
        };
        self.stop();
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        Err(format!(
            "docker-registry did not start on {}: {failure}\n--- registry.log ---\n{}",
            self.addr,
            tail(&log, 8000)
        ))
    }

    /// Stops the registry (SIGKILL); the storage stays for [`Registry::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the registry again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("restart: {e}");
        }
    }

    /// The registry's log so far (stdout and stderr of every run).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Pushes a small single-platform (linux/amd64) OCI image to REPO:TAG and
    /// returns the manifest digest the registry serves for the tag. Another
    /// `seed` gives other content, hence another digest.
    pub fn push(&self, repo: &str, tag: &str, seed: &str) -> String {
        let layout = Layout::new(&self.dir);
        let manifest = layout.image(seed, "amd64");
        layout.finish(&manifest, tag);
        self.copy_and_check(&layout, repo, tag, &manifest.digest, OCI_MANIFEST)
    }

    /// Pushes a multi-arch image, an OCI image index of linux/amd64 and
    /// linux/arm64 manifests, to REPO:TAG; returns the index digest.
    pub fn push_index(&self, repo: &str, tag: &str, seed: &str) -> String {
        self.push_index_children(repo, tag, seed).0
    }

    /// [`Registry::push_index`], returning the index digest and the digests
    /// of its linux/amd64 and linux/arm64 manifests, in that order.
    pub fn push_index_children(&self, repo: &str, tag: &str, seed: &str) -> (String, Vec<String>) {
        let layout = Layout::new(&self.dir);
        let children: Vec<Blob> = ["amd64", "arm64"]
            .iter()
            .map(|arch| layout.image(seed, arch))
            .collect();
        let manifests: Vec<Value> = ["amd64", "arm64"]
            .iter()
            .zip(&children)
            .map(|(arch, m)| {
                json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": m.digest,
                    "size": m.size,
                    "platform": {"architecture": arch, "os": "linux"},
                })
            })
            .collect();
        let index = layout
            .blob(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": manifests,
            }))
            .with_type(OCI_INDEX);
        layout.finish(&index, tag);
        let digest = self.copy_and_check(&layout, repo, tag, &index.digest, OCI_INDEX);
        (digest, children.into_iter().map(|c| c.digest).collect())
    }

    /// Pushes a one-layer linux/amd64 OCI image whose config blob is
    /// `config(diff_id)`, bytes as given (an image config, or anything);
    /// returns the manifest digest.
    pub fn push_config(
        &self,
        repo: &str,
        tag: &str,
        seed: &str,
        config: impl FnOnce(&str) -> Vec<u8>,
    ) -> String {
        let layout = Layout::new(&self.dir);
        let manifest = layout.image_with(seed, config);
        layout.finish(&manifest, tag);
        self.copy_and_check(&layout, repo, tag, &manifest.digest, OCI_MANIFEST)
    }

    /// Pushes an OCI index with one image per `(architecture, run config)`,
    /// all linux; returns the index digest and each child's.
    pub fn push_index_configs(
        &self,
        repo: &str,
        tag: &str,
        seed: &str,
        children: &[(&str, Value)],
    ) -> (String, Vec<String>) {
        let layout = Layout::new(&self.dir);
        let mut digests = Vec::new();
        let manifests: Vec<Value> = children
            .iter()
            .map(|(arch, run)| {
                let m = layout.image_with(&format!("{seed}-{arch}"), |diff_id| {
                    serde_json::to_vec(&json!({
                        "architecture": arch,
                        "os": "linux",
                        "config": run,
                        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                    }))
                    .expect("JSON")
                });
                digests.push(m.digest.clone());
                json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": m.digest,
                    "size": m.size,
                    "platform": {"architecture": arch, "os": "linux"},
                })
            })
            .collect();
        let index = layout
            .blob(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}))
            .with_type(OCI_INDEX);
        layout.finish(&index, tag);
        let digest = self.copy_and_check(&layout, repo, tag, &index.digest, OCI_INDEX);
        (digest, digests)
    }

    /// Replaces the stored bytes of blob `digest`, as a registry that lies
    /// would serve them (the digest no longer matches).
    pub fn replace_blob(&self, digest: &str, bytes: &[u8]) {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        let path = self
            .dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data");
        assert!(path.exists(), "no stored blob {digest}");
        fs::write(&path, bytes).expect("replace blob");
    }

    fn copy_and_check(
        &self,
        layout: &Layout,
        repo: &str,
        tag: &str,
        digest: &str,
        media_type: &str,
    ) -> String {
        let digest_file = layout.dir.path().join("pushed-digest");
        let mut skopeo = Command::new("skopeo");
        skopeo
            .arg("--insecure-policy")
            .arg("--tmpdir")
            .arg(layout.dir.path())
            .args(["copy", "--quiet", "--all", "--preserve-digests"])
            .args(["--retry-times", "0", "--dest-tls-verify=false"])
            .arg("--digestfile")
            .arg(&digest_file);
        if self.auth {
            skopeo
                .arg("--dest-creds")
                .arg(format!("{}:{}", self.user, self.password));
        } else {
            skopeo.arg("--dest-no-creds");
        }
        skopeo
            .arg(format!("oci:{}:{tag}", layout.root().display()))
            .arg(format!("docker://{}/{repo}:{tag}", self.host));
        run(&mut skopeo, "skopeo copy");
        *self.copied_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let pushed = fs::read_to_string(&digest_file).expect("read skopeo --digestfile");
        let served = self.head_manifest(repo, tag);
        let served_digest = served.header("docker-content-digest").unwrap_or("");
        let served_type = served.header("content-type").unwrap_or("");
        assert!(
            served.status == 200
                && served_digest == digest
                && pushed.trim() == digest
                && served_type == media_type,
            "pushed {repo}:{tag} as {media_type} {digest} (skopeo says {pushed}) \
             but the registry serves {} {served_type} {served_digest}",
            served.status
        );
        served_digest.to_string()
    }

    /// When the last push's `skopeo copy` ended: a push is complete for
    /// the registry (and its notification sent) from then on.
    pub fn copied_at(&self) -> Option<Instant> {
        *self.copied_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tags the manifest of REPO:TAG as each of `new_tags` too (one manifest
    /// PUT each, no blobs copied): a repository of many tags in moments.
    pub fn add_tags(&self, repo: &str, tag: &str, new_tags: &[String]) {
        let manifest = self.get_manifest(repo, tag);
        assert_eq!(manifest.status, 200, "GET {repo}:{tag}");
        let media_type = manifest
            .header("content-type")
            .unwrap_or(OCI_MANIFEST)
            .to_owned();
        // Eight connections at once: the registry syncs each PUT to disk.
        let chunk = new_tags.len().div_ceil(8).max(1);
        thread::scope(|scope| {
            for part in new_tags.chunks(chunk) {
                let (manifest, media_type) = (&manifest, &media_type);
                scope.spawn(move || self.put_manifests(repo, part, media_type, &manifest.body));
            }
        });
    }

    fn put_manifests(&self, repo: &str, new_tags: &[String], media_type: &str, body: &[u8]) {
        for new in new_tags {
            let path = format!("/v2/{repo}/manifests/{new}");
            let mut stream =
                TcpStream::connect_timeout(&self.addr, HTTP_BOUND).expect("connect to registry");
            stream.set_read_timeout(Some(HTTP_BOUND)).expect("timeout");
            stream.set_write_timeout(Some(HTTP_BOUND)).expect("timeout");
            let mut head = format!(
                "PUT {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: {media_type}\r\nContent-Length: {}\r\n",
                self.host,
                body.len()
            );
            if self.auth {
                let creds = base64(format!("{}:{}", self.user, self.password).as_bytes());
                head.push_str(&format!("Authorization: Basic {creds}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).expect("write PUT");
            stream.write_all(body).expect("write manifest");
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).expect("read PUT answer");
            let r = parse_response(&raw, false).expect("PUT answer");
            assert_eq!(
                r.status,
                201,
                "PUT {path}: {}",
                String::from_utf8_lossy(&r.body)
            );
        }
    }

    /// Deletes the manifest REPO@DIGEST; docker-registry 2.8 also drops every
    /// tag that pointed at it, so the tag then answers 404 (MANIFEST_UNKNOWN).
    pub fn delete(&self, repo: &str, digest: &str) {
        let path = format!("/v2/{repo}/manifests/{digest}");
        let r = self
            .request("DELETE", &path, None, true)
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}"));
        assert_eq!(
            r.status,
            202,
            "DELETE {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }

    /// `HEAD /v2/REPO/manifests/REFERENCE` with credentials and
    /// [`MANIFEST_ACCEPT`]; the digest is in `docker-content-digest`.
    pub fn head_manifest(&self, repo: &str, reference: &str) -> Response {
        self.manifest_request("HEAD", repo, reference)
    }

    /// `GET /v2/REPO/manifests/REFERENCE` with credentials and [`MANIFEST_ACCEPT`].
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Response {
        self.manifest_request("GET", repo, reference)
    }

    fn manifest_request(&self, method: &str, repo: &str, reference: &str) -> Response {
        let path = format!("/v2/{repo}/manifests/{reference}");
        self.request(method, &path, Some(MANIFEST_ACCEPT), true)
            .unwrap_or_else(|e| panic!("{method} {path} on {}: {e}", self.host))
    }

    /// One HTTP/1.1 request to the registry (`Connection: close`), with basic
    /// authentication when `with_creds`. Errors are the socket's, so a
    /// stopped registry gives `ConnectionRefused`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        accept: Option<&str>,
        with_creds: bool,
    ) -> io::Result<Response> {
        let mut stream = TcpStream::connect_timeout(&self.addr, HTTP_BOUND)?;
        stream.set_read_timeout(Some(HTTP_BOUND))?;
        stream.set_write_timeout(Some(HTTP_BOUND))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: imagestream-webhook-tests\r\n\
             Connection: close\r\nContent-Length: 0\r\n",
            self.host
        );
        if let Some(accept) = accept {
            head.push_str(&format!("Accept: {accept}\r\n"));
        }
        if with_creds {
            let creds = base64(format!("{}:{}", self.user, self.password).as_bytes());
            head.push_str(&format!("Authorization: Basic {creds}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        parse_response(&raw, method == "HEAD")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn parse_response(raw: &[u8], head_only: bool) -> io::Result<Response> {
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{what}: {:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(300)])
            ),
        )
    };
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let text = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if head_only {
        body.clear();
    } else if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

fn base64(input: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// The path of `name` on PATH, or a panic that says how to install it.
fn find_tool(name: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed; the registry tests need it: {install}")
        })
}

/// Runs `cmd` with no stdin for at most [`COMMAND_BOUND`] and returns its
/// stdout; panics with its stderr if it fails, or kills it and panics if it
/// takes longer.
fn run(cmd: &mut Command, what: &str) -> Vec<u8> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what} ({cmd:?}): {e}"));
    let drain = |mut pipe: Box<dyn io::Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + COMMAND_BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let out = stdout.join().expect("stdout reader");
    let err = String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned();
    match status {
        Some(s) if s.success() => out,
        Some(s) => panic!(
            "{what} failed ({s}): {cmd:?}\n--- stderr ---\n{err}\n--- stdout ---\n{}",
            String::from_utf8_lossy(&out)
        ),
        None => panic!(
            "{what} took more than {COMMAND_BOUND:?}, killed: {cmd:?}\n--- stderr ---\n{err}"
        ),
    }
}

/// A descriptor of a blob written to a [`Layout`].
struct Blob {
    media_type: &'static str,
    digest: String,
    size: usize,
}

impl Blob {
    fn with_type(self, media_type: &'static str) -> Blob {
        Blob { media_type, ..self }
    }
}

/// An OCI image layout (oci-layout, index.json, blobs/sha256/) in a
/// temporary directory inside the registry's.
struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    fn new(parent: &tempfile::TempDir) -> Layout {
        let dir = tempfile::Builder::new()
            .prefix("push-")
            .tempdir_in(parent.path())
            .expect("layout tempdir");
        fs::create_dir_all(dir.path().join("layout/blobs/sha256")).expect("blobs dir");
        Layout { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("layout")
    }

    /// A one-layer image whose config blob is `config(diff_id)`.
    fn image_with(&self, seed: &str, config: impl FnOnce(&str) -> Vec<u8>) -> Blob {
        let tar = tar_with_file("seed.txt", format!("{seed}\n").as_bytes());
        let diff_id = self.bytes(&tar, "").digest;
        fs::remove_file(
            self.root()
                .join("blobs/sha256")
                .join(&diff_id["sha256:".len()..]),
        )
        .expect("remove uncompressed layer");
        let layer = self.bytes(
            &gzip_stored(&tar),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        );
        let config = self
            .bytes(&config(&diff_id), OCI_MANIFEST)
            .with_type("application/vnd.oci.image.config.v1+json");
        let descriptor =
            |b: &Blob| json!({"mediaType": b.media_type, "digest": b.digest, "size": b.size});
        self.blob(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(&config),
            "layers": [descriptor(&layer)],
        }))
    }

    /// Writes `bytes` as a blob named by its sha256 (from `sha256sum`).
    fn bytes(&self, bytes: &[u8], media_type: &'static str) -> Blob {
        let blobs = self.root().join("blobs/sha256");
        let tmp = blobs.join("incoming");
        fs::write(&tmp, bytes).expect("write blob");
        let hex = sha256sum(&tmp);
        fs::rename(&tmp, blobs.join(&hex)).expect("rename blob");
        Blob {
            media_type,
            digest: format!("sha256:{hex}"),
            size: bytes.len(),
        }
    }

    /// Writes a JSON document as a blob (manifest media type until changed).
    fn blob(&self, value: &Value) -> Blob {
        let bytes = serde_json::to_vec(value).expect("JSON");
        self.bytes(&bytes, OCI_MANIFEST)
    }

    /// Writes a one-layer linux/ARCH image whose content depends on `seed`;
    /// returns its manifest.
    fn image(&self, seed: &str, arch: &str) -> Blob {
        let tar = tar_with_file("seed.txt", format!("{seed}\n{arch}\n").as_bytes());
        let diff_id = self.bytes(&tar, "").digest;
        fs::remove_file(
            self.root()
                .join("blobs/sha256")
                .join(&diff_id["sha256:".len()..]),
        )
        .expect("remove uncompressed layer");
        let layer = self.bytes(
            &gzip_stored(&tar),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        );
        let config = self
            .blob(&json!({
                "architecture": arch,
                "os": "linux",
                "config": {"Labels": {"seed": seed}},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            }))
            .with_type("application/vnd.oci.image.config.v1+json");
        let descriptor =
            |b: &Blob| json!({"mediaType": b.media_type, "digest": b.digest, "size": b.size});
        self.blob(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(&config),
            "layers": [descriptor(&layer)],
        }))
    }

    /// Writes oci-layout and an index.json whose only entry is `top`, named TAG.
    fn finish(&self, top: &Blob, tag: &str) {
        fs::write(
            self.root().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .expect("write oci-layout");
        let index = json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": top.media_type,
                "digest": top.digest,
                "size": top.size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }],
        });
        fs::write(self.root().join("index.json"), index.to_string()).expect("write index.json");
    }
}

/// The lower-case hex sha256 of a file, by coreutils' `sha256sum`.
fn sha256sum(path: &Path) -> String {
    let out = run(
        Command::new("sha256sum").arg("--binary").arg(path),
        "sha256sum",
    );
    let out = String::from_utf8(out).expect("sha256sum output");
    let hex = out.split_whitespace().next().unwrap_or("").to_string();
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "unexpected sha256sum output: {out:?}"
    );
    hex
}

/// A ustar archive holding one regular file.
fn tar_with_file(name: &str, content: &[u8]) -> Vec<u8> {
    assert!(name.len() < 100);
    let mut header = [0u8; 512];
    let mut put =
        |offset: usize, value: &[u8]| header[offset..offset + value.len()].copy_from_slice(value);
    put(0, name.as_bytes());
    put(100, b"0000644\0"); // mode
    put(108, b"0000000\0"); // uid
    put(116, b"0000000\0"); // gid
    put(124, format!("{:011o}\0", content.len()).as_bytes()); // size
    put(136, b"00000000000\0"); // mtime
    put(148, b"        "); // checksum, spaces while summing
    put(156, b"0"); // regular file
    put(257, b"ustar\0"); // magic
    put(263, b"00"); // version
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().next_multiple_of(512), 0);
    tar.extend_from_slice(&[0u8; 1024]); // end of archive
    tar
}

/// A gzip member of `data` in stored (uncompressed) deflate blocks.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none())); // BFINAL, BTYPE=00
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[test]
fn authenticated_registry_push_index_delete_restart() {
    let started = Instant::now();
    let mut registry = Registry::start();
    assert_eq!(registry.host, registry.addr.to_string());
    assert!(registry.addr.ip().is_loopback());

    let anonymous = registry
        .request("GET", "/v2/", None, false)
        .expect("GET /v2/");
    assert_eq!(anonymous.status, 401);
    assert!(
        anonymous
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Basic ")),
        "{anonymous:?}"
    );
    let authorized = registry
        .request("GET", "/v2/", None, true)
        .expect("GET /v2/");
    assert_eq!(authorized.status, 200);

    // A single-platform image; another seed moves the tag.
    let first = registry.push("team/app", "v1", "one");
    assert!(first.starts_with("sha256:") && first.len() == 71, "{first}");
    let head = registry.head_manifest("team/app", "v1");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("docker-content-digest"), Some(first.as_str()));
    assert_eq!(head.header("content-type"), Some(OCI_MANIFEST));
    let manifest = registry.get_manifest("team/app", &first);
    assert_eq!(manifest.json()["layers"].as_array().map(Vec::len), Some(1));
    let unauthorized = registry
        .request(
            "HEAD",
            "/v2/team/app/manifests/v1",
            Some(MANIFEST_ACCEPT),
            false,
        )
        .expect("HEAD without credentials");
    assert_eq!(unauthorized.status, 401);

    let second = registry.push("team/app", "v1", "two");
    assert_ne!(second, first);
    assert_eq!(
        registry
            .head_manifest("team/app", "v1")
            .header("docker-content-digest"),
        Some(second.as_str())
    );
    // The same seed gives the same content, hence the same digest.
    assert_eq!(registry.push("team/app", "again", "one"), first);

    // A multi-arch image: the tag serves the OCI index itself.
    let index_digest = registry.push_index("team/multi", "latest", "one");
    let head = registry.head_manifest("team/multi", "latest");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some(OCI_INDEX));
    assert_eq!(
        head.header("docker-content-digest"),
        Some(index_digest.as_str())
    );
    let index = registry.get_manifest("team/multi", "latest").json();
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            let digest = m["digest"].as_str().expect("digest");
            let child = registry.head_manifest("team/multi", digest);
            assert_eq!(child.status, 200, "child manifest {digest}");
            assert_eq!(child.header("content-type"), Some(OCI_MANIFEST));
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    // docker-registry 2.8 will not hand an OCI index to a client that does
    // not accept it.
    let narrow = registry
        .request(
            "HEAD",
            "/v2/team/multi/manifests/latest",
            Some(OCI_MANIFEST),
            true,
        )
        .expect("HEAD");
    assert_eq!(narrow.status, 404);

    // Delete: the tag is gone.
    registry.delete("team/app", &second);
    assert_eq!(registry.head_manifest("team/app", "v1").status, 404);
    assert_eq!(registry.head_manifest("team/app", &second).status, 404);

    // Down: connection refused; back: same port, same storage.
    registry.stop();
    let down = registry
        .request("GET", "/v2/", None, false)
        .expect_err("the registry is stopped");
    assert_eq!(down.kind(), io::ErrorKind::ConnectionRefused, "{down}");
    let addr = registry.addr;
    registry.restart();
    assert_eq!(registry.addr, addr);
    assert_eq!(
        registry.request("GET", "/v2/", None, false).unwrap().status,
        401
    );
    let again = registry.head_manifest("team/app", "again");
    assert_eq!(again.header("docker-content-digest"), Some(first.as_str()));
    let multi = registry.head_manifest("team/multi", "latest");
    assert_eq!(
        multi.header("docker-content-digest"),
        Some(index_digest.as_str())
    );
    assert_eq!(registry.head_manifest("team/app", "v1").status, 404);
    assert!(
        registry.log().contains("listening on"),
        "{}",
        registry.log()
    );

    drop(registry);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "dropping the registry stops it"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn anonymous_registry_push() {
    let registry = Registry::start_anonymous();
    assert_eq!(
        registry.request("GET", "/v2/", None, false).unwrap().status,
        200
    );
    let digest = registry.push("library/busybox", "1.36", "anonymous");
    let head = registry
        .request(
            "HEAD",
            "/v2/library/busybox/manifests/1.36",
            Some(MANIFEST_ACCEPT),
            false,
        )
        .expect("HEAD");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("docker-content-digest"), Some(digest.as_str()));
    let index = registry.push_index("library/busybox", "multi", "anonymous");
    assert_ne!(index, digest);
    registry.delete("library/busybox", &index);
    assert_eq!(
        registry.head_manifest("library/busybox", "multi").status,
        404
    );
}

#[test]
fn layer_is_a_valid_tar_gz() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("layer.tar.gz");
    fs::write(&path, gzip_stored(&tar_with_file("seed.txt", b"hello\n"))).expect("write");
    let listing = run(Command::new("tar").arg("-tzf").arg(&path), "tar -tzf");
    assert_eq!(String::from_utf8_lossy(&listing), "seed.txt\n");
    let content = run(Command::new("tar").arg("-xzOf").arg(&path), "tar -xzOf");
    assert_eq!(content, b"hello\n");
    assert_eq!(base64(b"importer:pw"), "aW1wb3J0ZXI6cHc=");
    assert_eq!(base64(b"ab"), "YWI=");
}

/// A TLS front for a registry, as an ingress would be: TLS on a free port of
/// 127.0.0.1 with a certificate (for `127.0.0.1`) from a CA of its own,
/// forwarding the plain bytes to the registry. Stops on drop.
pub struct TlsFront {
    /// "127.0.0.1:PORT".
    pub host: String,
    /// The CA that signed the front's certificate, PEM.
    pub ca_pem: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TlsFront {
    pub fn start(backend: SocketAddr) -> TlsFront {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
        let certs = imagestream_webhook::cli::certs::generate_dev().expect("certs");
        let chain = CertificateDer::pem_slice_iter(certs.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate");
        let key = PrivateKeyDer::from_pem_slice(certs.key_pem.as_bytes()).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let host = listener.local_addr().expect("addr").to_string();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let tcp = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => match accepted {
                            Ok((tcp, _)) => tcp,
                            Err(_) => continue,
                        },
                    };
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(Ok(mut tls)) =
                            tokio::time::timeout(HTTP_BOUND, acceptor.accept(tcp)).await
                        else {
                            return;
                        };
                        let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                            return;
                        };
                        let _ = tokio::time::timeout(
                            COMMAND_BOUND,
                            tokio::io::copy_bidirectional(&mut tls, &mut plain),
                        )
                        .await;
                    });
                }
            });
        });
        TlsFront {
            host,
            ca_pem: certs.ca_pem,
            stop: Some(stop),
        }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `import-image NAME:1 --from FROM` in namespace team, with `extra`
/// arguments: exit code and stderr.
fn import(dir: &Path, name: &str, from: &str, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(crate::common::BIN)
        .args([
            "import-image",
            &format!("{name}:1"),
            "--from",
            from,
            "--confirm",
        ])
        .args(extra)
        .arg("--streams-dir")
        .arg(dir)
        .args(["-n", "team"])
        .output()
        .expect("run import-image");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `ImportSuccess` condition message of tag `1` of stream NAME in DIR.
fn import_condition(dir: &Path, name: &str) -> Option<String> {
    let text = fs::read_to_string(dir.join(format!("{name}.yaml"))).ok()?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).ok()?;
    docs.iter()
        .find(|d| d["kind"] == "ImageStream" && d["metadata"]["name"] == name)?["status"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["tag"] == "1")?["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "ImportSuccess" && c["status"] == "False")?["message"]
        .as_str()
        .map(str::to_owned)
}

/// Registry errors say what to do, on the CLI's stderr and in the
/// `ImportSuccess=False` condition: a registry that answers HTTPS in plain
/// HTTP names `importPolicy.insecure` / `--insecure`; a certificate from an
/// unknown CA names `--registry-ca`; a 401 with no matching pull secret names
/// the Secret types, the namespace and the registry host. Each against a real
/// registry; the first two fixes are then shown to work.
#[test]
fn registry_errors_name_the_fix() {
    let plain = Registry::start_anonymous();
    plain.push("team/app", "1", "one");
    let locked = Registry::start();
    locked.push("team/app", "1", "one");
    let front = TlsFront::start(plain.addr);
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("registry-ca.pem");
    fs::write(&ca, &front.ca_pem).expect("write ca");
    let ca = ca.display().to_string();

    let cases: [(&str, String, Vec<&str>, Vec<String>); 3] = [
        (
            "plain",
            format!("{}/team/app:1", plain.host),
            vec![],
            vec![
                format!(
                    "the registry {} answered in plain HTTP, not HTTPS",
                    plain.host
                ),
                "set importPolicy.insecure: true on the tag".to_owned(),
                "--insecure".to_owned(),
            ],
        ),
        (
            "untrusted",
            format!("{}/team/app:1", front.host),
            vec![],
            vec![
                format!(
                    "the TLS certificate of registry {} is signed by a CA that is not trusted",
                    front.host
                ),
                "--registry-ca FILE".to_owned(),
            ],
        ),
        (
            "locked",
            format!("{}/team/app:1", locked.host),
            vec!["--insecure"],
            vec![
                "the registry asks for credentials (401)".to_owned(),
                format!(
                    "no kubernetes.io/dockerconfigjson (or kubernetes.io/dockercfg) Secret in namespace team has credentials for {}",
                    locked.host
                ),
                format!(
                    "kubectl create secret docker-registry NAME --docker-server={}",
                    locked.host
                ),
            ],
        ),
    ];
    for (name, from, extra, wants) in &cases {
        let (code, stderr) = import(dir.path(), name, from, extra);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        let condition = import_condition(dir.path(), name).unwrap_or_else(|| {
            panic!("{name}: no ImportSuccess=False condition; stderr: {stderr}")
        });
        for want in wants {
            assert!(
                stderr.contains(want.as_str()),
                "{name}: {want:?} missing on stderr: {stderr}"
            );
            assert!(
                condition.contains(want.as_str()),
                "{name}: {want:?} missing in the condition: {condition}"
            );
        }
        assert!(!stderr.contains("InvalidContentType"), "{stderr}");
    }
    // With its CA trusted, the TLS registry imports.
    let (code, stderr) = import(
        dir.path(),
        "untrusted",
        &format!("{}/team/app:1", front.host),
        &["--registry-ca", &ca],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(import_condition(dir.path(), "untrusted"), None);
    // An insecure tag speaks TLS without verification to a registry that
    // speaks TLS, and plain HTTP to one that answers in it.
    for (name, host) in [("tlsinsecure", &front.host), ("plaininsecure", &plain.host)] {
        let (code, stderr) = import(
            dir.path(),
            name,
            &format!("{host}/team/app:1"),
            &["--insecure"],
        );
        assert_eq!(code, Some(0), "{name}: {stderr}");
    }

    // `serve`'s importer writes the same conditions.
    let served = tempfile::tempdir().expect("tempdir");
    let mut streams = String::new();
    for (name, from, extra, _) in &cases {
        streams.push_str(&format!(
            "---\napiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {{name: {name}, namespace: team}}\nspec:\n  tags:\n  - name: \"1\"\n    from: {{kind: DockerImage, name: \"{from}\"}}\n    importPolicy: {{insecure: {}}}\n",
            extra.contains(&"--insecure")
        ));
    }
    for (name, ..) in &cases {
        // One file per stream, as the CLI wrote them.
        let doc = streams
            .split("---\n")
            .find(|d| d.contains(&format!("name: {name},")))
            .expect("stream");
        fs::write(served.path().join(format!("{name}.yaml")), doc).expect("write stream");
    }
    let _server = crate::common::Server::start(served.path(), &["--audit-log", "/dev/null"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    for (name, _, _, wants) in &cases {
        let condition = loop {
            if let Some(c) = import_condition(served.path(), name) {
                break c;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: serve wrote no condition"
            );
            thread::sleep(Duration::from_millis(100));
        };
        for want in wants {
            assert!(
                condition.contains(want.as_str()),
                "serve, {name}: {want:?} missing: {condition}"
            );
        }
    }
}
