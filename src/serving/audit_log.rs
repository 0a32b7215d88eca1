//! The policy audit log: the writer that appends one JSON line per admission
//! decision to stdout or a file (the line itself is written by the core).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use imagestream_core::admission::audit_record::AuditRecord;

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

impl Destination {
    /// `-` is stdout; anything else a file path.
    pub fn parse(s: &str) -> Destination {
        if s == "-" {
            Destination::Stdout
        } else {
            Destination::File(PathBuf::from(s))
        }
    }
}

/// Bytes waiting to be written; past this, new records are counted as
/// dropped rather than making admission wait on the disk.
const BUFFER_LIMIT: usize = 64 * 1024 * 1024;
/// How often the writer drains the buffer. Requests never wake the writer
/// one by one (a wake-up per request cost a third of the server's CPU at
/// saturation)...
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// ...only the request that fills this much does, so the writer copies lines
/// still in the CPU's cache: draining megabytes every 20 ms at saturation
/// made the kernel's copy into the page cache a tenth of the server's CPU.
const FLUSH_AT: usize = 64 * 1024;

struct Shared {
    buffer: Mutex<Vec<u8>>,
    filled: Condvar,
    dropped: Counter,
}

/// The sending side, shared by every request.
#[derive(Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
}

impl AuditLog {
    /// Starts the writer thread. A file is opened (append, created) now, so a
    /// bad path fails at start-up with the flag named. The writer ends, after a
    /// last drain, once every `AuditLog` handle is dropped.
    pub fn start(
        dest: Destination,
        dropped: Counter,
    ) -> io::Result<(AuditLog, tokio::task::JoinHandle<()>)> {
        let writer = Writer::open(dest)?;
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Vec::with_capacity(2 * FLUSH_AT)),
            filled: Condvar::new(),
            dropped,
        });
        let theirs = shared.clone();
        let task = tokio::task::spawn_blocking(move || writer.run(theirs));
        Ok((AuditLog { shared }, task))
    }

    pub fn record(&self, rec: &AuditRecord) {
        let Ok(mut line) = serde_json::to_vec(rec) else {
            return;
        };
        line.push(b'\n');
        self.append(|buffer| buffer.extend_from_slice(&line));
    }

    /// Appends one line written by `write` (see `write_line`) straight into
    /// the shared buffer: no copy, no allocation once the buffer has grown.
    pub fn append(&self, write: impl FnOnce(&mut Vec<u8>)) {
        let mut buffer = self.shared.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let before = buffer.len();
        write(&mut buffer);
        let after = buffer.len();
        if after > BUFFER_LIMIT {
            buffer.truncate(before);
            drop(buffer);
            let n = self.shared.dropped.inc() + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "audit log writer is behind; records dropped");
            }
        } else if before < FLUSH_AT && after >= FLUSH_AT {
            drop(buffer);
            self.shared.filled.notify_one();
        }
    }

    /// Records dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.get()
    }
}

struct Writer {
    dest: Destination,
    /// The open file; `None` while its path cannot be opened (its directory
    /// is gone, say): records are then counted as dropped.
    file: Option<File>,
    /// Device and inode of `file`, to notice logrotate moving it away.
    ino: Option<(u64, u64)>,
    /// When the path was last compared with the open file, or opened.
    checked: Instant,
    /// Why the path could not be opened, while it cannot.
    closed_because: String,
    /// Bytes of a record cut short at the end of `file` that could not be
    /// truncated away yet: nothing is appended after them.
    torn: u64,
    trouble: Trouble,
}

/// How often the file's path is compared with the open file, and how often
/// a path that could not be opened is tried again.
const REOPEN_CHECK: Duration = Duration::from_secs(1);

impl Writer {
    fn open(dest: Destination) -> io::Result<Writer> {
        let (file, ino) = match &dest {
            Destination::Stdout => (None, None),
            Destination::File(path) => {
                let f = open_append(path)?;
                let meta = f.metadata()?;
                (Some(f), Some((meta.dev(), meta.ino())))
            }
        };
        Ok(Writer {
            dest,
            file,
            ino,
            checked: Instant::now(),
            closed_because: String::new(),
            torn: 0,
            trouble: Trouble::default(),
        })
    }

