//! The listeners: HTTPS for the admission endpoints, plain HTTP for the admin
//! endpoints, HTTPS or plain HTTP for registry events, and the process's
//! shutdown signal.
//!
//! The serving loop is hand-rolled rather than `axum::serve` because the API
//! server's calls must be protected against slow or stalled clients (TLS
//! handshake and header-read timeouts, a connection cap) and stopped without
//! failing a request, none of which `axum::serve` offers over TLS. The event
//! receiver, which may face the internet (Docker Hub, GitHub), gets the same
//! protections with or without TLS.
//!
//! Stopping takes two steps. [`Closing::close`] (SIGTERM): the listener keeps
//! accepting, every response from then on carries `Connection: close`, and a
//! connection that stays idle is closed, so keep-alive clients leave for other
//! replicas between requests rather than meeting a closed connection in the
//! middle of one. Then the `shutdown` future: the listener closes and open
//! connections finish what they are serving.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Request, header};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;

/// How long to pause after an accept error that is not about one connection
/// (for example EMFILE), so the loop does not spin while the process is out
/// of file descriptors.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(250);

/// Once closing, a connection that answered nothing for this long is closed.
/// Clients that keep sending get `Connection: close` on their next answer
/// instead; only one that sends its first request after this much silence,
/// at the very moment it is closed, can meet the close.
const IDLE_CLOSE: Duration = Duration::from_millis(500);

/// After the last response of a connection, what the client still sends is
/// read and discarded (the rest of a refused body, say) for up to this
/// long, or this many bytes, before the socket is closed: closing a socket
/// with unread input makes the kernel send a reset, and a client that is
/// still sending would meet the reset instead of reading its answer.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024 * 1024;

/// Limits of the HTTPS listener.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Time a client has to send a complete request head; also how long an
    /// idle keep-alive connection is kept.
    pub header_read_timeout: Duration,
    /// Time a client has to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Connections served at once (at least 1); beyond it the listener stops
    /// accepting until one closes.
    pub max_connections: usize,
    /// Longest wait on shutdown for in-flight requests to finish.
    pub shutdown_grace: Duration,
    /// The first step of stopping (see the module's documentation); taken at
    /// the latest when `shutdown` resolves.
    pub closing: Closing,
    /// What the listener serves, in its start-up log line (`serving LABEL`).
    pub label: &'static str,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(30),
            closing: Closing::default(),
            label: "https",
        }
    }
}

/// Tells the HTTPS listener that the process is stopping: from then on every
/// response carries `Connection: close` and idle connections are closed,
/// while new connections are still served. Cheap to clone and to check.
#[derive(Clone, Debug, Default)]
pub struct Closing(Arc<ClosingState>);

#[derive(Debug, Default)]
struct ClosingState {
    /// Read on every response.
    closing: AtomicBool,
    /// Wakes the connections.
    notify: Notify,
}

impl Closing {
    pub fn close(&self) {
        self.0.closing.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_closing(&self) -> bool {
        self.0.closing.load(Ordering::Relaxed)
    }

    async fn closed(&self) {
        let mut notified = pin!(self.0.notify.notified());
        // Registered before the flag is read, so a `close` in between
        // still wakes it.
        notified.as_mut().enable();
        if self.0.closing.load(Ordering::SeqCst) {
            return;
        }
        notified.await;
    }
}

/// Serves `app` over HTTPS (HTTP/1.1) on `listener` until `shutdown`
/// resolves, then stops accepting, lets every open connection finish the
/// request it is serving (closing as after `opts.closing`), and returns once
/// they have closed or `opts.shutdown_grace` has passed.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve(listener, Some(tls), app, opts, shutdown).await
}

/// Serves `app` as [`serve_tls`] does, over HTTPS when `tls` is given and
/// over plain HTTP/1.1 otherwise, with the same timeouts, cap and shutdown.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let conn = Arc::new(ConnConfig::new(tls, app, &opts));
    let mut slots = Slots::new(opts.max_connections);
    let mut tasks = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving {}", opts.label);
    }

    loop {
        // Finished connection tasks are reaped here so the set stays small.
        while tasks.try_join_next().is_some() {}
        let Some(slot) = slots.acquire(&mut shutdown).await else {
            break;
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let conn = Arc::clone(&conn);
                tasks.spawn(async move { conn.serve(stream, peer, slot).await });
            }
            Err(err) if accept_error_needs_backoff(&err) => {
                tracing::warn!(error = %err, "accepting a connection failed; backing off");
                if shutdown_within(ACCEPT_ERROR_BACKOFF, &mut shutdown).await {
                    break;
                }
            }
            Err(err) => tracing::debug!(error = %err, "connection failed before accept"),
        }
    }

    // Closing the listener makes new connections fail fast instead of
    // waiting in the backlog of a process that is going away.
    drop(listener);
    opts.closing.close();
    drain(tasks, opts.shutdown_grace).await;
    Ok(())
}

