//! Listing `--streams-dir` and reading its files within bounds: each
//! directory is read once (by device and inode), so symlink loops and second
//! links to a folder cost nothing and are reported; a file over
//! [`max_file_bytes`] is refused by its size before it is opened, and reading
//! stops at the limit should it grow meanwhile.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use imagestream_core::config::DEFAULT_MAX_FILE_BYTES;

static MAX_FILE_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_FILE_BYTES);

/// Sets the size limit of stream files for this process (the config's
/// `directory.maxFileBytes`): the directory store and the file writer
/// (which reads a file before editing it) both keep to it.
pub fn set_max_file_bytes(limit: u64) {
    MAX_FILE_BYTES.store(limit.max(1), Ordering::Relaxed);
}

/// The size limit of stream files in force (see [`set_max_file_bytes`]).
pub fn max_file_bytes() -> u64 {
    MAX_FILE_BYTES.load(Ordering::Relaxed)
}

/// Why a stream file's bytes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("is not a regular file ({0}); replace it with a file or rename it")]
    NotAFile(&'static str),
    #[error(
        "is {len} bytes, over the {limit}-byte limit for stream files (directory.maxFileBytes in --config); it was not read"
    )]
    TooLarge { len: u64, limit: u64 },
    #[error(
        "grew past the {limit}-byte limit for stream files (directory.maxFileBytes in --config) while it was read"
    )]
    Grew { limit: u64 },
}

/// What an entry is, for a file that is not a regular file.
pub(super) fn file_type_name(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// Reads a stream file whole, refusing anything but a regular file and
/// anything over `limit` bytes: by its size before reading, and by what is
/// read should it grow meanwhile. A FIFO is never waited on.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile(file_type_name(&meta)));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            len: meta.len(),
            limit,
        });
    }
    // Non-blocking, so a FIFO swapped in since the check above does not hang
    // the reload; on a regular file the flag changes nothing.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile(file_type_name(&meta)));
    }
    let expected = usize::try_from(meta.len().min(limit)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(expected);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::Grew { limit });
    }
    Ok(bytes)
}

/// What identifies a file's version without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fingerprint {
    pub(super) len: u64,
    pub(super) mtime_ns: i128,
    pub(super) ino: u64,
    pub(super) dev: u64,
    /// Taken from the entry itself (a broken symlink's own inode) because
    /// what it names could not be had: a repaired link then differs.
    pub(super) unreadable: bool,
}

impl Fingerprint {
    pub(super) fn of(meta: &std::fs::Metadata) -> Fingerprint {
        Fingerprint {
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
            unreadable: false,
        }
    }

    pub(super) fn unreadable(meta: &std::fs::Metadata) -> Fingerprint {
        Fingerprint {
            unreadable: true,
            ..Fingerprint::of(meta)
        }
    }
}

/// A listed entry as found before reading it.
pub(super) enum Probe {
    /// Gone between listing and looking: picked up as gone next time.
    Vanished,
    /// To be read (if its fingerprint changed).
    File(Fingerprint),
    /// Listed, but there is nothing to read; the reason is reported.
    Unreadable(Fingerprint, String),
}

impl Probe {
    pub(super) fn of(path: &Path, limit: u64) -> Probe {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                return match std::fs::symlink_metadata(path) {
                    Ok(own) if own.file_type().is_symlink() => {
                        let target = std::fs::read_link(path)
                            .map(|t| t.display().to_string())
                            .unwrap_or_else(|_| "?".to_owned());
                        Probe::Unreadable(
                            Fingerprint::unreadable(&own),
                            format!("is a symlink to {target}, which cannot be read: {e}"),
                        )
                    }
                    Ok(own) => Probe::Unreadable(
                        Fingerprint::unreadable(&own),
                        format!("cannot be read: {e}"),
                    ),
                    Err(_) => Probe::Vanished,
                };
            }
        };
        if !meta.is_file() {
            return Probe::Unreadable(
                Fingerprint::unreadable(&meta),
                ReadError::NotAFile(file_type_name(&meta)).to_string(),
            );
        }
        if meta.len() > limit {
            return Probe::Unreadable(
                Fingerprint::of(&meta),
                ReadError::TooLarge {
                    len: meta.len(),
                    limit,
                }
                .to_string(),
            );
        }
        Probe::File(Fingerprint::of(&meta))
    }
}

/// What a walk of the directory found.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// Every entry named `*.yaml`, `*.yml` or `*.json`, sorted, whatever it
    /// turns out to be: reading it decides.
    pub(super) files: Vec<PathBuf>,
    /// Folders not read, with the reason.
    pub(super) skipped: Vec<(PathBuf, String)>,
}