    fn run(mut self, shared: Arc<Shared>) {
        let mut spare = Vec::new();
        loop {
            // Only this thread holds `shared` once every sender is gone.
            let last = Arc::strong_count(&shared) == 1;
            {
                let mut buffer = shared.buffer.lock().unwrap_or_else(|e| e.into_inner());
                if !last && buffer.len() < FLUSH_AT {
                    buffer = match shared.filled.wait_timeout(buffer, FLUSH_EVERY) {
                        Ok((b, _)) => b,
                        Err(e) => e.into_inner().0,
                    };
                }
                std::mem::swap(&mut *buffer, &mut spare);
            }
            if !spare.is_empty() {
                match self.write(&spare) {
                    Ok(()) => self.trouble.recovered(),
                    Err((lost, why)) => {
                        shared.dropped.inc_by(lost);
                        self.trouble.failed(lost, &why);
                    }
                }
                spare.clear();
                // A burst the writer fell behind on grows both buffers (they
                // swap); keeping that capacity for good cost ~10 MiB of RSS
                // after a saturation run. Back to the steady-state size.
                spare.shrink_to(2 * FLUSH_AT);
            }
            if last {
                return;
            }
        }
    }

    /// Writes a batch of whole lines; on failure, the records not written
    /// whole and why. A file never keeps part of a record: a write cut short
    /// is truncated back to the last whole line.
    fn write(&mut self, batch: &[u8]) -> Result<(), (u64, String)> {
        if let Destination::Stdout = self.dest {
            return write_counted(&mut io::stdout().lock(), batch).map_err(|(written, e)| {
                (records(&batch[whole(&batch[..written])..]), e.to_string())
            });
        }
        self.check_path();
        if self.torn > 0 && !self.cut_torn() {
            return Err((
                records(batch),
                "a record cut short at the end of the file cannot be removed".to_owned(),
            ));
        }
        let Some(file) = &mut self.file else {
            return Err((records(batch), self.closed_because.clone()));
        };
        let Err((written, e)) = write_counted(file, batch) else {
            return Ok(());
        };
        let kept = whole(&batch[..written]);
        self.torn = (written - kept) as u64;
        if self.torn > 0 {
            self.cut_torn();
        }
        Err((records(&batch[kept..]), e.to_string()))
    }

    /// Truncates the partial record at the end of the file; whether it is gone.
    fn cut_torn(&mut self) -> bool {
        let Some(file) = &self.file else {
            self.torn = 0;
            return true;
        };
        let cut = file
            .metadata()
            .and_then(|m| file.set_len(m.len().saturating_sub(self.torn)));
        match cut {
            Ok(()) => {
                self.torn = 0;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot remove a partial record from the end of the audit log; nothing is written after it until it is removed");
                false
            }
        }
    }

    /// Reopens the file when it was deleted (what is written to a deleted
    /// file is lost), when logrotate moved it away, or, once a second, when
    /// its path could not be opened.
    fn check_path(&mut self) {
        let Destination::File(path) = &self.dest else {
            return;
        };
        match &self.file {
            Some(f) if f.metadata().is_ok_and(|m| m.nlink() == 0) => {
                tracing::warn!(path = %path.display(), "the audit log file was deleted; creating it again");
            }
            Some(_) if self.checked.elapsed() >= REOPEN_CHECK => {
                self.checked = Instant::now();
                let current = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
                if current.is_some() && current == self.ino {
                    return;
                }
            }
            None if self.checked.elapsed() >= REOPEN_CHECK => {}
            _ => return,
        }
        self.checked = Instant::now();
        match open_append(path) {
            Ok(f) => {
                self.ino = f.metadata().ok().map(|m| (m.dev(), m.ino()));
                self.file = Some(f);
                self.torn = 0;
                tracing::info!(path = %path.display(), "audit log reopened");
            }
            Err(e) => {
                self.file = None;
                self.ino = None;
                self.torn = 0;
                self.closed_because = e.to_string();
            }
        }
    }
}

