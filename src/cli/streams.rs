//! Where the image commands find and keep streams: the streams directory
//! (read whole, written back into each stream's file) or the cluster.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams, PostParams};

use imagestream_core::config::Config;
use imagestream_core::import::Source;
use imagestream_core::stream::ImageStream;
use imagestream_core::stream::snapshot::{Snapshot, StreamEntry};

use crate::access::sar::SarChecker;
use crate::access::{AccessChecker, Authority};
use crate::cli::args::GlobalArgs;
use crate::cli::{CmdError, bad};
use crate::importer::backend::Backend;
use crate::importer::controller::{Imported, Importer};
use crate::importer::records::Recorder;
use crate::importer::registry::{Registries, RegistryConfig};
use crate::store::Store;
use crate::store::cluster;
use crate::store::directory::source::DirSource;
use crate::store::directory::write;
use crate::store::images::ImageStore;

/// Where the streams are.
#[derive(Clone)]
pub(super) enum Target {
    Dir(PathBuf),
    Api(kube::Client),
}

pub(super) struct Ctx {
    pub(super) target: Target,
    pub(super) config: Config,
    pub(super) registry_ca: Option<PathBuf>,
    pub(super) namespace: String,
}

pub(super) async fn connect(global: &GlobalArgs) -> Result<Ctx, CmdError> {
    let config = crate::cli::load_config(global.config.as_deref())?;
    crate::store::directory::listing::set_max_file_bytes(config.directory.max_file_bytes);
    let target = match &global.streams_dir {
        Some(dir) => Target::Dir(dir.clone()),
        None => Target::Api(
            cluster::client(global.kubeconfig.as_deref(), global.context.as_deref())
                .await
                .map_err(|e| e.to_string())?,
        ),
    };
    Ok(Ctx {
        target,
        config,
        registry_ca: global.registry_ca.clone(),
        namespace: global
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
    })
}

impl Ctx {
    /// The same streams, seen from namespace `ns` (a DEST or SOURCE of another namespace).
    pub(super) fn in_namespace(&self, ns: &str) -> Ctx {
        Ctx {
            target: self.target.clone(),
            config: self.config.clone(),
            registry_ca: self.registry_ca.clone(),
            namespace: ns.to_owned(),
        }
    }

    /// Who decides whether a service account may use a stream, as the importer asks it.
    pub(super) fn access(&self) -> AccessChecker {
        match &self.target {
            Target::Dir(_) => AccessChecker::directory(self.config.same_namespace_access),
            Target::Api(c) => AccessChecker {
                authority: Authority::Api(SarChecker::new(
                    c.clone(),
                    crate::access::sar::sar_config(&self.config),
                )),
                same_namespace: self.config.same_namespace_access,
                checks: None,
            },
        }
    }
}

/// A stream as stored, and the file it lives in (directory mode).
pub(super) struct Stored {
    pub(super) stream: ImageStream,
    pub(super) origin: Option<Arc<Path>>,
}

impl Ctx {
    pub(super) async fn load(&self, name: &str) -> Result<Option<Stored>, CmdError> {
        let ns = self.namespace.as_str();
        match &self.target {
            Target::Dir(dir) => {
                let snap = read_dir(dir, true)?;
                let Some(origin) = snap.stream(ns, name).and_then(|s| s.origin.clone()) else {
                    return Ok(None);
                };
                let stream = crate::store::directory::write::read_stream(&origin, ns, name)
                    .map_err(|e| e.to_string())?;
                Ok(Some(Stored {
                    stream: Arc::unwrap_or_clone(stream),
                    origin: Some(origin),
                }))
            }
            Target::Api(client) => {
                let api: Api<ImageStream> = Api::namespaced(client.clone(), ns);
                let found = api
                    .get_opt(name)
                    .await
                    .map_err(|e| api_error(e, ns, name))?;
                Ok(found.map(|stream| Stored {
                    stream,
                    origin: None,
                }))
            }
        }
    }

