//! `serve`: wires the stream store, admission, the TLS listener and the admin
//! listener together, and shuts them down in order on SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use imagestream_core::config::Config;
use imagestream_core::stream::snapshot::Snapshot;

use crate::access::sar::SarChecker;
use crate::access::{AccessChecker, Authority};
use crate::cli::args::{GlobalArgs, ServeArgs};
use crate::importer::backend::Backend;
use crate::importer::controller::Importer;
use crate::importer::records::Recorder;
use crate::importer::registry::{Registries, RegistryConfig};
use crate::leadership::lease::{self, LeaseConfig};
use crate::metrics::{AccessCounters, Metrics};
use crate::runtime::events;
use crate::serving::admission::Admission;
use crate::serving::audit_log::{AuditLog, Destination};
use crate::serving::webhook::Webhook;
use crate::serving::{admin, server, tls, webhook};
use crate::store::Store;
use crate::store::cluster;
use crate::store::directory::source::{DirSource, Refresh};
use crate::store::images::ImageStore;
use crate::triggers::controller::TriggerController;

pub async fn run(global: &GlobalArgs, args: ServeArgs) -> Result<(), String> {
    let ServeArgs {
        listen,
        admin_listen,
        tls_cert,
        tls_key,
        tls_poll_ms,
        dir_poll_ms,
        header_timeout_seconds,
        body_timeout_seconds,
        audit_log,
        no_import,
        no_triggers,
        shutdown_delay_seconds,
        // Read by main, which sets up logging before anything runs.
        log_format: _,
        events_listen,
        events_token_file,
        events_plain_http,
    } = args;
    if events_listen.is_some() && no_import {
        return Err(
            "--events-listen imports what is pushed, and --no-import turns the importer off; drop one of them"
                .into(),
        );
    }
    let config = Arc::new(crate::cli::read_config(global.config.as_deref())?);
    crate::store::directory::listing::set_max_file_bytes(config.directory.max_file_bytes);
    let metrics = Arc::new(Metrics::new());
    let store = Store::new();
    let shutdown = CancellationToken::new();

    let (leader_tx, leader_rx) = watch::channel(false);
    let mut cluster_client = None;
    let (authority, backend) = match global.streams_dir.clone() {
        Some(dir) => {
            start_directory(dir, dir_poll_ms, &store, &metrics, &shutdown)?;
            // One process owns a directory: it leads when it imports (there
            // are no triggers in directory mode).
            if !no_import {
                let _ = leader_tx.send(true);
            }
            (Authority::Directory, Backend::Directory)
        }
        None => {
            let client = cluster::client(global.kubeconfig.as_deref(), global.context.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            cluster::check_crd(&client)
                .await
                .map_err(|e| e.to_string())?;
            start_cluster_watch(client.clone(), &store, &metrics, &shutdown);
            cluster_client = Some(client.clone());
            if !no_import || !no_triggers {
                tokio::spawn(lease::run(
                    client.clone(),
                    lease_config(),
                    leader_tx,
                    shutdown.clone(),
                ));
            }
            (
                Authority::Api(SarChecker::new(
                    client.clone(),
                    crate::access::sar::sar_config(&config),
                )),
                Backend::Api(client),
            )
        }
    };
    let triggers = cluster_client.is_some() && !no_triggers;
    if no_import && !triggers {
        tracing::info!("importer and triggers off: this replica does not lead");
    } else {
        let gauge = metrics.leader.clone();
        let mut leading = leader_rx.clone();
        tokio::spawn(async move {
            loop {
                let now = *leading.borrow_and_update();
                gauge.set(i64::from(now));
                tracing::info!(leader = now, importer = !no_import, triggers, "leadership");
                if leading.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    let certs = tls::CertReloader::load(&tls_cert, &tls_key).map_err(|e| e.to_string())?;
    tokio::spawn(certs.clone().watch(
        Duration::from_millis(tls_poll_ms.max(50)),
        shutdown.clone().cancelled_owned(),
    ));
    let tls_config = tls::server_config(certs);

    let (audit, audit_writer) = AuditLog::start(
        Destination::parse(&audit_log),
        metrics.audit_dropped.clone(),
    )
    .map_err(|e| e.to_string())?;
    let access = AccessChecker {
        authority,
        same_namespace: config.same_namespace_access,
        checks: Some(AccessCounters::of(&metrics.access_checks)),
    };
    let mut importer = None;
    if !no_import {
        let records = match (&global.streams_dir, &cluster_client) {
            (Some(dir), _) => Some(ImageStore::directory(dir)),
            (None, Some(client)) => Some(ImageStore::Api(client.clone())),
            (None, None) => None,
        };
        let mut started =
            start_importer(global, &config, &store, &metrics, backend)?.with_access(access.clone());
        if let Some(records) = records {
            started.records = Some(Recorder::new(records, config.import.prefer()));
        }
        let started = Arc::new(started);
        tokio::spawn(started.clone().run(leader_rx.clone(), shutdown.clone()));
        importer = Some(started);
    }
    let events = match (events_listen, events_token_file, importer) {
        (Some(addr), Some(token_file), Some(importer)) => Some(
            events::start(
                events::Options {
                    addr,
                    token_file,
                    tls: (!events_plain_http).then(|| tls_config.clone()),
                    poll: Duration::from_millis(tls_poll_ms.max(50)),
                    body_timeout: Duration::from_secs(body_timeout_seconds),
                    header_timeout: Duration::from_secs(header_timeout_seconds.max(1)),
                    cluster: cluster_client.clone().map(|c| (c, pod_namespace())),
                },
                &config,
                importer,
                &store,
                &metrics,
                leader_rx.clone(),
                &shutdown,
            )
            .await?,
        ),
        _ => None,
    };
    if let (Some(client), false) = (&cluster_client, no_triggers) {
        let controller = Arc::new(TriggerController {
            client: client.clone(),
            store: store.clone(),
            access: access.clone(),
            audit: Some(audit.clone()),
            metrics: Some(metrics.clone()),
        });
        tokio::spawn(controller.run(leader_rx.clone(), shutdown.clone()));
    }
    let hook = Arc::new(Webhook {
        admission: Admission {
            store: store.clone(),
            config,
            access,
            audit: Some(audit),
        },
        metrics: metrics.clone(),
        body_timeout: Duration::from_secs(body_timeout_seconds),
    });
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen} (--listen): {e}"))?;
    let admin_listener = TcpListener::bind(admin_listen)
        .await
        .map_err(|e| format!("cannot listen on {admin_listen} (--admin-listen): {e}"))?;

    let admin_stop = CancellationToken::new();
    let admin = tokio::spawn(server::serve_plain(
        admin_listener,
        admin::router(store.clone(), metrics.clone()),
        admin_stop.clone().cancelled_owned(),
    ));

    let signal_store = store.clone();
    let stop_serving = shutdown.clone();
    let closing = server::Closing::default();
    let close_connections = closing.clone();
    tokio::spawn(async move {
        server::shutdown_signal().await;
        // Readiness first, so no answer says `Connection: close` while the
        // endpoints controller could still send new connections here.
        signal_store.begin_shutdown();
        close_connections.close();
        tracing::info!(
            delay_seconds = shutdown_delay_seconds,
            "shutting down: readiness is false, connections close after their next answer"
        );
        tokio::time::sleep(Duration::from_secs(shutdown_delay_seconds)).await;
        stop_serving.cancel();
    });

    // A client that never finishes its TLS handshake is as stalled as one that
    // never finishes its headers: the same flag bounds both.
    let opts = server::ServeOptions {
        header_read_timeout: Duration::from_secs(header_timeout_seconds.max(1)),
        handshake_timeout: Duration::from_secs(header_timeout_seconds.max(1)),
        closing,
        ..server::ServeOptions::default()
    };
    let served = server::serve_tls(
        listener,
        tls_config,
        webhook::router(hook),
        opts,
        shutdown.clone().cancelled_owned(),
    )
    .await;
    shutdown.cancel();
    admin_stop.cancel();
    let _ = admin.await;
    if let Some(events) = events {
        let _ = events.await;
    }
    // The router held the last audit sender: the writer flushes what is queued and ends.
    let _ = tokio::time::timeout(Duration::from_secs(5), audit_writer).await;
    served.map_err(|e| format!("webhook listener failed: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Loads the streams directory (an unreadable directory stops start-up) and
/// watches it for changes.
fn start_directory(
    dir: std::path::PathBuf,
    poll_ms: u64,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let mut source = DirSource::new(dir);
    let first = source.refresh().map_err(|e| e.to_string())?;
    report(metrics, &first);
    publish(store, metrics, source.snapshot());
    tracing::info!(dir = %source.dir().display(), streams = store.load().stream_count(), "streams loaded");
    let watch_store = store.clone();
    let watch_metrics = metrics.clone();
    tokio::spawn(crate::store::directory::source::watch(
        source,
        Duration::from_millis(poll_ms.max(50)),
        move |_src, result, snap| {
            match result {
                Ok(r) => report(&watch_metrics, r),
                Err(e) => {
                    tracing::error!(error = %e, "streams directory unreadable; keeping the last snapshot")
                }
            }
            if let Some(snap) = snap {
                publish(&watch_store, &watch_metrics, snap);
                tracing::info!(
                    streams = watch_store.load().stream_count(),
                    "streams reloaded"
                );
            }
        },
        shutdown.clone().cancelled_owned(),
    ));
    Ok(())
}

/// Watches ImageStreams in every namespace; readiness follows the first full list.
fn start_cluster_watch(
    client: kube::Client,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
    shutdown: &CancellationToken,
) {
    let watch_store = store.clone();
    let watch_metrics = metrics.clone();
    let error_metrics = metrics.clone();
    let mut was_synced = false;
    tokio::spawn(cluster::watch_streams(
        client,
        move |snap| {
            publish(&watch_store, &watch_metrics, snap);
            if !was_synced {
                was_synced = true;
                tracing::info!(
                    streams = watch_store.load().stream_count(),
                    "streams listed from the API"
                );
            }
        },
        move |e| {
            error_metrics.watch_errors.inc();
            tracing::warn!(error = %e, "ImageStream watch failed; retrying with backoff, the last snapshot stays in service");
        },
        shutdown.clone(),
    ));
}

/// The pod's own namespace (the Deployment sets POD_NAMESPACE).
fn pod_namespace() -> String {
    std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "imagestream-system".to_owned())
}

/// The Lease that elects the one replica running the importer and triggers:
/// in the pod's own namespace, held under the pod's name.
fn lease_config() -> LeaseConfig {
    let namespace = pod_namespace();
    let identity = std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("imagestream-webhook-{}", std::process::id()));
    LeaseConfig::new(namespace, "imagestream-webhook-importer", identity)
}

fn start_importer(
    global: &GlobalArgs,
    config: &Config,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
    backend: Backend,
) -> Result<Importer, String> {
    let mut registry = RegistryConfig {
        search_registries: config.import.search_registries.clone(),
        max_concurrent: config.import.max_concurrent_requests,
        ..RegistryConfig::default()
    };
    if let Some(ca) = &global.registry_ca {
        registry.extra_roots.push(
            std::fs::read(ca)
                .map_err(|e| format!("cannot read --registry-ca {}: {e}", ca.display()))?,
        );
    }
    let mut registries = Registries::new(registry);
    let latency = metrics.registry_latency.clone();
    registries.on_request = Some(Box::new(move |d| latency.observe(d.as_secs_f64())));
    Ok(Importer::new(
        store.clone(),
        Arc::new(registries),
        backend,
        crate::importer::controller::import_settings(config),
        Some(metrics.clone()),
    ))
}

fn report(metrics: &Metrics, refresh: &Refresh) {
    for (path, reason) in &refresh.errors {
        metrics.reload_errors.inc();
        tracing::error!(file = %path.display(), %reason, "cannot parse or read file; its last good objects stay in force");
    }
    for (path, warning) in &refresh.warnings {
        metrics.directory_warnings.inc();
        tracing::warn!(
            file = %path.display(),
            line = warning.line,
            object = %warning.object,
            field = %warning.field,
            "unknown field in a stream file; ignored, as the API server would drop it"
        );
    }
}

fn publish(store: &Store, metrics: &Metrics, snap: Snapshot) {
    metrics.streams.set(snap.stream_count() as i64);
    metrics.tags.set(snap.tag_count() as i64);
    store.publish(snap);
}
