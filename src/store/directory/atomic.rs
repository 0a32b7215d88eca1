//! Atomic file writes: a write goes to a hidden temporary file in the same
//! directory (the directory poller skips hidden names), is fsynced, takes the
//! original's permissions, is renamed over the original, and the directory is
//! fsynced: after a crash the file is either the old or the new one, never
//! torn.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `contents` to `path` atomically (temp file, fsync, rename, fsync
/// dir). An existing file keeps its permissions (and, where allowed, its
/// owner); a symlink keeps pointing at the file it names, which is replaced.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let target = resolve_symlink(path)?;
    replace_file(&target, contents, Expect::Any, &mut || {}).map_err(|e| match e {
        Commit::Io(e) => e,
        Commit::Conflict => io::Error::other("file changed during the write"),
    })
}

/// What the file must still hold just before the new one replaces it.
pub(super) enum Expect<'a> {
    Any,
    Absent,
    Bytes(&'a [u8]),
}

pub(super) enum Commit {
    Io(io::Error),
    Conflict,
}

impl From<io::Error> for Commit {
    fn from(e: io::Error) -> Commit {
        Commit::Io(e)
    }
}

/// A stream file's bytes, within the size limit the directory store keeps to.
pub(super) fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    use crate::store::directory::listing::ReadError;
    crate::store::directory::listing::read_limited(
        path,
        crate::store::directory::listing::max_file_bytes(),
    )
    .map_err(|e| match e {
        ReadError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    })
}

/// Renaming over a symlink would replace the link with a plain file; the file
/// it points at is what the user means.
pub(super) fn resolve_symlink(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path),
        _ => Ok(path.to_path_buf()),
    }
}

/// Removes the temporary file unless it was renamed into place.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new hidden file next to the target: the same directory, so the rename is
/// atomic (same filesystem); hidden, so the directory poller never reads it.
fn create_temp(dir: &Path, file_name: &OsStr, private: bool) -> io::Result<(PathBuf, File)> {
    for _ in 0..100 {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = OsString::from(".");
        name.push(file_name);
        name.push(format!(".{}.{n}.tmp", std::process::id()));
        let path = dir.join(name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        if private {
            // The file may hold Secrets: nobody else may read the copy before
            // it takes the original's permissions.
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary file name",
    ))
}

/// Whether `path` still holds what it held when it was read.
fn unchanged(path: &Path, expect: &Expect<'_>) -> io::Result<bool> {
    match expect {
        Expect::Any => Ok(true),
        Expect::Absent => match fs::symlink_metadata(path) {
            Ok(_) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        },
        Expect::Bytes(bytes) => match read_file(path) {
            Ok(now) => Ok(now == *bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        },
    }
}

/// The atomic replacement: temp file, fsync, permissions, re-check, rename,
/// fsync of the directory. Between the re-check and the rename a concurrent
/// writer can still slip in; editors take no locks, so that window is as small
/// as it can be made.
pub(super) fn replace_file(
    path: &Path,
    contents: &[u8],
    expect: Expect<'_>,
    before_commit: &mut dyn FnMut(),
) -> Result<(), Commit> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let original = match fs::metadata(path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let (temp_path, mut file) = create_temp(dir, file_name, original.is_some())?;
    let mut temp = TempFile(Some(temp_path));
    file.write_all(contents)?;
    if let Some(meta) = &original {
        keep_owner(&file, meta);
        file.set_permissions(meta.permissions())?;
    }
    file.sync_all()?;
    drop(file);

    before_commit();
    if !unchanged(path, &expect)? {
        return Err(Commit::Conflict);
    }
    let Some(temp_path) = temp.0.take() else {
        return Err(io::Error::other("temporary file lost").into());
    };
    if let Err(e) = fs::rename(&temp_path, path) {
        let _ = fs::remove_file(&temp_path);
        return Err(e.into());
    }
    // The rename is durable only once the directory entry is on disk.
    sync_dir(dir)?;
    Ok(())
}

/// Gives the copy the original's owner when running as someone else (root
/// editing a user's file); without the right to, the copy keeps ours.
fn keep_owner(file: &File, original: &fs::Metadata) {
    let Ok(now) = file.metadata() else {
        return;
    };
    if now.uid() == original.uid() && now.gid() == original.gid() {
        return;
    }
    if let Err(e) = std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid())) {
        tracing::debug!(error = %e, "cannot keep the file's owner");
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        // Some filesystems cannot fsync a directory; the rename stands.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot fsync directory");
            Ok(())
        }
        other => other,
    }
}
