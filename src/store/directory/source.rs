//! Directory mode: the streams, RBAC objects and Secrets in `--streams-dir`,
//! re-read when their files change.
//!
//! Files are polled, not watched with inotify: ConfigMap and Secret volumes
//! swap a `..data` symlink, which inotify on the files themselves misses.
//!
//! # What counts as a file's contents
//!
//! Only a name that is gone from the directory removes its objects. An entry
//! that is listed but cannot be read (a broken symlink, a directory or FIFO
//! under a `.yaml` name, a file over the size limit, bytes that are not
//! UTF-8) is a failed reload of that file, like one that does not parse: its
//! last good objects stay in force and the failure is reported once. A stream
//! that silently vanished would let its short names through unpinned.
//!
//! The listing and its bounds are in `listing`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;

use imagestream_core::manifest::fieldcheck::FieldWarning;
use imagestream_core::manifest::{Manifest, parse_file_checked};
use imagestream_core::pullsecret::Keyring;
use imagestream_core::rbac::RbacIndex;
use imagestream_core::stream::snapshot::{Snapshot, StreamEntry};

use super::listing::{Fingerprint, Probe, list_files, max_file_bytes, read_limited};

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
    /// Fields of the last good contents that their types do not know.
    warnings: Arc<[FieldWarning]>,
    error: Option<String>,
}

/// The parsed contents of a streams directory.
#[derive(Debug)]
pub struct DirSource {
    dir: PathBuf,
    files: BTreeMap<PathBuf, FileState>,
    max_file_bytes: u64,
    /// Folders the last listing skipped, and why: each is reported when it
    /// first appears, not at every poll.
    skipped_dirs: BTreeMap<PathBuf, String>,
}

/// What one refresh found.
#[derive(Debug, Default)]
pub struct Refresh {
    /// Some file was added, changed or removed.
    pub changed: bool,
    /// Files that failed to read or parse in this refresh, and folders newly
    /// skipped, with the reason.
    pub errors: Vec<(PathBuf, String)>,
    /// Unknown fields in the files read in this refresh (each file's are
    /// reported when it is read, not at every poll).
    pub warnings: Vec<(PathBuf, FieldWarning)>,
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
    /// A source reading `dir`, with the size limit of [`max_file_bytes`].
    pub fn new(dir: impl Into<PathBuf>) -> DirSource {
        DirSource {
            dir: dir.into(),
            files: BTreeMap::new(),
            max_file_bytes: max_file_bytes(),
            skipped_dirs: BTreeMap::new(),
        }
    }

