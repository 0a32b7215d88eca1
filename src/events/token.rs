//! The receiver's token: read from `--events-token-file` (a Secret volume),
//! re-read when it changes, and compared in constant time. Its value never
//! reaches a log line, an error or a metric.

use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use imagestream_core::events::auth;
use subtle::ConstantTimeEq as _;

/// The largest token file read: a token is at most 4 KiB, and a file much
/// bigger is not one.
const MAX_FILE_BYTES: u64 = 64 * 1024;

pub struct TokenFile {
    path: PathBuf,
    /// The token in force, and the file's bytes it was read from (to see a change).
    current: RwLock<(Arc<[u8]>, Vec<u8>)>,
}

impl TokenFile {
    /// Reads the file; a missing, unreadable or malformed token stops start-up.
    pub fn load(path: &Path) -> Result<TokenFile, String> {
        let raw = read(path)?;
        let token = parse(path, &raw)?;
        Ok(TokenFile {
            path: path.to_owned(),
            current: RwLock::new((token, raw)),
        })
    }

    fn token(&self) -> Arc<[u8]> {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        guard.0.clone()
    }

    /// Whether `presented` is the token. `ct_eq` takes the same time
    /// whatever bytes differ, so the answer's timing tells nothing about how
    /// much of a guess was right (a length mismatch returns at once, which
    /// tells only the length).
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.token().ct_eq(presented.as_bytes()))
    }

    /// Whether `signature` is the HMAC-SHA256 of `body` keyed with the token
    /// (GitHub's `X-Hub-Signature-256`); ring compares in constant time.
    pub fn signed(&self, body: &[u8], signature: &[u8; 32]) -> bool {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.token());
        ring::hmac::verify(&key, body, signature).is_ok()
    }

    /// Reads the file again; `Ok(true)` when the token changed. A file that
    /// became unreadable or malformed keeps the last good token in force.
    pub fn reload(&self) -> Result<bool, String> {
        let raw = read(&self.path)?;
        {
            let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
            if guard.1 == raw {
                return Ok(false);
            }
        }
        let token = parse(&self.path, &raw)?;
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        *guard = (token, raw);
        Ok(true)
    }

    /// Re-reads the file every `interval` until `shutdown`. A Secret volume
    /// is updated by swapping a symlink, so contents are compared, not mtimes.
    pub async fn watch(self: Arc<Self>, interval: Duration, shutdown: impl Future) {
        let mut shutdown = pin!(shutdown);
        let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => return,
                _ = ticks.tick() => {}
            }
            let me = self.clone();
            let result = crate::background::run("events-token-reader", move || me.reload())
                .await
                .unwrap_or_else(|| Err("the token reader failed".into()));
            match result {
                Ok(true) => {
                    last_error = None;
                    tracing::info!(file = %self.path.display(), "events token reloaded");
                }
                Ok(false) => last_error = None,
                Err(e) => {
                    if last_error.as_deref() != Some(e.as_str()) {
                        tracing::warn!(error = %e, "cannot reload the events token; the last good one stays in force");
                    }
                    last_error = Some(e);
                }
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read --events-token-file {}: {e}", path.display()))?;
    let mut raw = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("cannot read --events-token-file {}: {e}", path.display()))?;
    if raw.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "--events-token-file {} is larger than {MAX_FILE_BYTES} bytes; it holds one token",
            path.display()
        ));
    }
    Ok(raw)
}

/// The token of the file's bytes; the error names the file, never its content.
fn parse(path: &Path, raw: &[u8]) -> Result<Arc<[u8]>, String> {
    let text = std::str::from_utf8(raw).map_err(|_| {
        format!(
            "--events-token-file {} is not text; it holds one token (make one with: openssl rand -hex 32)",
            path.display()
        )
    })?;
    let token = auth::token_of_file(text)
        .map_err(|why| format!("--events-token-file {} {why}", path.display()))?;
    Ok(Arc::from(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn file(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("token");
        std::fs::write(&path, text).expect("write token");
        path
    }

    #[test]
    fn the_token_is_compared_whole_and_reloaded_when_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file(dir.path(), &format!("{TOKEN}\n"));
        let t = TokenFile::load(&path).expect("loads");
        assert!(t.matches(TOKEN));
        for wrong in [
            "",
            &TOKEN[..31],
            &format!("{TOKEN}0"),
            &TOKEN.to_uppercase(),
        ] {
            assert!(!t.matches(wrong), "{wrong}");
        }
        assert_eq!(t.reload(), Ok(false));
        let next = "fedcba9876543210fedcba9876543210";
        file(dir.path(), next);
        assert_eq!(t.reload(), Ok(true));
        assert!(t.matches(next) && !t.matches(TOKEN));
        // A broken file keeps the last good token, and its error shows no content.
        file(dir.path(), "short-secret");
        let err = t.reload().expect_err("too short");
        assert!(!err.contains("short-secret"), "{err}");
        assert!(t.matches(next));
        std::fs::remove_file(&path).expect("remove");
        assert!(t.reload().is_err());
        assert!(t.matches(next));
    }

    #[test]
    fn a_missing_or_malformed_file_stops_start_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(TokenFile::load(&dir.path().join("absent")).is_err());
        let path = file(dir.path(), "two words-that-are-long-enough");
        let err = TokenFile::load(&path).err().expect("refused");
        assert!(
            err.contains("--events-token-file") && !err.contains("words"),
            "{err}"
        );
    }

    #[test]
    fn github_signatures_are_the_hmac_of_the_body() {
        // GitHub's documented test vector.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file(dir.path(), "It's a Secret to Everybody");
        let err = TokenFile::load(&path).err().expect("has spaces");
        assert!(err.contains("one word"), "{err}");
        let path = file(dir.path(), "It's-a-Secret-to-Everybody");
        let t = TokenFile::load(&path).expect("loads");
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"It's-a-Secret-to-Everybody");
        let tag = ring::hmac::sign(&key, b"Hello, World!");
        let sig: [u8; 32] = tag.as_ref().try_into().expect("32 bytes");
        assert!(t.signed(b"Hello, World!", &sig));
        assert!(!t.signed(b"Hello, World?", &sig));
        let mut bad = sig;
        bad[31] ^= 1;
        assert!(!t.signed(b"Hello, World!", &bad));
    }
}