/// Writes `batch`; on failure, how many bytes were written before it.
fn write_counted(out: &mut impl Write, batch: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut written = 0;
    while written < batch.len() {
        match out.write(&batch[written..]) {
            Ok(0) => return Err((written, io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((written, e)),
        }
    }
    Ok(())
}

/// The length of the whole lines at the start of `bytes`.
fn whole(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// Records in `bytes`: each ends with its one newline.
fn records(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// How often, at most, a failing audit log is reported while it keeps failing.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Reports dropped records without flooding the log: the first failure at
/// once, then one line per `REPORT_EVERY` with the count since, and one
/// when writing works again.
#[derive(Default)]
struct Trouble {
    failing: bool,
    /// Dropped since the last report.
    unreported: u64,
    reported: Option<Instant>,
}

impl Trouble {
    fn failed(&mut self, lost: u64, why: &str) {
        self.unreported += lost;
        if !self.failing || self.reported.is_none_or(|t| t.elapsed() >= REPORT_EVERY) {
            tracing::error!(
                dropped = self.unreported,
                error = %why,
                "audit records dropped: cannot write the audit log (counted in imagestream_webhook_audit_records_dropped_total)"
            );
            self.unreported = 0;
            self.reported = Some(Instant::now());
        }
        self.failing = true;
    }

    fn recovered(&mut self) {
        if self.failing {
            tracing::warn!(
                dropped_since_last_report = self.unreported,
                "audit log written again"
            );
            *self = Trouble::default();
        }
    }
}

fn open_append(path: &PathBuf) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot open audit log {} (--audit-log): {e}",
                    path.display()
                ),
            )
        })
}

/// Makes a file-size limit (`RLIMIT_FSIZE`, `ulimit -f`) fail the audit
/// log's writes with EFBIG, which are counted as dropped records, rather than
/// kill the process with SIGXFSZ: admission must not stop because a log file
/// cannot grow.
pub fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler
    // code and has no precondition.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imagestream_core::admission::audit_record::now_rfc3339;

    #[tokio::test]
    async fn file_is_appended_and_reopened_after_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "earlier\n").expect("seed");
        let (log, task) =
            AuditLog::start(Destination::File(path.clone()), Counter::default()).expect("start");
        log.record(&rec("one"));
        wait_for(&path, "\"one\"").await;
        std::fs::rename(&path, dir.path().join("audit.log.1")).expect("rotate");
        // The writer notices the move within REOPEN_CHECK.
        tokio::time::sleep(REOPEN_CHECK + Duration::from_millis(100)).await;
        log.record(&rec("two"));
        wait_for(&path, "\"two\"").await;
        let old = std::fs::read_to_string(dir.path().join("audit.log.1")).expect("old");
        assert!(
            old.starts_with("earlier\n") && old.contains("\"one\"") && !old.contains("\"two\"")
        );
        drop(log);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("writer ends")
            .expect("writer task");
    }

    fn rec(uid: &str) -> AuditRecord {
        AuditRecord {
            ts: now_rfc3339(),
            endpoint: "mutate".into(),
            uid: uid.into(),
            operation: "CREATE".into(),
            kind: "Pod".into(),
            namespace: "n".into(),
            name: "p".into(),
            user: "alice".into(),
            service_account: "n/default".into(),
            dry_run: false,
            decision: "allow".into(),
            images: vec![],
            images_omitted: None,
            reason: None,
            latency_micros: 1,
        }
    }

    /// A full disk (/dev/full answers every write with ENOSPC): each record
    /// is counted, none vanishes silently.
    #[tokio::test]
    async fn records_a_full_disk_refuses_are_counted() {
        let dropped = Counter::default();
        let (log, task) =
            AuditLog::start(Destination::File("/dev/full".into()), dropped.clone()).expect("start");
        for uid in ["one", "two", "three"] {
            log.record(&rec(uid));
        }
        drop(log);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("writer ends")
            .expect("writer task");
        assert_eq!(dropped.get(), 3);
    }

    #[test]
    fn a_cut_batch_keeps_its_whole_lines_only() {
        let batch = b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";
        assert_eq!(whole(&batch[..3]), 0);
        assert_eq!(whole(batch), batch.len());
        // 12 bytes written: the first record whole, the second cut short.
        let kept = whole(&batch[..12]);
        assert_eq!(kept, 8);
        assert_eq!(records(&batch[kept..]), 2);
    }

    async fn wait_for(path: &PathBuf, needle: &str) {
        for _ in 0..200 {
            if std::fs::read_to_string(path).is_ok_and(|s| s.contains(needle)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{needle} never written to {}", path.display());
    }

    #[test]
    fn bad_path_names_the_flag() {
        let err = Writer::open(Destination::File("/nonexistent/dir/audit.log".into()))
            .err()
            .expect("fails");
        assert!(err.to_string().contains("--audit-log"), "{err}");
    }
}
