//! The command line: its arguments (`args`), one module per command (wiring, not decisions), exit
//! codes. May use the core, `store`, `access`, `importer` and `serving`'s admission handler.
//!
//! Every command exits 0 when it did what was asked, 1 when it was denied
//! or its work failed, and 2 when what it was given (arguments, flags, the
//! `--config` file, the files of `--streams-dir`, the manifests to review)
//! cannot be used.

use std::fmt;
use std::process::ExitCode;

pub mod args;
pub mod bulk;
pub mod certs;
pub mod check_access;
pub mod convert;
pub mod images;
pub mod records;
pub mod review;
pub mod set;
mod streams;
pub mod tag;

/// Denied, or the work failed.
pub const EXIT_FAILED: u8 = 1;
/// Bad input: nothing was done.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Why a command stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// What the command was given cannot be used (exit 2).
    BadInput(String),
    /// The command could not do its work (exit 1).
    Failed(String),
}

impl CmdError {
    pub fn code(&self) -> u8 {
        match self {
            CmdError::BadInput(_) => EXIT_BAD_INPUT,
            CmdError::Failed(_) => EXIT_FAILED,
        }
    }

    /// Prints `error: …` on stderr; the exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("error: {self}");
        ExitCode::from(self.code())
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::BadInput(m) | CmdError::Failed(m) => f.write_str(m),
        }
    }
}

/// Errors from the work itself; bad input is marked with [`bad`].
impl From<String> for CmdError {
    fn from(m: String) -> CmdError {
        CmdError::Failed(m)
    }
}

impl From<&str> for CmdError {
    fn from(m: &str) -> CmdError {
        CmdError::Failed(m.to_owned())
    }
}

/// Marks an error as bad input.
pub fn bad(e: impl fmt::Display) -> CmdError {
    CmdError::BadInput(e.to_string())
}

/// The configuration file, read and checked: a bad one is bad input.
pub fn load_config(
    path: Option<&std::path::Path>,
) -> Result<imagestream_core::config::Config, CmdError> {
    read_config(path).map_err(CmdError::BadInput)
}

/// Reads the file, or the defaults when no file is given.
pub fn read_config(
    path: Option<&std::path::Path>,
) -> Result<imagestream_core::config::Config, String> {
    let Some(path) = path else {
        return Ok(imagestream_core::config::Config::default());
    };
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {shown} (--config): {e}"))?;
    imagestream_core::config::Config::parse(&text)
        .map_err(|reason| format!("config file {shown} (--config) is invalid: {reason}"))
}

/// The exit code of a command's result.
pub fn exit(result: Result<ExitCode, CmdError>) -> ExitCode {
    result.unwrap_or_else(|e| e.report())
}
