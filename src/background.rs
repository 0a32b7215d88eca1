//! Work that must never hold up admission: the importer's planning pass, its
//! status file writes and the directory reload's parsing run on threads of
//! their own at a lower CPU priority (nice 10), so on a busy node the kernel
//! runs the admission threads first and the background work takes what is
//! left.
//!
//! Measured at 10,000 streams in directory mode with the importer on (every
//! import failing, so every stream's status is written), 2,000 admission
//! requests/s on 2 cores: admission's p99 in the first 12 s of importing was
//! 7.9–17 ms with this work on tokio's blocking pool and 0.75–4.1 ms here;
//! later it was 0.5–1.1 ms and is 0.37–0.76 ms. Tokio's pool is not used:
//! its threads are shared, and one left at nice 10 would slow whatever
//! blocking work lands on it next.

/// The nice value of background threads (0 is normal, 19 the lowest).
const BACKGROUND_NICE: i32 = 10;

/// Runs `f` on a new thread named `name` at background priority and waits
/// for its result; `None` if the thread could not start or `f` panicked.
/// Threads `f` starts inherit the priority.
pub async fn run<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            lower_priority();
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        tracing::error!(thread = name, error = %e, "cannot start a background thread");
        return None;
    }
    rx.await.ok()
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux the nice value belongs to each thread, and `who` 0 names the
    // calling one. Lowering one's own priority needs no privilege; if it
    // fails anyway the work still runs, at normal priority.
    // SAFETY: setpriority takes no pointers.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, BACKGROUND_NICE) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower a background thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn background_work_runs_at_a_lower_priority_and_returns_its_result() {
        let nice = run("test-background", || {
            // SAFETY: getpriority takes no pointers.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
        })
        .await;
        #[cfg(target_os = "linux")]
        assert_eq!(nice, Some(BACKGROUND_NICE));
        assert!(nice.is_some());
        // The caller's own thread keeps its priority.
        // SAFETY: as above.
        let own = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        assert!(own < BACKGROUND_NICE, "{own}");
        assert_eq!(run("test-panic", || -> u8 { panic!("boom") }).await, None);
    }
}