    /// Writes the stream's spec (creating the stream when `origin` and the API know nothing of it).
    pub(super) async fn save_spec(
        &self,
        stored: Option<Stored>,
        stream: ImageStream,
    ) -> Result<Stored, CmdError> {
        let ns = self.namespace.clone();
        let name = stream.metadata.name.clone().unwrap_or_default();
        match &self.target {
            Target::Dir(dir) => {
                let origin = match stored.and_then(|s| s.origin) {
                    Some(path) => {
                        let (p, spec) = (path.clone(), stream.spec.clone());
                        let (n, s) = (ns.clone(), name.clone());
                        blocking(move || write::set_stream_field(&p, &n, &s, "spec", &spec))
                            .await?;
                        path
                    }
                    None => {
                        let path = new_file(dir, &ns, &name);
                        // As the API server would: `describe` shows the stream's age.
                        let created = jiff::Timestamp::now()
                            .round(jiff::Unit::Second)
                            .map_err(|e| e.to_string())?;
                        let doc = serde_json::json!({
                            "apiVersion": imagestream_core::stream::API_VERSION,
                            "kind": imagestream_core::stream::KIND,
                            "metadata": {"name": name, "namespace": ns, "creationTimestamp": created.to_string()},
                            "spec": stream.spec,
                        });
                        let p = path.clone();
                        blocking(move || write::append_document(&p, &doc)).await?;
                        Arc::from(path.as_path())
                    }
                };
                Ok(Stored {
                    stream,
                    origin: Some(origin),
                })
            }
            Target::Api(client) => {
                let api: Api<ImageStream> = Api::namespaced(client.clone(), &ns);
                let written = match stored {
                    None => api.create(&PostParams::default(), &stream).await,
                    Some(old) => {
                        // The resourceVersion makes a concurrent edit a conflict, not a lost update.
                        let patch = serde_json::json!({
                            "metadata": {"resourceVersion": old.stream.metadata.resource_version},
                            "spec": stream.spec,
                        });
                        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await
                    }
                };
                let stream = written.map_err(|e| api_error(e, &ns, &name))?;
                Ok(Stored {
                    stream,
                    origin: None,
                })
            }
        }
    }

    pub(super) fn importer(&self, snap: Snapshot) -> Result<Importer, CmdError> {
        let store = Store::new();
        store.publish(snap);
        let mut registry = RegistryConfig {
            search_registries: self.config.import.search_registries.clone(),
            max_concurrent: self.config.import.max_concurrent_requests,
            ..RegistryConfig::default()
        };
        if let Some(ca) = &self.registry_ca {
            registry
                .extra_roots
                .push(std::fs::read(ca).map_err(|e| {
                    bad(format!("cannot read --registry-ca {}: {e}", ca.display()))
                })?);
        }
        let backend = match &self.target {
            Target::Dir(_) => Backend::Directory,
            Target::Api(c) => Backend::Api(c.clone()),
        };
        let access = self.access();
        let mut importer = Importer::new(
            store,
            Arc::new(Registries::new(registry)),
            backend,
            crate::importer::controller::import_settings(&self.config),
            None,
        )
        .with_access(access);
        importer.records = Some(Recorder::new(self.images(), self.config.import.prefer()));
        Ok(importer)
    }

    /// Where this mode keeps Image records.
    pub(super) fn images(&self) -> ImageStore {
        match &self.target {
            Target::Dir(dir) => ImageStore::directory(dir),
            Target::Api(client) => ImageStore::Api(client.clone()),
        }
    }