/// Serves `app` over plain HTTP/1.1 on `listener` (the admin endpoints:
/// health, readiness, metrics) until `shutdown` resolves.
pub async fn serve_plain(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving http");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves when the process receives SIGTERM (Kubernetes stopping the pod)
/// or SIGINT (Ctrl-C).
///
/// Call it once per listener that needs it; each call installs its own
/// listeners for the signals.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::SignalKind;
    async {
        let mut term = signal_stream(SignalKind::terminate(), "SIGTERM");
        let mut int = signal_stream(SignalKind::interrupt(), "SIGINT");
        let name = tokio::select! {
            _ = recv(&mut term) => "SIGTERM",
            _ = recv(&mut int) => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down");
    }
}

fn signal_stream(
    kind: tokio::signal::unix::SignalKind,
    name: &'static str,
) -> Option<tokio::signal::unix::Signal> {
    match tokio::signal::unix::signal(kind) {
        Ok(signal) => Some(signal),
        Err(err) => {
            // Without a handler the signal keeps its default action
            // (terminate), so the process still stops, just not gracefully.
            tracing::error!(signal = name, error = %err, "cannot listen for signal");
            None
        }
    }
}

async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// The connection cap: one permit per open connection.
struct Slots {
    semaphore: Arc<Semaphore>,
    max: usize,
    /// Whether the cap was hit and not yet left, so that a flood logs one
    /// warning rather than one per connection.
    saturated: bool,
}

impl Slots {
    fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            semaphore: Arc::new(Semaphore::new(max)),
            max,
            saturated: false,
        }
    }

    /// Waits for a free slot; `None` when shutdown came first.
    async fn acquire(
        &mut self,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Option<OwnedSemaphorePermit> {
        if let Ok(slot) = Arc::clone(&self.semaphore).try_acquire_owned() {
            self.saturated = false;
            return Some(slot);
        }
        if !self.saturated {
            self.saturated = true;
            tracing::warn!(
                max_connections = self.max,
                "connection limit reached; pausing accept"
            );
        }
        tokio::select! {
            biased;
            () = shutdown => None,
            // The semaphore is never closed, so this cannot fail.
            slot = Arc::clone(&self.semaphore).acquire_owned() => slot.ok(),
        }
    }
}

