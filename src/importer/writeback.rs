//! Writing what an import fetched: composed from each stream as stored now
//! and written once per file (directory mode, one writer per file) or per
//! object (cluster mode, composed again after a 409); then counted, logged
//! and remembered.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use futures::StreamExt as _;

use imagestream_core::import::Source;
use imagestream_core::stream::ImageStream;
use imagestream_core::stream::snapshot::{Snapshot, StreamEntry};

use super::backend::{Backend, StatusWriteError};
use super::compose::{Composed, Fetched, compose};
use super::controller::{FETCH_STREAMS, Imported, Importer, now_rfc3339};
use super::memo::Handled;
use super::settings::ImportSettings;
use crate::store::directory::write::{StatusWrite, update_statuses};

impl Importer {
    /// Writes what `fetched` produced and records it (memo, metrics, log).
    pub(super) async fn write(
        &self,
        snap: &Arc<Snapshot>,
        fetched: Vec<Fetched>,
    ) -> Vec<(Arc<StreamEntry>, Result<Imported, String>)> {
        let written = match &self.backend {
            Backend::Directory => self.write_files(snap, fetched).await,
            Backend::Api(client) => {
                let jobs = fetched.into_iter().map(|f| async move {
                    let result = self.write_object(client, snap, &f).await;
                    (f, result)
                });
                futures::stream::iter(jobs)
                    .buffer_unordered(FETCH_STREAMS)
                    .collect()
                    .await
            }
        };
        written
            .into_iter()
            .map(|(f, result)| {
                let entry = f.stream.clone();
                (entry, result.map(|c| self.record(&f, c)))
            })
            .collect()
    }