pub(super) fn is_stream_file_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
}

/// The stream files below `dir`. Hidden entries are skipped: they are the
/// `..data` and timestamped folders of mounted volumes, which would
/// otherwise be read twice. Each folder is read once, by device and inode:
/// folders reached without a symlink are read first, so a symlink to a
/// folder already read (a loop, or a second way in) is skipped and reported.
pub(super) fn list_files(dir: &Path) -> std::io::Result<Listing> {
    list_files_within(dir, MAX_FOLDERS, MAX_FILES)
}

/// Folders and stream files a listing may hold. A symlink to a large tree
/// (`/`, say) would otherwise have every folder of it read at each poll;
/// past these the listing fails whole and the last snapshot stays, because
/// a listing cut short would read as files removed.
pub(super) const MAX_FOLDERS: usize = 10_000;
pub(super) const MAX_FILES: usize = 100_000;

pub(super) fn list_files_within(
    dir: &Path,
    max_folders: usize,
    max_files: usize,
) -> std::io::Result<Listing> {
    let too_many = |what: &str, n: usize| {
        std::io::Error::other(format!(
            "more than {n} {what} below it (a symlink to a large tree?); the last good snapshot stays in force"
        ))
    };
    let mut out = Listing::default();
    let mut read: HashSet<(u64, u64)> = HashSet::new();
    let mut first_path: HashMap<(u64, u64), PathBuf> = HashMap::new();
    // Folders reached by their own names, then those reached through a symlink.
    let mut plain = vec![dir.to_path_buf()];
    let mut linked: VecDeque<PathBuf> = VecDeque::new();
    while let Some(d) = plain.pop().or_else(|| linked.pop_front()) {
        let meta = match std::fs::metadata(&d) {
            Ok(m) => m,
            Err(e) if d == dir => return Err(e),
            Err(e) => {
                out.skipped.push((d, format!("folder cannot be read: {e}")));
                continue;
            }
        };
        let id = (meta.dev(), meta.ino());
        if read.len() >= max_folders {
            return Err(too_many("folders", max_folders));
        }
        if !read.insert(id) {
            let first = first_path
                .get(&id)
                .map_or_else(String::new, |p| format!(" (read as {})", p.display()));
            out.skipped.push((
                d,
                format!(
                    "folder skipped: it is a folder already read{first}, reached again through a symlink; remove the link (a loop or a second way in)"
                ),
            ));
            continue;
        }
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if d == dir => return Err(e),
            Err(e) => {
                out.skipped.push((d, format!("folder cannot be read: {e}")));
                continue;
            }
        };
        first_path.insert(id, d);
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for entry in entries {
            if entry.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = entry.path();
            if is_stream_file_name(&path) {
                if out.files.len() >= max_files {
                    return Err(too_many("stream files", max_files));
                }
                out.files.push(path);
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                subdirs.push(path);
            } else if kind.is_symlink() && std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                linked.push_back(path);
            }
        }
        // Popped in name order.
        plain.extend(subdirs.into_iter().rev());
    }
    out.files.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_past_its_bounds_fails_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["a", "b", "c"] {
            std::fs::create_dir(dir.path().join(d)).expect("mkdir");
            std::fs::write(dir.path().join(d).join("s.yaml"), "{}").expect("write");
        }
        assert_eq!(
            list_files_within(dir.path(), 4, 3)
                .expect("fits")
                .files
                .len(),
            3
        );
        let err = list_files_within(dir.path(), 3, 3).expect_err("four folders");
        assert!(err.to_string().contains("more than 3 folders"), "{err}");
        let err = list_files_within(dir.path(), 4, 2).expect_err("three files");
        assert!(
            err.to_string().contains("more than 2 stream files"),
            "{err}"
        );
    }

    #[test]
    fn reading_stops_at_the_limit_when_a_file_is_longer_than_it_said() {
        // Files under /proc say they are empty and then are not: the same as a
        // file that grows between the size check and the read.
        let err = read_limited(Path::new("/proc/self/status"), 10).expect_err("over the limit");
        assert!(matches!(err, ReadError::Grew { limit: 10 }), "{err:?}");
        assert!(read_limited(Path::new("/proc/self/status"), 1 << 20).is_ok());
        let dir = tempfile::tempdir().expect("tempdir");
        let err = read_limited(dir.path(), 1 << 20).expect_err("a directory");
        assert!(err.to_string().contains("a directory"), "{err}");
    }
}
