//! Why a stream could not be written back to its file: one error for the
//! editor and the file writes, so callers see one kind of failure.

use std::io;
use std::path::{Path, PathBuf};

/// Why a stream could not be written back to its file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Reading or writing the file failed.
    #[error("cannot update {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file holds no such stream.
    #[error("{} holds no ImageStream {namespace}/{name}", path.display())]
    NotFound {
        path: PathBuf,
        namespace: String,
        name: String,
    },
    /// The file is written in a way that cannot be edited in place without
    /// disturbing the rest of it; `reason` names the document and the fix.
    #[error("{reason}")]
    UnsupportedLayout { path: PathBuf, reason: String },
    /// The file changed on disk while it was being updated: read it again and
    /// retry.
    #[error("{} changed while it was being updated; read it again and retry", path.display())]
    Conflict { path: PathBuf },
    /// The stream's status in the file is no longer the one the new status
    /// was computed from (the CLI or a hand edit wrote it meanwhile).
    #[error(
        "the status of ImageStream {namespace}/{name} in {} changed since it was read; it is computed again from the file as it is now",
        path.display()
    )]
    Changed {
        path: PathBuf,
        namespace: String,
        name: String,
    },
    /// The new value could not be serialized.
    #[error("cannot serialize the new value: {0}")]
    Serialize(String),
}

pub(super) fn unsupported(path: &Path, reason: String) -> WriteError {
    WriteError::UnsupportedLayout {
        path: path.to_path_buf(),
        reason,
    }
}

pub(super) fn not_found(path: &Path, namespace: &str, name: &str) -> WriteError {
    WriteError::NotFound {
        path: path.to_path_buf(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}