    /// Imports `tags` of the stream now, with every other stream of its
    /// namespace (for aliases) and its namespace's pull secrets, and brings
    /// the stream's tags that follow them up to date in the same write.
    pub(super) async fn import(
        &self,
        stored: &Stored,
        tags: &[String],
    ) -> Result<Imported, CmdError> {
        let mut tags = tags.to_vec();
        tags.extend(imagestream_core::import::followers(&stored.stream, &tags));
        let tags = tags.as_slice();
        let ns = self.namespace.as_str();
        let name = stored.stream.metadata.name.clone().unwrap_or_default();
        let snap = match &self.target {
            Target::Dir(dir) => read_dir(dir, false)?,
            Target::Api(client) => {
                // The namespace's streams, and those of the namespaces its
                // imported tags follow or pin (at most one per tag).
                let mut namespaces = vec![ns.to_owned()];
                for plan in imagestream_core::import::plans(&stored.stream)
                    .into_iter()
                    .flatten()
                    .filter(|p| tags.contains(&p.tag))
                {
                    if let Source::Tag { namespace, .. } | Source::Image { namespace, .. } =
                        plan.source
                        && !namespaces.contains(&namespace)
                    {
                        namespaces.push(namespace);
                    }
                }
                let mut streams = Vec::new();
                for n in &namespaces {
                    streams.extend(
                        cluster::list_streams(client, Some(n))
                            .await
                            .map_err(|e| e.to_string())?,
                    );
                }
                streams.retain(|s| {
                    s.metadata.name.as_deref() != Some(name.as_str())
                        || s.metadata.namespace.as_deref() != Some(ns)
                });
                let this = Arc::new(StreamEntry::compile(Arc::new(stored.stream.clone())));
                Snapshot::from_entries(
                    streams
                        .into_iter()
                        .map(|s| Arc::new(StreamEntry::compile(s)))
                        .chain([this]),
                )
            }
        };
        Ok(self.importer(snap)?.import_now(ns, &name, tags).await?)
    }
}

impl Ctx {
    /// Every tag of the repository `image` names, and the repository
    /// (`HOST/PATH`) they were listed in, with the namespace's pull secrets.
    pub(super) async fn list_tags(
        &self,
        image: &str,
        insecure: bool,
    ) -> Result<(String, Vec<String>), CmdError> {
        let snap = match &self.target {
            Target::Dir(dir) => read_dir(dir, false)?,
            // The importer lists the namespace's Secrets itself.
            Target::Api(_) => Snapshot::default(),
        };
        Ok(self
            .importer(snap)?
            .list_tags(&self.namespace, image, insecure)
            .await?)
    }
}

/// The streams directory, read whole: a file that does not parse is bad
/// input, as in every other command (its last good version would otherwise
/// be used for a write).
/// `warn`: print its typo warnings on stderr (once per command: [`Ctx::load`]
/// reads it first).
pub(super) fn read_dir(dir: &Path, warn: bool) -> Result<Snapshot, CmdError> {
    let mut source = DirSource::new(dir);
    source.refresh().map_err(bad)?;
    if let Some((path, reason)) = source.broken_files().next() {
        return Err(bad(format!("cannot parse {}: {reason}", path.display())));
    }
    if warn {
        source.print_warnings();
    }
    Ok(source.snapshot())
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::directory::error::WriteError> + Send + 'static,
) -> Result<T, CmdError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("file writer failed: {e}"))?
        .map_err(|e| CmdError::Failed(e.to_string()))
}

/// `DIR/NAME.yaml`, or `DIR/NS-NAME.yaml` when that name is taken.
pub(super) fn new_file(dir: &Path, ns: &str, name: &str) -> PathBuf {
    let plain = dir.join(format!("{name}.yaml"));
    if plain.exists() {
        dir.join(format!("{ns}-{name}.yaml"))
    } else {
        plain
    }
}

pub(super) fn api_error(e: kube::Error, ns: &str, name: &str) -> String {
    match e {
        kube::Error::Api(s)
            if s.code == 404
                && s.message
                    .contains("the server could not find the requested resource") =>
        {
            cluster::ClusterError::NoCrd.to_string()
        }
        kube::Error::Api(s) if s.code == 409 => {
            format!(
                "imagestream {ns}/{name} changed while it was being updated; run the command again"
            )
        }
        other => format!("imagestream {ns}/{name}: {other}"),
    }
}