    /// Refuses files over `limit` bytes (instead of the process's setting).
    pub fn with_max_file_bytes(mut self, limit: u64) -> DirSource {
        self.max_file_bytes = limit.max(1);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads every new or changed file. A file that cannot be read or parsed
    /// is reported and its last good objects stay in force; only a file gone
    /// from the directory loses them. An unreadable directory is an error.
    pub fn refresh(&mut self) -> Result<Refresh, DirError> {
        let listing = list_files(&self.dir).map_err(|source| DirError::Read {
            path: self.dir.display().to_string(),
            source,
        })?;
        let mut out = Refresh::default();
        for (dir, reason) in &listing.skipped {
            if self.skipped_dirs.get(dir) != Some(reason) {
                out.errors.push((dir.clone(), reason.clone()));
            }
        }
        self.skipped_dirs = listing.skipped.into_iter().collect();
        let paths = listing.files;
        let before = self.files.len();
        self.files.retain(|p, _| paths.binary_search(p).is_ok());
        out.changed |= self.files.len() != before;
        let mut changed = Vec::new();
        let mut failed = Vec::new();
        for path in paths {
            let (fingerprint, problem) = match Probe::of(&path, self.max_file_bytes) {
                Probe::Vanished => continue,
                Probe::File(f) => (f, None),
                Probe::Unreadable(f, reason) => (f, Some(reason)),
            };
            if self
                .files
                .get(&path)
                .is_some_and(|f| f.fingerprint == fingerprint)
            {
                continue;
            }
            match problem {
                None => changed.push((path, fingerprint)),
                Some(reason) => failed.push((path, fingerprint, Err(reason))),
            }
        }
        let worked = !changed.is_empty() || !failed.is_empty() || out.changed;
        let limit = self.max_file_bytes;
        let parsed = parse_all(changed, limit);
        for (path, fingerprint, parsed) in parsed.into_iter().chain(failed) {
            match parsed {
                Ok((objects, streams, warnings)) => {
                    out.warnings
                        .extend(warnings.iter().map(|w| (path.clone(), w.clone())));
                    self.files.insert(
                        path,
                        FileState {
                            fingerprint,
                            objects: Arc::new(objects),
                            streams: Arc::new(streams),
                            warnings: warnings.into(),
                            error: None,
                        },
                    );
                    out.changed = true;
                }
                Err(reason) => {
                    let (objects, streams, warnings) = self
                        .files
                        .get(&path)
                        .map(|f| (f.objects.clone(), f.streams.clone(), f.warnings.clone()))
                        .unwrap_or_else(|| (Arc::default(), Arc::default(), Arc::from([])));
                    out.errors.push((path.clone(), reason.clone()));
                    self.files.insert(
                        path,
                        FileState {
                            fingerprint,
                            objects,
                            streams,
                            warnings,
                            error: Some(reason),
                        },
                    );
                }
            }
        }
        if worked {
            // What reading and parsing (or a large listing) freed goes back
            // to the system, not only into the allocator's free lists.
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

    /// Unknown fields in the contents in force, by file (for the CLI to show
    /// on stderr; the server logs [`Refresh::warnings`] as files are read).
    pub fn warnings(&self) -> impl Iterator<Item = (&Path, &FieldWarning)> {
        self.files
            .iter()
            .flat_map(|(p, f)| f.warnings.iter().map(move |w| (p.as_path(), w)))
    }

    /// Prints [`DirSource::warnings`] on stderr, one line each:
    /// `warning: FILE:LINE: OBJECT: unknown field "FIELD" …`.
    pub fn print_warnings(&self) {
        for (path, w) in self.warnings() {
            eprintln!("warning: {}", located(path, w));
        }
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

/// `FILE:LINE: OBJECT: unknown field …`, as compilers and kubectl print
/// places.
pub fn located(path: &Path, w: &FieldWarning) -> String {
    let mut at = path.display().to_string();
    if w.line > 0 {
        at.push_str(&format!(":{}", w.line));
    }
    format!("{at}: {w}")
}

type Parsed = (
    PathBuf,
    Fingerprint,
    Result<(Vec<Manifest>, Vec<Arc<StreamEntry>>, Vec<FieldWarning>), String>,
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
fn parse_all(files: Vec<(PathBuf, Fingerprint)>, limit: u64) -> Vec<Parsed> {
    let parse = |(path, fingerprint): (PathBuf, Fingerprint)| {
        let parsed = read_limited(&path, limit)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                String::from_utf8(bytes).map_err(|e| {
                    format!(
                        "is not UTF-8 text (invalid byte at offset {})",
                        e.utf8_error().valid_up_to()
                    )
                })
            })
            .and_then(|text| parse_file_checked(&text, is_json(&path)))
            .map(|parsed| {
                let (objects, streams) = compile(&path, parsed.objects);
                (objects, streams, parsed.warnings)
            });
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

    fn one_stream(name: &str) -> String {
        STREAM.replace("NAME", name)
    }

    #[test]
    fn an_entry_that_cannot_be_read_keeps_its_last_good_streams() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.yaml");
        std::fs::write(&a, one_stream("one")).expect("write");
        let mut src = DirSource::new(dir.path());
        assert!(src.refresh().expect("refresh").errors.is_empty());
        assert!(src.snapshot().stream("n", "one").is_some());

        let fifo = std::ffi::CString::new(dir.path().join("fifo").as_os_str().as_encoded_bytes())
            .expect("path");
        // SAFETY: a valid NUL-terminated path; mkfifo reads nothing else.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
        let unreadable: [(&str, &dyn Fn()); 3] = [
            ("symlink", &|| {
                std::os::unix::fs::symlink(dir.path().join("missing.yaml"), &a).expect("symlink")
            }),
            ("a directory", &|| std::fs::create_dir(&a).expect("mkdir")),
            ("a FIFO", &|| {
                std::fs::rename(dir.path().join("fifo"), &a).expect("rename fifo")
            }),
        ];
        for (what, make) in unreadable {
            if a.is_dir() {
                std::fs::remove_dir(&a).expect("rmdir");
            } else {
                std::fs::remove_file(&a).expect("rm");
            }
            make();
            let r = src.refresh().expect("refresh");
            assert!(!r.changed, "{what}: nothing in force changed");
            assert_eq!(r.errors.len(), 1, "{what}: {:?}", r.errors);
            assert_eq!(r.errors[0].0, a);
            assert!(r.errors[0].1.contains(what), "{what}: {}", r.errors[0].1);
            assert!(
                src.snapshot().stream("n", "one").is_some(),
                "{what}: the last good stream stays"
            );
            assert_eq!(src.broken_files().count(), 1);
            // Reported once, not at every poll.
            assert!(src.refresh().expect("refresh").errors.is_empty(), "{what}");
        }

        // A readable file again replaces the last good state.
        std::fs::remove_file(&a).expect("rm fifo");
        std::fs::write(&a, one_stream("two")).expect("write");
        let r = src.refresh().expect("refresh");
        assert!(r.changed && r.errors.is_empty());
        let snap = src.snapshot();
        assert!(snap.stream("n", "two").is_some() && snap.stream("n", "one").is_none());

        // A repaired symlink is read at once.
        let real = dir.path().join("real.txt");
        let b = dir.path().join("b.yaml");
        std::os::unix::fs::symlink(&real, &b).expect("symlink");
        let r = src.refresh().expect("refresh");
        assert_eq!(r.errors.len(), 1, "a new broken link is reported too");
        std::fs::write(&real, one_stream("three")).expect("write");
        assert!(src.refresh().expect("refresh").changed);
        assert!(src.snapshot().stream("n", "three").is_some());

        // Only a name gone from the directory removes its streams.
        std::fs::remove_file(&a).expect("rm");
        assert!(src.refresh().expect("refresh").changed);
        assert!(src.snapshot().stream("n", "two").is_none());
    }

    #[test]
    fn each_folder_is_read_once_and_loops_are_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.yaml"), one_stream("one")).expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/b.yaml"), one_stream("two")).expect("write");
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("c.yaml"), one_stream("three")).expect("write");
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, dir.path().join(name)).expect("symlink")
        };
        link(Path::new("."), "loop1");
        link(Path::new("."), "loop2");
        link(Path::new(".."), "sub/up");
        // A second way into `sub`, named before it: the folder's own name wins.
        link(Path::new("sub"), "aaa");
        link(outside.path(), "outside");

        let mut src = DirSource::new(dir.path());
        let r = src.refresh().expect("refresh");
        let files: Vec<&Path> = src.files.keys().map(PathBuf::as_path).collect();
        assert_eq!(
            files,
            [
                dir.path().join("a.yaml"),
                dir.path().join("outside/c.yaml"),
                dir.path().join("sub/b.yaml")
            ]
        );
        let mut skipped: Vec<PathBuf> = r.errors.iter().map(|(p, _)| p.clone()).collect();
        skipped.sort();
        assert_eq!(
            skipped,
            ["aaa", "loop1", "loop2", "sub/up"].map(|n| dir.path().join(n))
        );
        assert!(
            r.errors.iter().all(|(_, why)| why.contains("already read")),
            "{:?}",
            r.errors
        );
        assert_eq!(src.snapshot().stream_count(), 3);
        // Reported once; a new loop is reported when it appears.
        assert!(src.refresh().expect("refresh").errors.is_empty());
        link(Path::new("."), "loop3");
        let r = src.refresh().expect("refresh");
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].0, dir.path().join("loop3"));
    }

    #[test]
    fn files_over_the_limit_are_refused_before_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.yaml");
        std::fs::write(&a, one_stream("one")).expect("write");
        let mut src = DirSource::new(dir.path()).with_max_file_bytes(1000);
        assert!(src.refresh().expect("refresh").errors.is_empty());

        let big = format!("{}# {}\n", one_stream("two"), "x".repeat(2000));
        std::fs::write(&a, &big).expect("write");
        let r = src.refresh().expect("refresh");
        assert!(!r.changed);
        assert_eq!(r.errors.len(), 1);
        let reason = &r.errors[0].1;
        assert!(
            reason.contains("over the 1000-byte limit")
                && reason.contains("directory.maxFileBytes"),
            "{reason}"
        );
        assert!(
            src.snapshot().stream("n", "one").is_some(),
            "last good state stays"
        );
        assert!(
            src.refresh().expect("refresh").errors.is_empty(),
            "reported once"
        );

        // The default limit reads it.
        let mut src = DirSource::new(dir.path());
        assert!(src.refresh().expect("refresh").errors.is_empty());
        assert!(src.snapshot().stream("n", "two").is_some());
    }

    #[test]
    fn bytes_that_are_not_utf8_are_a_failed_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.yaml");
        std::fs::write(&a, one_stream("one")).expect("write");
        let mut src = DirSource::new(dir.path());
        src.refresh().expect("refresh");
        std::fs::write(&a, b"kind: \xff\n").expect("write");
        let r = src.refresh().expect("refresh");
        assert!(r.errors[0].1.contains("not UTF-8"), "{:?}", r.errors);
        assert!(src.snapshot().stream("n", "one").is_some());
    }

    #[test]
    fn typos_are_warned_once_per_read_and_wrong_kinds_refuse_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.yaml");
        std::fs::write(&a, one_stream("one")).expect("write");
        let mut src = DirSource::new(dir.path());
        src.refresh().expect("refresh");

        let typo = format!(
            "{}  lookupPolicy: {{locl: true}}\n",
            one_stream("two").replace("spec: {}", "spec:")
        );
        std::fs::write(&a, &typo).expect("write");
        let r = src.refresh().expect("refresh");
        assert!(r.changed && r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.warnings.len(), 1);
        let (path, w) = &r.warnings[0];
        assert_eq!(
            located(path, w),
            format!(
                "{}:5: ImageStream n/two: unknown field \"spec.lookupPolicy.locl\" (ignored, as the API server would drop it)",
                a.display()
            )
        );
        assert!(
            src.snapshot().stream("n", "two").is_some(),
            "the stream loads"
        );
        assert_eq!(src.warnings().count(), 1, "kept for the CLI");
        assert!(
            src.refresh().expect("refresh").warnings.is_empty(),
            "not at every poll"
        );

        // A kind the image API does not have is a refused file: the last
        // good stream stays, and so do its warnings.
        std::fs::write(
            &a,
            one_stream("three").replace("kind: ImageStream", "kind: ImageStrem"),
        )
        .expect("write");
        let r = src.refresh().expect("refresh");
        assert_eq!(r.errors.len(), 1);
        assert!(
            r.errors[0]
                .1
                .contains("line 2: kind \"ImageStrem\" does not exist"),
            "{:?}",
            r.errors
        );
        assert!(src.snapshot().stream("n", "two").is_some());
        assert_eq!(src.warnings().count(), 1);

        std::fs::write(&a, one_stream("four")).expect("write");
        let r = src.refresh().expect("refresh");
        assert!(r.errors.is_empty() && r.warnings.is_empty());
        assert_eq!(src.warnings().count(), 0);
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_flag() {
        let mut src = DirSource::new("/nonexistent/streams");
        let err = src.refresh().expect_err("missing dir");
        assert!(err.to_string().contains("--streams-dir"), "{err}");
    }
}
