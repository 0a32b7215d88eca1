//! Cluster mode: the Kubernetes client, the ImageStream watch that feeds the snapshot, and
//! status writes. May use the core and the Kubernetes client.

pub mod watch;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio_util::sync::CancellationToken;

use imagestream_core::stream::snapshot::{Snapshot, StreamEntry};
use imagestream_core::stream::{ImageStream, ImageStreamStatus};

use crate::store::cluster::watch::Change;

/// The field manager of every write this program makes.
pub const FIELD_MANAGER: &str = "imagestream-webhook";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no cluster to talk to: pass --streams-dir DIR for directory mode, or give a cluster (run in a pod for the in-cluster config, or set KUBECONFIG or --kubeconfig FILE, with --context NAME): {0}"
    )]
    NoConfig(String),
    #[error(
        "the ImageStream CRD (imagestreams.image.openshift.io) is not installed in this cluster: kubectl apply -f manifests/crd.yaml"
    )]
    NoCrd,
    #[error("cannot list ImageStreams: {0}")]
    List(kube::Error),
}

/// A client from `--kubeconfig`/`--context`, else kube's standard inference
/// (in-cluster config, then `KUBECONFIG`, then `~/.kube/config`).
pub async fn client(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<kube::Client, ClusterError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| {
                ClusterError::NoConfig(format!("cannot read --kubeconfig {}: {e}", path.display()))
            })?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| ClusterError::NoConfig(e.to_string()))?
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| ClusterError::NoConfig(e.to_string()))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| ClusterError::NoConfig(e.to_string()))?,
    };
    kube::Client::try_from(config).map_err(|e| ClusterError::NoConfig(e.to_string()))
}

/// Fails with the fix when the CRD is missing; a cheap one-item list.
pub async fn check_crd(client: &kube::Client) -> Result<(), ClusterError> {
    let api: Api<ImageStream> = Api::all(client.clone());
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(ClusterError::NoCrd),
        Err(e) => Err(ClusterError::List(e)),
    }
}

/// Every stream (of one namespace, or all), listed once: for the CLI commands.
pub async fn list_streams(
    client: &kube::Client,
    namespace: Option<&str>,
) -> Result<Vec<Arc<ImageStream>>, ClusterError> {
    let api: Api<ImageStream> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list.items.into_iter().map(Arc::new).collect()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(ClusterError::NoCrd),
        Err(e) => Err(ClusterError::List(e)),
    }
}

type Key = (String, String);

fn key(is: &ImageStream) -> Key {
    (
        is.metadata.namespace.clone().unwrap_or_default(),
        is.metadata.name.clone().unwrap_or_default(),
    )
}

/// The streams the watch has seen, compiled.
#[derive(Default)]
pub struct StreamIndex {
    live: HashMap<Key, Arc<StreamEntry>>,
    synced: bool,
}

/// A watched stream as the server keeps it (its head: `snapshot::head`
/// drops `managedFields`, the API server's bookkeeping, often the largest
/// part of an object).
fn compile(is: ImageStream) -> Arc<StreamEntry> {
    Arc::new(StreamEntry::compile(Arc::new(is)))
}

impl StreamIndex {
    /// Folds one change in; true when the live set changed. A list replaces
    /// everything, so streams deleted while the watch was broken disappear.
    pub fn apply(&mut self, change: Change<ImageStream>) -> bool {
        match change {
            Change::Listed(items) => {
                self.live = items
                    .into_iter()
                    .map(|is| (key(&is), compile(is)))
                    .collect();
                self.synced = true;
                true
            }
            Change::Applied(is) => {
                let k = key(&is);
                self.live.insert(k, compile(is));
                true
            }
            Change::Deleted(is) => self.live.remove(&key(&is)).is_some(),
            Change::Failed(_) => false,
        }
    }

    /// The first full list has been seen.
    pub fn synced(&self) -> bool {
        self.synced
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::from_entries(self.live.values().cloned())
    }
}

/// Watches every namespace's ImageStreams until `shutdown`, publishing a
/// snapshot after each batch of changes. A broken watch re-lists with backoff
/// (`crate::store::cluster::watch`); the last snapshot stays in service meanwhile.
pub async fn watch_streams(
    client: kube::Client,
    mut publish: impl FnMut(Snapshot),
    mut on_error: impl FnMut(&str),
    shutdown: CancellationToken,
) {
    let api: Api<ImageStream> = Api::all(client);
    let mut changes = crate::store::cluster::watch::spawn(api, shutdown.clone());
    let mut index = StreamIndex::default();
    while let Some(first) = changes.recv().await {
        let mut changed = false;
        let mut handle = |change: Change<ImageStream>, index: &mut StreamIndex| {
            if let Change::Failed(why) = &change {
                on_error(why);
            }
            changed |= index.apply(change);
        };
        handle(first, &mut index);
        // Whatever else is already queued joins this batch: one snapshot for a burst.
        while let Ok(more) = changes.try_recv() {
            handle(more, &mut index);
        }
        if changed && index.synced() {
            publish(index.snapshot());
        }
    }
}

/// Writes a stream's status through the `status` subresource with server-side
/// apply under field manager `imagestream-webhook`; the spec is never written.
///
/// `resource_version` is the version of the stream the status was computed
/// from: the API server refuses the write with 409 Conflict if the stream
/// changed since (apply with `force` would otherwise put back history another
/// writer replaced meanwhile). A conflict is not retried with the same body;
/// the caller computes the status again from the newer stream.
pub async fn apply_status(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    resource_version: Option<&str>,
    status: &ImageStreamStatus,
) -> Result<ImageStream, kube::Error> {
    let api: Api<ImageStream> = Api::namespaced(client.clone(), namespace);
    let mut metadata = serde_json::json!({"name": name, "namespace": namespace});
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = rv.into();
    }
    let body = serde_json::json!({
        "apiVersion": imagestream_core::stream::API_VERSION,
        "kind": imagestream_core::stream::KIND,
        "metadata": metadata,
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(name, &params, &Patch::Apply(&body)).await
}

/// The API server's answer to a write made from a stale version.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
