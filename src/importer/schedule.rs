//! The pace of scheduled imports: a token bucket for the per-minute limit,
//! and a stable spread of each tag's schedule so imports do not fire together.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub(super) struct TokenBucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    pub(super) fn new(per_minute: u32) -> TokenBucket {
        let capacity = f64::from(per_minute.max(1));
        TokenBucket {
            tokens: capacity,
            capacity,
            per_second: capacity / 60.0,
            last: Instant::now(),
        }
    }

    pub(super) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Time until the next token.
    pub(super) fn wait(&self) -> Duration {
        Duration::from_secs_f64(((1.0 - self.tokens) / self.per_second).max(0.0))
    }
}

/// A stable pseudo-random fraction in [0, 1) for a tag, so scheduled imports
/// spread out instead of all firing together after a start.
fn fraction(namespace: &str, name: &str, tag: &str, salt: u64) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (namespace, name, tag, salt).hash(&mut h);
    (h.finish() % 10_000) as f64 / 10_000.0
}

/// The first scheduled import of a tag, somewhere in its first interval.
pub(super) fn spread(interval: Duration, namespace: &str, name: &str, tag: &str) -> Duration {
    interval.mul_f64(fraction(namespace, name, tag, 0))
}

/// The interval ±10%.
pub(super) fn jittered(
    interval: Duration,
    namespace: &str,
    name: &str,
    tag: &str,
    now: Instant,
) -> Duration {
    let salt = now.elapsed().as_nanos() as u64 ^ interval.as_nanos() as u64;
    interval.mul_f64(0.9 + 0.2 * fraction(namespace, name, tag, salt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_paces() {
        let start = Instant::now();
        let mut b = TokenBucket::new(60);
        let taken = (0..100).filter(|_| b.take(start)).count();
        assert_eq!(taken, 60, "a full bucket holds a minute's worth");
        assert!(!b.take(start));
        assert!(
            b.take(start + Duration::from_millis(1001)),
            "one per second after that"
        );
        assert!(!b.take(start + Duration::from_millis(1002)));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let interval = Duration::from_secs(900);
        for _ in 0..100 {
            let j = jittered(interval, "ns", "s", "t", Instant::now());
            assert!(
                j >= Duration::from_secs(810) && j <= Duration::from_secs(990),
                "{j:?}"
            );
        }
        assert!(spread(interval, "ns", "s", "t") < interval);
    }
}
