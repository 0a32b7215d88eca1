//! Directory mode: the streams, RBAC objects and Secrets in `--streams-dir`,
//! re-read when their files change.
//!
//! Files are polled, not watched with inotify: ConfigMap and Secret volumes
//! swap a `..data` symlink, which inotify on the files themselves misses.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::manifest::{Manifest, parse_file};
use k8s_openapi::api::core::v1::Secret;

use crate::pullsecret::Keyring;
use crate::rbac::RbacIndex;
use crate::snapshot::{Snapshot, StreamEntry};

/// What identifies a file's version without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    mtime_ns: i128,
    ino: u64,
    dev: u64,
}

impl Fingerprint {
    fn of(meta: &std::fs::Metadata) -> Fingerprint {
        Fingerprint {
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }
}

#[derive(Debug)]
struct FileState {
    fingerprint: Fingerprint,
    /// The last objects other than streams this file parsed into; kept
    /// (with `streams`) while the file is broken.
    objects: Arc<Vec<Manifest>>,
    /// Its streams, compiled once when the file is read: a change to one file
    /// (the importer writes a status every few seconds) must not recompile
    /// every stream in the directory.
    streams: Arc<Vec<Arc<StreamEntry>>>,
    error: Option<String>,
}

/// The parsed contents of a streams directory.
#[derive(Debug)]
pub struct DirSource {
    dir: PathBuf,
    files: BTreeMap<PathBuf, FileState>,
}

/// What one refresh found.
#[derive(Debug, Default)]
pub struct Refresh {
    /// Some file was added, changed or removed.
    pub changed: bool,
    /// Files that failed to parse in this refresh, with the parser's reason.
    pub errors: Vec<(PathBuf, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("cannot read streams directory {path} (--streams-dir): {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

impl DirSource {
    pub fn new(dir: impl Into<PathBuf>) -> DirSource {
        DirSource {
            dir: dir.into(),
            files: BTreeMap::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads every new or changed file. A broken file is reported and its last
    /// good objects stay in force; an unreadable directory is an error.
    pub fn refresh(&mut self) -> Result<Refresh, DirError> {
        let paths = list_files(&self.dir).map_err(|source| DirError::Read {
            path: self.dir.display().to_string(),
            source,
        })?;
        let mut out = Refresh::default();
        let before = self.files.len();
        self.files.retain(|p, _| paths.binary_search(p).is_ok());
        out.changed |= self.files.len() != before;
        let mut changed = Vec::new();
        for path in paths {
            // A file that vanished between listing and reading is picked up as gone next time.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let fingerprint = Fingerprint::of(&meta);
            if self
                .files
                .get(&path)
                .is_some_and(|f| f.fingerprint == fingerprint)
            {
                continue;
            }
            changed.push((path, fingerprint));
        }
        let parsed_any = !changed.is_empty();
        for (path, fingerprint, parsed) in parse_all(changed) {
            match parsed {
                Ok((objects, streams)) => {
                    self.files.insert(
                        path,
                        FileState {
                            fingerprint,
                            objects: Arc::new(objects),
                            streams: Arc::new(streams),
                            error: None,
                        },
                    );
                    out.changed = true;
                }
                Err(reason) => {
                    let (objects, streams) = self
                        .files
                        .get(&path)
                        .map(|f| (f.objects.clone(), f.streams.clone()))
                        .unwrap_or_default();
                    out.errors.push((path.clone(), reason.clone()));
                    self.files.insert(
                        path,
                        FileState {
                            fingerprint,
                            objects,
                            streams,
                            error: Some(reason),
                        },
                    );
                }
            }
        }
        if parsed_any {
            crate::memory::release_freed();
        }
        Ok(out)
    }

    /// Every object in force other than streams (see [`Snapshot`] for those), with its file, in path order.
    pub fn objects(&self) -> impl Iterator<Item = (&Path, &Manifest)> {
        self.files
            .iter()
            .flat_map(|(p, f)| f.objects.iter().map(move |m| (p.as_path(), m)))
    }

    /// Files whose current content does not parse.
    pub fn broken_files(&self) -> impl Iterator<Item = (&Path, &str)> {
        self.files
            .iter()
            .filter_map(|(p, f)| Some((p.as_path(), f.error.as_deref()?)))
    }

    /// The snapshot of the streams and RBAC objects in force.
    pub fn snapshot(&self) -> Snapshot {
        let objects = || self.objects().map(|(_, m)| m);
        let rbac = RbacIndex::build(
            objects().filter_map(|m| match m {
                Manifest::Role(r) => Some(&**r),
                _ => None,
            }),
            objects().filter_map(|m| match m {
                Manifest::ClusterRole(r) => Some(&**r),
                _ => None,
            }),
            objects().filter_map(|m| match m {
                Manifest::RoleBinding(r) => Some(&**r),
                _ => None,
            }),
            objects().filter_map(|m| match m {
                Manifest::ClusterRoleBinding(r) => Some(&**r),
                _ => None,
            }),
        );
        let mut secrets: HashMap<String, Vec<&Secret>> = HashMap::new();
        for m in objects() {
            if let Manifest::Secret(s) = m {
                let ns = s
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_owned());
                secrets.entry(ns).or_default().push(s);
            }
        }
        let keyrings = secrets
            .into_iter()
            .map(|(ns, list)| {
                let (keyring, warnings) = Keyring::from_secrets(list);
                for w in warnings {
                    tracing::warn!(namespace = %ns, warning = %w, "pull secret skipped");
                }
                (ns, Arc::new(keyring))
            })
            .collect();
        let entries = self.files.values().flat_map(|f| f.streams.iter().cloned());
        Snapshot::from_entries(entries)
            .with_rbac(rbac)
            .with_keyrings(keyrings)
            .with_streams_dir(&self.dir)
    }
}

type Parsed = (
    PathBuf,
    Fingerprint,
    Result<(Vec<Manifest>, Vec<Arc<StreamEntry>>), String>,
);

/// The file's streams compiled for lookups, remembering the file, and its
/// other objects. Streams are not kept as parsed: their entries keep only
/// what admission and the importer's planning read.
fn compile(path: &Path, objects: Vec<Manifest>) -> (Vec<Manifest>, Vec<Arc<StreamEntry>>) {
    let origin: Arc<Path> = Arc::from(path);
    let mut others = Vec::new();
    let mut streams = Vec::new();
    for m in objects {
        match m {
            Manifest::Stream(s) => {
                streams.push(Arc::new(StreamEntry::compile_from(s, Some(origin.clone()))))
            }
            other => others.push(other),
        }
    }
    (others, streams)
}

/// Reads and parses files on every core: a large streams directory is tens of
/// megabytes of YAML, and start-up (readiness) waits for it.
fn parse_all(files: Vec<(PathBuf, Fingerprint)>) -> Vec<Parsed> {
    let parse = |(path, fingerprint): (PathBuf, Fingerprint)| {
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| parse_file(&text, is_json(&path)))
            .map(|objects| compile(&path, objects));
        (path, fingerprint, parsed)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    if threads <= 1 {
        return files.into_iter().map(parse).collect();
    }
    let mut chunks: Vec<Vec<(PathBuf, Fingerprint)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, f) in files.into_iter().enumerate() {
        chunks[i % threads].push(f);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(parse).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
}

/// `*.yaml`, `*.yml` and `*.json` below `dir`, sorted. Hidden entries are
/// skipped: they are the `..data` and timestamped folders of mounted volumes,
/// which would otherwise be read twice.
fn list_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    let mut depth_guard = 0usize;
    while let Some(d) = pending.pop() {
        depth_guard += 1;
        // Symlink loops end here instead of running forever.
        if depth_guard > 10_000 {
            break;
        }
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if d == dir => return Err(e),
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Re-reads the directory every `interval` (on a background-priority thread)
/// and publishes a new snapshot when something changed; `on_refresh` sees
/// every refresh (for logs and metrics).
pub async fn watch(
    mut source: DirSource,
    interval: Duration,
    mut on_refresh: impl FnMut(&DirSource, &Result<Refresh, DirError>, Option<Snapshot>),
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let joined = crate::background::run("dir-reload", move || {
            let result = source.refresh();
            let snap = match &result {
                Ok(r) if r.changed => Some(source.snapshot()),
                _ => None,
            };
            (source, result, snap)
        })
        .await;
        let Some((s, result, snap)) = joined else {
            tracing::error!(
                "the directory refresh thread panicked or could not start; stopping the directory watch"
            );
            return;
        };
        source = s;
        on_refresh(&source, &result, snap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: NAME, namespace: n}\nspec: {}\n";

    #[test]
    fn broken_file_keeps_last_good_objects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.yaml");
        std::fs::write(&a, STREAM.replace("NAME", "one")).expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/b.yml"), STREAM.replace("NAME", "two")).expect("write");
        std::fs::create_dir(dir.path().join("..data")).expect("mkdir");
        std::fs::write(
            dir.path().join("..data/c.yaml"),
            STREAM.replace("NAME", "hidden"),
        )
        .expect("write");
        std::fs::write(dir.path().join("notes.txt"), "not yaml").expect("write");

        let mut src = DirSource::new(dir.path());
        let r = src.refresh().expect("refresh");
        assert!(r.changed && r.errors.is_empty());
        let snap = src.snapshot();
        assert_eq!(snap.stream_count(), 2);

        // Unchanged files are not re-read.
        assert!(!src.refresh().expect("refresh").changed);

        std::fs::write(&a, "kind: [broken").expect("write");
        let r = src.refresh().expect("refresh");
        assert!(!r.changed);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].0, a);
        assert!(
            src.snapshot().stream("n", "one").is_some(),
            "last good state stays"
        );
        assert_eq!(src.broken_files().count(), 1);

        std::fs::write(&a, STREAM.replace("NAME", "three")).expect("write");
        let r = src.refresh().expect("refresh");
        assert!(r.changed && r.errors.is_empty());
        let snap = src.snapshot();
        assert!(snap.stream("n", "three").is_some() && snap.stream("n", "one").is_none());

        std::fs::remove_file(dir.path().join("sub/b.yml")).expect("rm");
        assert!(src.refresh().expect("refresh").changed);
        assert_eq!(src.snapshot().stream_count(), 1);
    }

    #[test]
    fn a_changed_file_recompiles_only_its_own_streams() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.yaml");
        let b = dir.path().join("b.yaml");
        std::fs::write(&a, STREAM.replace("NAME", "one")).expect("write");
        std::fs::write(&b, STREAM.replace("NAME", "two")).expect("write");
        let mut src = DirSource::new(dir.path());
        src.refresh().expect("refresh");
        let before = src.snapshot();

        std::fs::write(&b, format!("{}# edited\n", STREAM.replace("NAME", "two"))).expect("write");
        assert!(src.refresh().expect("refresh").changed);
        let after = src.snapshot();
        let one = |s: &Snapshot| s.stream("n", "one").map(|e| e as *const StreamEntry);
        let two = |s: &Snapshot| s.stream("n", "two").map(|e| e as *const StreamEntry);
        assert!(
            one(&before).is_some() && one(&before) == one(&after),
            "a.yaml's stream is shared"
        );
        assert!(
            two(&after).is_some() && two(&before) != two(&after),
            "b.yaml's stream is new"
        );
        assert_eq!(
            after.stream("n", "two").and_then(|e| e.origin.as_deref()),
            Some(b.as_path())
        );
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_flag() {
        let mut src = DirSource::new("/nonexistent/streams");
        let err = src.refresh().expect_err("missing dir");
        assert!(err.to_string().contains("--streams-dir"), "{err}");
    }
}