/// Sleeps for `pause`; true if `shutdown` resolved meanwhile.
async fn shutdown_within(
    pause: Duration,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> bool {
    tokio::select! {
        biased;
        () = shutdown => true,
        () = tokio::time::sleep(pause) => false,
    }
}

/// Errors about one connection (it was reset or aborted before we took it)
/// say nothing about the listener; anything else, such as running out of
/// file descriptors, will likely repeat at once.
fn accept_error_needs_backoff(err: &io::Error) -> bool {
    !matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Waits up to `grace` for the connections, closing since `Closing::close`,
/// to end; aborts whatever is left.
async fn drain(mut tasks: JoinSet<()>, grace: Duration) {
    let open = tasks.len();
    tracing::info!(open, grace_ms = grace.as_millis(), "draining connections");
    let finish = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, finish).await.is_err() {
        tracing::warn!(
            open = tasks.len(),
            "shutdown grace period over; closing remaining connections"
        );
        tasks.shutdown().await;
    }
}

/// What every connection task needs, shared behind one `Arc`.
struct ConnConfig {
    /// `None`: plain HTTP.
    acceptor: Option<TlsAcceptor>,
    http: http1::Builder,
    app: Router,
    handshake_timeout: Duration,
    closing: Closing,
}

type HttpConnection =
    http1::Connection<TokioIo<Either<TlsStream<TcpStream>, TcpStream>>, ConnService>;

impl ConnConfig {
    fn new(tls: Option<Arc<rustls::ServerConfig>>, app: Router, opts: &ServeOptions) -> Self {
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .keep_alive(true)
            .header_read_timeout(opts.header_read_timeout);
        Self {
            acceptor: tls.map(TlsAcceptor::from),
            http,
            app,
            handshake_timeout: opts.handshake_timeout,
            closing: opts.closing.clone(),
        }
    }

    /// Runs one connection: the TLS handshake (over HTTPS), then HTTP/1.1 until the client
    /// leaves, a timeout fires, or closing closes it. `_slot` is held for
    /// the connection's lifetime to count it against the limit.
    async fn serve(&self, stream: TcpStream, peer: SocketAddr, _slot: OwnedSemaphorePermit) {
        // Admission responses are small; don't let Nagle delay them.
        let _ = stream.set_nodelay(true);
        let io = match &self.acceptor {
            None => Either::Right(stream),
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(self.handshake_timeout, acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(tls)) => Either::Left(tls),
                    Ok(Err(err)) => {
                        tracing::debug!(%peer, error = %err, "tls handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "tls handshake timed out");
                        return;
                    }
                }
            }
        };
        let state = Arc::new(ConnState {
            closing: self.closing.clone(),
            answered: AtomicU64::new(0),
        });
        let service = ConnService {
            app: self.app.clone(),
            conn: Arc::clone(&state),
        };
        let mut conn = self.http.serve_connection(TokioIo::new(io), service);
        let done = run(&mut conn, &state).await;
        if let Err(err) = &done {
            // Timeouts and clients hanging up are routine for a server.
            tracing::debug!(%peer, error = %err, "connection ended with error");
        }
        // hyper has sent its last answer (after a request it could not
        // parse, a 400) and shut the write side down.
        if done.as_ref().is_ok() || done.as_ref().is_err_and(hyper::Error::is_parse) {
            let tcp = match conn.into_parts().io.into_inner() {
                Either::Left(tls) => tls.into_inner().0,
                Either::Right(tcp) => tcp,
            };
            linger(tcp).await;
        }
    }
}

/// Drives `conn` to its end; once closing, closes it as soon as it is idle.
async fn run(conn: &mut HttpConnection, state: &ConnState) -> hyper::Result<()> {
    tokio::select! {
        biased;
        done = &mut *conn => return done,
        () = state.closing.closed() => {}
    }
    loop {
        let answered = state.answered.load(Ordering::Relaxed);
        tokio::select! {
            biased;
            done = &mut *conn => return done,
            () = tokio::time::sleep(IDLE_CLOSE) => {}
        }
        if state.answered.load(Ordering::Relaxed) == answered {
            // Closes an idle connection at once; one in the middle of a
            // request closes after its answer.
            Pin::new(&mut *conn).graceful_shutdown();
            return conn.await;
        }
    }
}

/// Reads and discards what the client still sends, until it closes its side
/// or the linger bounds are reached; then the socket is closed.
async fn linger(mut tcp: TcpStream) {
    let mut buf = vec![0; 16 * 1024];
    let mut left = LINGER_BYTES;
    let discard = async {
        while let Ok(n @ 1..) = tcp.read(&mut buf).await {
            left = left.saturating_sub(n);
            if left == 0 {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, discard).await;
}

/// What one connection's service shares with its task.
struct ConnState {
    closing: Closing,
    /// Responses given so far: how the task tells an idle connection.
    answered: AtomicU64,
}

/// The app as one connection's hyper service.
struct ConnService {
    app: Router,
    conn: Arc<ConnState>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Answer {
        // Router's `poll_ready` is always ready.
        let route = tower::Service::call(&mut self.app.clone(), req);
        Answer {
            route,
            conn: Arc::clone(&self.conn),
        }
    }
}

/// The app's response, marked `Connection: close` once closing.
struct Answer {
    route: RouteFuture<Infallible>,
    conn: Arc<ConnState>,
}

impl Future for Answer {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Ok(mut rsp) = ready!(Pin::new(&mut this.route).poll(cx));
        this.conn.answered.fetch_add(1, Ordering::Relaxed);
        if this.conn.closing.is_closing() {
            rsp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(rsp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_limits() {
        let opts = ServeOptions::default();
        assert_eq!(opts.header_read_timeout, Duration::from_secs(10));
        assert_eq!(opts.handshake_timeout, Duration::from_secs(10));
        assert_eq!(opts.max_connections, 4096);
        assert_eq!(opts.shutdown_grace, Duration::from_secs(30));
    }

    #[test]
    fn only_listener_wide_accept_errors_back_off() {
        let emfile = io::Error::from_raw_os_error(24);
        assert!(accept_error_needs_backoff(&emfile));
        let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert!(!accept_error_needs_backoff(&reset));
    }
}
