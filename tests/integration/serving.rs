//! End-to-end tests of the HTTPS edge: real TLS handshakes and HTTP/1.1
//! requests on 127.0.0.1, every wait bounded.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::StatusCode;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use imagestream_webhook::cli::certs::{self, GeneratedCerts};
use imagestream_webhook::serving::server::{self, ServeOptions};
use imagestream_webhook::serving::tls::{self, CertReloader, TlsError};

/// Upper bound for anything that should happen "soon".
const BOUND: Duration = Duration::from_secs(5);
const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

fn app() -> Router {
    Router::new().route("/", get(|| async { "ok" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "slow"
        }),
    )
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<io::Result<()>>,
}

impl Server {
    async fn start(reloader: Arc<CertReloader>, app: Router, opts: ServeOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let config = tls::server_config(reloader);
        let shutdown = async {
            let _ = stopped.await;
        };
        let handle = tokio::spawn(server::serve_tls(listener, config, app, opts, shutdown));
        Self {
            addr,
            stop: Some(stop),
            handle,
        }
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    async fn join(mut self) -> io::Result<()> {
        self.shutdown();
        timeout(BOUND, &mut self.handle)
            .await
            .expect("serve_tls returns after shutdown")
            .unwrap()
    }
}

fn write_pair(dir: &Path, certs: &GeneratedCerts) -> (PathBuf, PathBuf) {
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    std::fs::write(&cert, &certs.cert_pem).unwrap();
    std::fs::write(&key, &certs.key_pem).unwrap();
    (cert, key)
}

async fn serve_dev(opts: ServeOptions) -> (Server, GeneratedCerts, tempfile::TempDir) {
    let certs = certs::generate_dev().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(dir.path(), &certs);
    let reloader = CertReloader::load(cert, key).unwrap();
    (Server::start(reloader, app(), opts).await, certs, dir)
}

fn client_config(
    ca_pem: &str,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

async fn tls_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    timeout(BOUND, TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "tls handshake"))?
}

struct Client {
    sender: SendRequest<Empty<Bytes>>,
    driver: JoinHandle<()>,
}

impl Client {
    async fn open(addr: SocketAddr, config: Arc<ClientConfig>) -> io::Result<Self> {
        let tls = tls_connect(addr, config).await?;
        Ok(Self::over(tls).await)
    }

    async fn over(tls: TlsStream<TcpStream>) -> Self {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Self { sender, driver }
    }

    async fn get(&mut self, path: &str) -> StatusCode {
        let req = hyper::Request::get(path)
            .header("host", "localhost")
            .body(Empty::new())
            .unwrap();
        let rsp = timeout(BOUND, self.sender.send_request(req))
            .await
            .expect("response within bound")
            .unwrap();
        rsp.status()
    }
}

/// Waits until the server closes `stream`: EOF or an error, not a timeout.
async fn assert_closed_by_server(stream: &mut (impl AsyncReadExt + Unpin)) -> Duration {
    let start = Instant::now();
    let mut buf = Vec::new();
    let read = timeout(BOUND, stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "server kept the connection open");
    start.elapsed()
}

