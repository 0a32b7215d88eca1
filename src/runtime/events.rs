//! `serve --events-listen`: the token file and its watch, the dispatcher,
//! and the receiver on its own listener, so registry traffic never queues in
//! front of admission requests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use imagestream_core::config::Config;

use crate::events::dispatch::Dispatcher;
use crate::events::handover::Handover;
use crate::events::receiver::{self, Receiver};
use crate::events::token::TokenFile;
use crate::importer::controller::Importer;
use crate::metrics::Metrics;
use crate::serving::server;
use crate::store::Store;

pub struct Options {
    pub addr: SocketAddr,
    pub token_file: PathBuf,
    /// The webhook's TLS (with its reloading certificate); `None` for plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How often the token file is read again.
    pub poll: Duration,
    pub body_timeout: Duration,
    pub header_timeout: Duration,
    /// Cluster mode: the client and the pod's namespace, to hand pushed
    /// tags over to the replica that imports.
    pub cluster: Option<(kube::Client, String)>,
}

/// Starts the receiver; the handle ends once it has stopped after `shutdown`.
pub async fn start(
    opts: Options,
    config: &Config,
    importer: Arc<Importer>,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
    leader: watch::Receiver<bool>,
    shutdown: &CancellationToken,
) -> Result<JoinHandle<()>, String> {
    let token = Arc::new(TokenFile::load(&opts.token_file)?);
    tokio::spawn(
        token
            .clone()
            .watch(opts.poll, shutdown.clone().cancelled_owned()),
    );
    let mut dispatcher = Dispatcher::new(
        config.events.registry_hosts.clone(),
        config.import.search_registries.clone(),
        Some(metrics.clone()),
    );
    if let Some((client, namespace)) = opts.cluster {
        dispatcher = dispatcher.with_handover(Handover::new(client, &namespace));
    }
    let dispatcher = Arc::new(dispatcher);
    tokio::spawn(
        dispatcher
            .clone()
            .run(importer, store.clone(), leader, shutdown.clone()),
    );
    let listener = TcpListener::bind(opts.addr)
        .await
        .map_err(|e| format!("cannot listen on {} (--events-listen): {e}", opts.addr))?;
    let app = receiver::router(Arc::new(Receiver {
        token,
        dispatcher,
        metrics: metrics.clone(),
        body_timeout: opts.body_timeout,
    }));
    let serve_opts = server::ServeOptions {
        header_read_timeout: opts.header_timeout,
        handshake_timeout: opts.header_timeout,
        // Registries send one event at a time and retry; an answer cut
        // short at shutdown is sent again, so there is little to drain.
        shutdown_grace: Duration::from_secs(5),
        max_connections: 1024,
        label: if opts.tls.is_some() {
            "events over https"
        } else {
            "events over plain http"
        },
        ..server::ServeOptions::default()
    };
    let stop = shutdown.clone();
    Ok(tokio::spawn(async move {
        if let Err(e) = server::serve(
            listener,
            opts.tls,
            app,
            serve_opts,
            stop.clone().cancelled_owned(),
        )
        .await
        {
            tracing::error!(error = %e, "events listener failed");
        }
    }))
}
