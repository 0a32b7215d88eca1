//! Where the importer reads streams and pull secrets and writes statuses:
//! the streams directory (through the directory store's writer) or the API.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};

use imagestream_core::pullsecret::Keyring;
use imagestream_core::stream::snapshot::{Snapshot, StreamEntry};
use imagestream_core::stream::{ImageStream, ImageStreamStatus};

/// Where statuses are written and pull secrets read.
#[derive(Clone)]
pub enum Backend {
    /// The streams directory: status into each stream's file, secrets from the snapshot.
    Directory,
    /// The API server.
    Api(kube::Client),
}

impl Backend {
    pub(super) async fn keyring(&self, snap: &Snapshot, namespace: &str) -> Keyring {
        match self {
            Backend::Directory => snap
                .keyring(namespace)
                .map(|k| (**k).clone())
                .unwrap_or_default(),
            Backend::Api(client) => match list_secrets(client, namespace).await {
                Ok((secrets, skipped)) => {
                    let (keyring, warnings) = Keyring::from_secrets(&secrets);
                    for w in skipped.iter().chain(&warnings) {
                        tracing::warn!(%namespace, warning = %w, "pull secret skipped");
                    }
                    keyring
                }
                Err(e) => {
                    tracing::warn!(%namespace, error = %e, "cannot list pull secrets; importing anonymously");
                    Keyring::default()
                }
            },
        }
    }

    /// The stream as stored now, whole.
    pub(super) async fn read_whole(&self, entry: &StreamEntry) -> Result<Arc<ImageStream>, String> {
        let (ns, name) = (entry.namespace.to_string(), entry.name.to_string());
        match self {
            Backend::Api(client) => {
                let api: Api<ImageStream> = Api::namespaced(client.clone(), &ns);
                match api.get_opt(&name).await {
                    Ok(Some(is)) => Ok(Arc::new(is)),
                    Ok(None) => Err(format!("imagestream {ns}/{name} no longer exists")),
                    Err(e) => Err(format!("cannot read imagestream {ns}/{name}: {e}")),
                }
            }
            Backend::Directory => {
                let Some(path) = entry.origin.clone() else {
                    return Err(format!("imagestream {ns}/{name} has no file to read"));
                };
                let (n, s) = (ns.clone(), name.clone());
                crate::background::run("stream-reader", move || {
                    crate::store::directory::write::read_stream(&path, &n, &s)
                        .map_err(|e| e.to_string())
                })
                .await
                .ok_or_else(|| format!("the stream reader of {ns}/{name} failed"))?
            }
        }
    }

    /// Writes `status` through the API if the object still is `read`, the
    /// version it was computed from (its resourceVersion).
    pub(super) async fn write_status(
        client: &kube::Client,
        entry: &StreamEntry,
        read: &ImageStream,
        status: &ImageStreamStatus,
    ) -> Result<(), StatusWriteError> {
        let (ns, name) = (&*entry.namespace, &*entry.name);
        let version = read.metadata.resource_version.as_deref();
        match crate::store::cluster::apply_status(client, ns, name, version, status).await {
            Ok(_) => Ok(()),
            Err(e) if crate::store::cluster::is_conflict(&e) => {
                Err(StatusWriteError::Conflict(format!(
                    "imagestream {ns}/{name} changed while it was being imported; the status computed from the old version was not written"
                )))
            }
            Err(e) => Err(StatusWriteError::Failed(format!(
                "status write of {ns}/{name} failed: {e}"
            ))),
        }
    }
}

/// Why a status was not written through the API.
#[derive(Debug)]
pub(super) enum StatusWriteError {
    /// The object changed since it was read (409): compose again from the new one.
    Conflict(String),
    Failed(String),
}

impl std::fmt::Display for StatusWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusWriteError::Conflict(m) | StatusWriteError::Failed(m) => f.write_str(m),
        }
    }
}

/// A namespace's Secrets, read past kube's typed list: kube logs an answer
/// that does not parse whole, which for Secrets would put every credential
/// of the namespace into the log. A Secret that does not parse is left out,
/// and named among the warnings.
async fn list_secrets(
    client: &kube::Client,
    namespace: &str,
) -> Result<(Vec<Secret>, Vec<String>), String> {
    let url = <Secret as kube::Resource>::url_path(&(), Some(namespace));
    let request = kube::core::Request::new(url)
        .list(&ListParams::default())
        .map_err(|e| e.to_string())?;
    let text = client
        .request_text(request)
        .await
        .map_err(|e| e.to_string())?;
    imagestream_core::pullsecret::document::secrets_from_list(&text)
}