#[tokio::test]
async fn serves_https_with_tls_12_and_13() {
    let (server, certs, _dir) = serve_dev(ServeOptions::default()).await;
    let cases = [
        (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
    ];
    for (version, expected) in cases {
        let tls = tls_connect(server.addr, client_config(&certs.ca_pem, &[version]))
            .await
            .unwrap();
        let (_, session) = tls.get_ref();
        assert_eq!(session.protocol_version(), Some(expected));
        assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
        let mut client = Client::over(tls).await;
        assert_eq!(client.get("/").await, StatusCode::OK);
    }
    server.join().await.unwrap();
}

#[tokio::test]
async fn client_offering_only_h2_is_refused() {
    let (server, certs, _dir) = serve_dev(ServeOptions::default()).await;
    let mut config = (*client_config(&certs.ca_pem, BOTH)).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    assert!(tls_connect(server.addr, Arc::new(config)).await.is_err());
    server.join().await.unwrap();
}

#[tokio::test]
async fn reload_now_rotates_for_new_connections_only() {
    let a = certs::generate_dev().unwrap();
    let b = certs::generate_dev().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(dir.path(), &a);
    let reloader = CertReloader::load(&cert, &key).unwrap();
    let server = Server::start(reloader.clone(), app(), ServeOptions::default()).await;

    let mut old = Client::open(server.addr, client_config(&a.ca_pem, BOTH))
        .await
        .unwrap();
    assert_eq!(old.get("/").await, StatusCode::OK);

    write_pair(dir.path(), &b);
    assert!(reloader.reload_now().unwrap(), "contents changed");
    assert!(!reloader.reload_now().unwrap(), "nothing new to load");

    let mut new = Client::open(server.addr, client_config(&b.ca_pem, BOTH))
        .await
        .unwrap();
    assert_eq!(new.get("/").await, StatusCode::OK);
    let stale = tls_connect(server.addr, client_config(&a.ca_pem, BOTH)).await;
    assert!(stale.is_err(), "new handshakes must present cert B");
    assert_eq!(
        old.get("/").await,
        StatusCode::OK,
        "old connection survives"
    );

    // A key from another pair, then garbage: both refused, B keeps serving.
    std::fs::write(&key, &a.key_pem).unwrap();
    let err = reloader.reload_now().unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("--tls-key"), "{err}");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    assert!(reloader.reload_now().is_err());
    let mut after = Client::open(server.addr, client_config(&b.ca_pem, BOTH))
        .await
        .unwrap();
    assert_eq!(after.get("/").await, StatusCode::OK);

    server.join().await.unwrap();
}

/// A Secret volume as the kubelet lays it out: the visible files are
/// symlinks through `..data`, which is itself a symlink swapped atomically
/// to a new timestamped directory on every update.
struct SecretVolume {
    dir: tempfile::TempDir,
    generation: usize,
}

