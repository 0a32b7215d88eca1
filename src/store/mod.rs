//! The stores: the published snapshot and readiness, filled from `--streams-dir` (`directory`) or
//! the API server (`cluster`). May use the core, the Kubernetes client, `background`, `memory`.

pub mod cluster;
pub mod directory;
pub mod images;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::{ArcSwap, Guard};
use tokio::sync::watch;

use imagestream_core::stream::snapshot::Snapshot;

/// Shared by admission (readers) and the directory watcher or API reflector (the one writer).
#[derive(Debug)]
pub struct Store {
    snapshot: ArcSwap<Snapshot>,
    synced: AtomicBool,
    shutting_down: AtomicBool,
    /// Counts publications, so the importer wakes when streams change.
    version: watch::Sender<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            snapshot: ArcSwap::default(),
            synced: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            version: watch::channel(0).0,
        }
    }
}

impl Store {
    pub fn new() -> Arc<Store> {
        Arc::new(Store::default())
    }

    /// Changes whenever a new snapshot is published.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The snapshot in force; cheap, lock-free, never blocks the writer.
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// The snapshot in force, as an owned handle that may be held across awaits.
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Replaces the snapshot and marks the store synced.
    pub fn publish(&self, snap: Snapshot) {
        self.snapshot.store(Arc::new(snap));
        self.synced.store(true, Ordering::Release);
        self.version.send_modify(|v| *v += 1);
    }

    /// A first snapshot has been published.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Ready to serve admission: synced once, and not shutting down.
    pub fn is_ready(&self) -> bool {
        self.synced.load(Ordering::Acquire) && !self.shutting_down.load(Ordering::Acquire)
    }

    /// Readiness goes false first on SIGTERM, so endpoints drop this replica
    /// while in-flight requests finish.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }
}
