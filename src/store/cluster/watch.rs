//! List-then-watch of one resource, with backoff.
//!
//! kube's `watcher` backs off only after errors; a watch that the API server
//! answers and closes at once, with no event, is reopened immediately, over
//! and over, exactly when the API server is struggling. This loop treats such
//! a watch as a failure (as client-go does) and backs off, and it also slows
//! down a storm of `410 Gone` re-lists.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kube::Resource;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the watch saw.
#[derive(Debug)]
pub enum Change<K> {
    /// A full list: the complete current set, replacing whatever was known.
    Listed(Vec<K>),
    Applied(K),
    Deleted(K),
    /// A failed list or watch, already being retried; for logs and metrics.
    Failed(String),
}

/// A watch that ends sooner than this with no event counts as a failure.
const SHORT_WATCH: Duration = Duration::from_secs(1);
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The API server ends watches after this long; the client then re-watches.
const WATCH_TIMEOUT_SECS: u32 = 290;

struct Backoff(Duration);

impl Backoff {
    fn next(&mut self) -> Duration {
        let now = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        now
    }

    fn reset(&mut self) {
        self.0 = BACKOFF_FIRST;
    }
}

/// Starts the loop on its own task; changes arrive on the returned channel
/// until `shutdown`.
pub fn spawn<K>(api: Api<K>, shutdown: CancellationToken) -> mpsc::Receiver<Change<K>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = run(api, tx) => {}
        }
    });
    rx
}

async fn run<K>(api: Api<K>, tx: mpsc::Sender<Change<K>>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let mut backoff = Backoff(BACKOFF_FIRST);
    let mut last_list: Option<Instant> = None;
    loop {
        // A re-list right after the previous one (a 410 storm) waits its turn.
        if last_list.is_some_and(|t| t.elapsed() < SHORT_WATCH) {
            tokio::time::sleep(backoff.next()).await;
        }
        last_list = Some(Instant::now());
        let list = match api.list(&ListParams::default()).await {
            Ok(l) => l,
            Err(e) => {
                if tx
                    .send(Change::Failed(format!("list failed: {e}")))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
        };
        let mut version = list.metadata.resource_version.clone().unwrap_or_default();
        if tx.send(Change::Listed(list.items)).await.is_err() {
            return;
        }
        loop {
            let started = Instant::now();
            let params = WatchParams::default().timeout(WATCH_TIMEOUT_SECS);
            let stream = match api.watch(&params, &version).await {
                Ok(s) => s,
                Err(e) => {
                    let gone = matches!(&e, kube::Error::Api(s) if s.code == 410);
                    if tx
                        .send(Change::Failed(format!("watch failed: {e}")))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(backoff.next()).await;
                    if gone {
                        break;
                    }
                    continue;
                }
            };
            let mut stream = std::pin::pin!(stream);
            let mut seen = 0usize;
            let mut relist = false;
            while let Some(item) = stream.next().await {
                let change = match item {
                    Ok(WatchEvent::Added(o) | WatchEvent::Modified(o)) => {
                        version = o.meta().resource_version.clone().unwrap_or(version);
                        Change::Applied(o)
                    }
                    Ok(WatchEvent::Deleted(o)) => {
                        version = o.meta().resource_version.clone().unwrap_or(version);
                        Change::Deleted(o)
                    }
                    Ok(WatchEvent::Bookmark(b)) => {
                        version = b.metadata.resource_version;
                        seen += 1;
                        continue;
                    }
                    Ok(WatchEvent::Error(status)) => {
                        // 410: the resourceVersion was compacted away; only a new list helps.
                        relist = status.code == 410;
                        Change::Failed(format!("watch ended: {} ({})", status.message, status.code))
                    }
                    Err(e) => Change::Failed(format!("watch stream failed: {e}")),
                };
                let failed = matches!(change, Change::Failed(_));
                if tx.send(change).await.is_err() {
                    return;
                }
                if failed {
                    break;
                }
                seen += 1;
            }
            if relist {
                break;
            }
            if seen == 0 && started.elapsed() < SHORT_WATCH {
                if tx
                    .send(Change::Failed(
                        "watch ended at once with no event".to_owned(),
                    ))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(backoff.next()).await;
            } else if seen > 0 {
                backoff.reset();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff(BACKOFF_FIRST);
        let steps: Vec<_> = (0..10).map(|_| b.next()).collect();
        assert_eq!(steps[0], Duration::from_millis(200));
        assert_eq!(steps[1], Duration::from_millis(400));
        assert_eq!(*steps.last().unwrap_or(&Duration::ZERO), BACKOFF_MAX);
        b.reset();
        assert_eq!(b.next(), BACKOFF_FIRST);
    }
}