impl SecretVolume {
    fn new(cert_pem: &str, key_pem: &str) -> Self {
        let mut volume = Self {
            dir: tempfile::tempdir().unwrap(),
            generation: 0,
        };
        volume.update(cert_pem, key_pem);
        for name in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{name}"), volume.dir.path().join(name))
                .unwrap();
        }
        volume
    }

    fn update(&mut self, cert_pem: &str, key_pem: &str) {
        self.generation += 1;
        let target = format!("..gen_{}", self.generation);
        let root = self.dir.path();
        std::fs::create_dir(root.join(&target)).unwrap();
        std::fs::write(root.join(&target).join("tls.crt"), cert_pem).unwrap();
        std::fs::write(root.join(&target).join("tls.key"), key_pem).unwrap();
        std::os::unix::fs::symlink(&target, root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Retries new connections until one trusting `ca_pem` succeeds.
async fn eventually_served_by(addr: SocketAddr, ca_pem: &str) {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Ok(mut client) = Client::open(addr, client_config(ca_pem, BOTH)).await {
            assert_eq!(client.get("/").await, StatusCode::OK);
            return;
        }
        assert!(Instant::now() < deadline, "rotation not picked up in time");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn watch_follows_a_secret_volume_symlink_swap() {
    let a = certs::generate_dev().unwrap();
    let b = certs::generate_dev().unwrap();
    let mut volume = SecretVolume::new(&a.cert_pem, &a.key_pem);
    let reloader = CertReloader::load(volume.path("tls.crt"), volume.path("tls.key")).unwrap();
    let (stop_watch, watch_stopped) = oneshot::channel::<()>();
    let watch = tokio::spawn(
        reloader
            .clone()
            .watch(Duration::from_millis(50), watch_stopped),
    );
    let server = Server::start(reloader, app(), ServeOptions::default()).await;

    let mut old = Client::open(server.addr, client_config(&a.ca_pem, BOTH))
        .await
        .unwrap();
    assert_eq!(old.get("/").await, StatusCode::OK);

    volume.update(&b.cert_pem, &b.key_pem);
    eventually_served_by(server.addr, &b.ca_pem).await;
    assert_eq!(
        old.get("/").await,
        StatusCode::OK,
        "old connection survives"
    );

    // A half-written rotation (new certificate, broken key) is ignored.
    let c = certs::generate_dev().unwrap();
    volume.update(&c.cert_pem, "not a key");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut client = Client::open(server.addr, client_config(&b.ca_pem, BOTH))
        .await
        .unwrap();
    assert_eq!(client.get("/").await, StatusCode::OK);

    // ...and retried: once the key lands, C is served.
    volume.update(&c.cert_pem, &c.key_pem);
    eventually_served_by(server.addr, &c.ca_pem).await;

    stop_watch.send(()).unwrap();
    timeout(BOUND, watch).await.expect("watch stops").unwrap();
    server.join().await.unwrap();
}

fn short_timeouts() -> ServeOptions {
    ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        handshake_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    }
}

#[tokio::test]
async fn silent_and_slow_clients_are_dropped_while_others_are_served() {
    let (server, certs, _dir) = serve_dev(short_timeouts()).await;
    let config = client_config(&certs.ca_pem, BOTH);

    let mut silent = tls_connect(server.addr, config.clone()).await.unwrap();
    let mut half = tls_connect(server.addr, config.clone()).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: local")
        .await
        .unwrap();
    half.flush().await.unwrap();

    let mut other = Client::open(server.addr, config).await.unwrap();
    assert_eq!(other.get("/").await, StatusCode::OK);

    let waited = assert_closed_by_server(&mut silent).await;
    assert!(
        waited >= Duration::from_millis(100),
        "closed too early: {waited:?}"
    );
    assert_closed_by_server(&mut half).await;
    server.join().await.unwrap();
}

#[tokio::test]
async fn stalled_tls_handshake_is_dropped() {
    let (server, _certs, _dir) = serve_dev(short_timeouts()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    assert_closed_by_server(&mut tcp).await;
    server.join().await.unwrap();
}

#[tokio::test]
async fn connection_limit_pauses_accept_until_a_slot_frees() {
    let opts = ServeOptions {
        max_connections: 1,
        ..ServeOptions::default()
    };
    let (server, certs, _dir) = serve_dev(opts).await;
    let config = client_config(&certs.ca_pem, BOTH);

    let mut first = Client::open(server.addr, config.clone()).await.unwrap();
    assert_eq!(first.get("/").await, StatusCode::OK);

    // The second connection waits in the kernel's backlog: no handshake yet.
    let second = tokio::spawn(Client::open(server.addr, config));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "accepted beyond the limit");

    drop(first);
    let mut second = timeout(BOUND, second).await.unwrap().unwrap().unwrap();
    assert_eq!(second.get("/").await, StatusCode::OK);
    server.join().await.unwrap();
}

#[tokio::test]
async fn shutdown_answers_in_flight_requests_then_returns() {
    // Each handler adds a permit when it starts, so the test can fire the
    // shutdown only once both requests are known to be in flight.
    let started = Arc::new(Semaphore::new(0));
    let release = Arc::new(Notify::new());
    let slow = {
        let started = started.clone();
        move || async move {
            started.add_permits(1);
            tokio::time::sleep(Duration::from_millis(300)).await;
            "slow"
        }
    };
    let gated = {
        let (started, release) = (started.clone(), release.clone());
        move || async move {
            started.add_permits(1);
            release.notified().await;
            "done"
        }
    };
    let app = Router::new()
        .route("/slow", get(slow))
        .route("/gated", get(gated));
    let certs = certs::generate_dev().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(dir.path(), &certs);
    let reloader = CertReloader::load(cert, key).unwrap();
    let mut server = Server::start(reloader, app, ServeOptions::default()).await;
    let config = client_config(&certs.ca_pem, BOTH);

    let idle = Client::open(server.addr, config.clone()).await.unwrap();
    let mut slow = Client::open(server.addr, config.clone()).await.unwrap();
    let mut gated = Client::open(server.addr, config.clone()).await.unwrap();
    let slow_rsp = tokio::spawn(async move { slow.get("/slow").await });
    let gated_rsp = tokio::spawn(async move { gated.get("/gated").await });
    let both = timeout(BOUND, started.acquire_many(2)).await.unwrap();
    drop(both);

    server.shutdown();
    // The idle keep-alive connection is closed (once idle for half a second)...
    timeout(BOUND, idle.driver).await.unwrap().unwrap();
    // ...while the one whose handler sleeps 300ms is answered.
    assert_eq!(slow_rsp.await.unwrap(), StatusCode::OK);
    assert!(
        !server.handle.is_finished(),
        "returned with a request in flight"
    );
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "still accepting"
    );

    release.notify_one();
    assert_eq!(gated_rsp.await.unwrap(), StatusCode::OK);
    server.join().await.unwrap();
}

/// Whether an answer says `Connection: close`.
fn says_close(rsp: &hyper::Response<hyper::body::Incoming>) -> bool {
    rsp.headers()
        .get_all(hyper::header::CONNECTION)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
}

impl Client {
    async fn get_response(&mut self, path: &str) -> hyper::Response<hyper::body::Incoming> {
        let req = hyper::Request::get(path)
            .header("host", "localhost")
            .body(Empty::new())
            .unwrap();
        timeout(BOUND, self.sender.send_request(req))
            .await
            .expect("response within bound")
            .unwrap()
    }
}

/// After `Closing::close` (SIGTERM) the listener still serves, but every
/// answer says `Connection: close`, so keep-alive clients leave between two
/// requests, and a connection left idle is closed by the server.
#[tokio::test]
async fn closing_marks_every_answer_and_closes_idle_connections() {
    let closing = server::Closing::default();
    let opts = ServeOptions {
        closing: closing.clone(),
        ..ServeOptions::default()
    };
    let (server, certs, _dir) = serve_dev(opts).await;
    let config = client_config(&certs.ca_pem, BOTH);

    let mut busy = Client::open(server.addr, config.clone()).await.unwrap();
    let idle = Client::open(server.addr, config.clone()).await.unwrap();
    let rsp = busy.get_response("/").await;
    assert!(!says_close(&rsp), "keep-alive before closing");

    closing.close();
    let rsp = busy.get_response("/").await;
    assert_eq!(rsp.status(), StatusCode::OK);
    assert!(
        says_close(&rsp),
        "answer after closing without Connection: close"
    );
    timeout(BOUND, busy.driver)
        .await
        .expect("the connection ends after its answer")
        .unwrap();
    // A connection opened now is served, and told to close too.
    let mut late = Client::open(server.addr, config).await.unwrap();
    let rsp = late.get_response("/slow").await;
    assert_eq!(rsp.status(), StatusCode::OK);
    assert!(says_close(&rsp));
    // The idle one is closed by the server, the listener still open.
    timeout(BOUND, idle.driver)
        .await
        .expect("the idle connection is closed")
        .unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_ok(),
        "still accepting"
    );
    server.join().await.unwrap();
}

