//! The listeners: HTTPS for the admission endpoints, plain HTTP for the admin
//! endpoints, and the process's shutdown signal.
//!
//! The HTTPS loop is hand-rolled rather than `axum::serve` because the API
//! server's calls must be protected against slow or stalled clients (TLS
//! handshake and header-read timeouts, a connection cap) and drained on
//! shutdown, none of which `axum::serve` offers over TLS.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// How long to pause after an accept error that is not about one connection
/// (for example EMFILE), so the loop does not spin while the process is out
/// of file descriptors.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(250);

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
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `app` over HTTPS (HTTP/1.1) on `listener` until `shutdown`
/// resolves, then stops accepting, lets every open connection finish the
/// request it is serving, and returns once they have closed or
/// `opts.shutdown_grace` has passed.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let conn = Arc::new(ConnConfig::new(tls, app, &opts));
    let mut slots = Slots::new(opts.max_connections);
    let graceful = GracefulShutdown::new();
    let mut tasks = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving https");
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
                let watcher = graceful.watcher();
                tasks.spawn(async move { conn.serve(stream, peer, watcher, slot).await });
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
    drain(graceful, tasks, opts.shutdown_grace).await;
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

/// Tells every connection to finish its current request and close, then
/// waits for them up to `grace`, aborting whatever is left.
async fn drain(graceful: GracefulShutdown, mut tasks: JoinSet<()>, grace: Duration) {
    let open = tasks.len();
    tracing::info!(open, grace_ms = grace.as_millis(), "draining connections");
    let finish = async {
        graceful.shutdown().await;
        while tasks.join_next().await.is_some() {}
    };
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
    acceptor: TlsAcceptor,
    http: http1::Builder,
    app: Router,
    handshake_timeout: Duration,
}

impl ConnConfig {
    fn new(tls: Arc<rustls::ServerConfig>, app: Router, opts: &ServeOptions) -> Self {
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .keep_alive(true)
            .header_read_timeout(opts.header_read_timeout);
        Self {
            acceptor: TlsAcceptor::from(tls),
            http,
            app,
            handshake_timeout: opts.handshake_timeout,
        }
    }

    /// Runs one connection: TLS handshake, then HTTP/1.1 until the client
    /// leaves, a timeout fires or shutdown drains it. `_slot` is held for
    /// the connection's lifetime to count it against the limit.
    async fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        watcher: Watcher,
        _slot: OwnedSemaphorePermit,
    ) {
        // Admission responses are small; don't let Nagle delay them.
        let _ = stream.set_nodelay(true);
        let handshake = tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(stream));
        let tls = match handshake.await {
            Ok(Ok(tls)) => tls,
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "tls handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "tls handshake timed out");
                return;
            }
        };
        let service = TowerToHyperService::new(self.app.clone());
        let conn = self.http.serve_connection(TokioIo::new(tls), service);
        if let Err(err) = watcher.watch(conn).await {
            // Timeouts and clients hanging up are routine for a server.
            tracing::debug!(%peer, error = %err, "connection ended with error");
        }
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