    /// Cluster mode: read, compose, write with the resourceVersion read; a
    /// 409 composes again from the newer object, with no registry request.
    async fn write_object(
        &self,
        client: &kube::Client,
        snap: &Snapshot,
        f: &Fetched,
    ) -> Result<Composed, String> {
        let now = now_rfc3339();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let is = self.backend.read_whole(&f.stream).await?;
            let composed = compose(&self.settings, snap, &is, f, &now);
            if !composed.changed {
                return Ok(composed);
            }
            match Backend::write_status(client, &f.stream, &is, &composed.status).await {
                Ok(()) => return Ok(composed),
                Err(StatusWriteError::Conflict(m)) if attempt >= WRITE_ATTEMPTS => return Err(m),
                Err(StatusWriteError::Conflict(m)) => {
                    tracing::debug!(namespace = %f.stream.namespace, name = %f.stream.name, reason = %m, "status conflict; composing again from the new version");
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Directory mode: the statuses of each file composed and written in one
    /// atomic write, files side by side, off the runtime's workers.
    async fn write_files(
        &self,
        snap: &Arc<Snapshot>,
        fetched: Vec<Fetched>,
    ) -> Vec<(Fetched, Result<Composed, String>)> {
        let mut out = Vec::new();
        let mut by_file: HashMap<Arc<Path>, Vec<Fetched>> = HashMap::new();
        for f in fetched {
            match f.stream.origin.clone() {
                Some(path) => by_file.entry(path).or_default().push(f),
                None => {
                    let why = format!(
                        "imagestream {}/{} has no file to write its status to",
                        f.stream.namespace, f.stream.name
                    );
                    out.push((f, Err(why)));
                }
            }
        }
        let jobs = by_file.into_iter().map(|(path, group)| {
            let settings = self.settings.clone();
            let snap = snap.clone();
            async move {
                let shown = path.display().to_string();
                crate::background::run("status-writer", move || {
                    write_file(&settings, &snap, &path, group)
                })
                .await
                .unwrap_or_else(|| {
                    tracing::error!(path = %shown, "the status writer failed");
                    Vec::new()
                })
            }
        });
        let files: Vec<_> = futures::stream::iter(jobs)
            .buffer_unordered(FILE_WRITERS)
            .collect()
            .await;
        out.extend(files.into_iter().flatten());
        out
    }

    /// Counts, logs and remembers a written import.
    fn record(&self, f: &Fetched, composed: Composed) -> Imported {
        let (ns, name) = (&*f.stream.namespace, &*f.stream.name);
        for outcome in &composed.outcomes {
            self.count(outcome);
        }
        for (tag, reason, message) in &composed.failures {
            tracing::info!(namespace = %ns, name = %name, %tag, %reason, %message, "import failed");
        }
        // Every success at info: scheduled re-imports are paced by
        // maxScheduledImportsPerMinute, so these lines are bounded too.
        for (tag, old, new) in &composed.imported {
            let unchanged = old.as_deref() == Some(new.as_str());
            tracing::info!(namespace = %ns, name = %name, %tag, old = old.as_deref(), %new, unchanged, "tag imported");
        }
        let mut produced = composed.produced;
        {
            let mut state = self.state();
            let (ns, name) = (&f.stream.namespace, &f.stream.name);
            // Nothing is remembered as handled until it is written: a tag
            // whose spec changed meanwhile is planned again from the new spec.
            for plan in &composed.applied {
                state.memo.tag(ns, name, &plan.tag).handled = Some(Box::new(Handled {
                    generation: plan.generation,
                    source: plan.source.clone(),
                    result: produced.remove(&plan.tag).unwrap_or_default(),
                }));
            }
            for (tag, why) in &f.invalid {
                state.memo.tag(ns, name, tag).handled = Some(Box::new(Handled {
                    generation: 0,
                    source: Source::Registry {
                        image: String::new(),
                        insecure: false,
                        pinned: false,
                        mode: None,
                    },
                    result: why.clone(),
                }));
            }
        }
        let mut stream = (*composed.stream).clone();
        stream.status = Some(composed.status);
        Imported {
            stream,
            failures: composed.failures,
        }
    }
}

/// How often a status is composed again after a 409 before the import
/// waits for the next pass.
const WRITE_ATTEMPTS: usize = 5;
/// Files written side by side.
const FILE_WRITERS: usize = 4;
/// One file's batch: composed from the file as it is, written at once, and
/// composed again if another process wrote the file meanwhile.
fn write_file(
    settings: &ImportSettings,
    snap: &Snapshot,
    path: &Path,
    group: Vec<Fetched>,
) -> Vec<(Fetched, Result<Composed, String>)> {
    let now = now_rfc3339();
    let mut composed: Vec<Option<Composed>> = Vec::new();
    let result = update_statuses(path, &mut |streams| {
        composed = group
            .iter()
            .map(|f| {
                let is = streams.iter().find(|is| is_entry(is, &f.stream))?;
                Some(compose(settings, snap, is, f, &now))
            })
            .collect();
        composed
            .iter()
            .zip(&group)
            .filter_map(|(c, f)| {
                let c = c.as_ref().filter(|c| c.changed)?;
                Some(StatusWrite {
                    namespace: f.stream.namespace.to_string(),
                    name: f.stream.name.to_string(),
                    status: c.status.clone(),
                })
            })
            .collect()
    });
    let mut composed = composed.into_iter();
    group
        .into_iter()
        .map(|f| {
            let c = composed.next().flatten();
            let r = match (&result, c) {
                (Err(e), _) => Err(e.to_string()),
                (Ok(_), Some(c)) => Ok(c),
                (Ok(_), None) => Err(format!(
                    "imagestream {}/{} is no longer in {}",
                    f.stream.namespace,
                    f.stream.name,
                    path.display()
                )),
            };
            (f, r)
        })
        .collect()
}

/// Whether `is` is the stream of `entry`.
fn is_entry(is: &ImageStream, entry: &StreamEntry) -> bool {
    let ns = is
        .metadata
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    is.metadata.name.as_deref() == Some(&*entry.name) && ns == &*entry.namespace
}