#[tokio::test]
async fn shutdown_grace_bounds_the_wait() {
    let app = Router::new().route("/hang", get(std::future::pending::<&str>));
    let certs = certs::generate_dev().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(dir.path(), &certs);
    let reloader = CertReloader::load(cert, key).unwrap();
    let opts = ServeOptions {
        shutdown_grace: Duration::from_millis(200),
        ..ServeOptions::default()
    };
    let mut server = Server::start(reloader, app, opts).await;
    let mut client = Client::open(server.addr, client_config(&certs.ca_pem, BOTH))
        .await
        .unwrap();
    let req = hyper::Request::get("/hang")
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap();
    let hung = tokio::spawn(client.sender.send_request(req));
    tokio::time::sleep(Duration::from_millis(100)).await;

    server.shutdown();
    let start = Instant::now();
    server.join().await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let outcome = timeout(BOUND, hung).await.unwrap().unwrap();
    assert!(outcome.is_err(), "the hung request was cut off");
}

#[tokio::test]
async fn serve_plain_serves_and_stops() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(server::serve_plain(listener, app(), async {
        let _ = stopped.await;
    }));

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut rsp = Vec::new();
    timeout(BOUND, tcp.read_to_end(&mut rsp))
        .await
        .unwrap()
        .unwrap();
    assert!(
        rsp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&rsp)
    );

    stop.send(()).unwrap();
    timeout(BOUND, handle).await.unwrap().unwrap().unwrap();
}

#[test]
fn install_crypto_provider_is_idempotent() {
    tls::install_crypto_provider();
    tls::install_crypto_provider();
    assert!(rustls::crypto::CryptoProvider::get_default().is_some());
}

#[test]
fn generated_files_load_into_the_reloader() {
    let dir = tempfile::tempdir().unwrap();
    certs::write(dir.path(), &certs::generate("isw", "ns", &[]).unwrap()).unwrap();
    let reloader =
        CertReloader::load(dir.path().join("tls.crt"), dir.path().join("tls.key")).unwrap();
    assert_eq!(reloader.certified_key().cert.len(), 1);
}
