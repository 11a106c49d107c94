//! Fixed-window counters for abuse limits (sign-in failures, reset requests), per key.
//! They live in this process: several instances each keep their own counts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Throttle {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Refused: try again after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

const MAX_KEYS: usize = 100_000;

impl Throttle {
    /// Fails when `key` already has `limit` hits in its current window.
    pub fn check(&self, key: &str, limit: u32, window: Duration) -> Result<(), RetryAfter> {
        let now = Instant::now();
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get(key) {
            Some((start, count)) if now.duration_since(*start) < window && *count >= limit => {
                let left = window.saturating_sub(now.duration_since(*start));
                Err(RetryAfter(left.as_secs().max(1)))
            }
            _ => Ok(()),
        }
    }

    /// Counts one hit against `key`.
    pub fn hit(&self, key: &str, window: Duration) {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    /// Counts a hit and fails if it goes over `limit`: for requests that are limited whether
    /// or not they succeed.
    pub fn hit_and_check(&self, key: &str, limit: u32, window: Duration) -> Result<(), RetryAfter> {
        self.check(key, limit, window)?;
        self.hit(key, window);
        Ok(())
    }

    pub fn reset(&self, key: &str) {
        self.windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_its_limit_and_freed_by_reset() {
        let t = Throttle::default();
        let w = Duration::from_secs(60);
        for _ in 0..3 {
            assert!(t.check("a", 3, w).is_ok());
            t.hit("a", w);
        }
        let RetryAfter(secs) = t.check("a", 3, w).unwrap_err();
        assert!(secs > 0 && secs <= 60);
        assert!(t.check("b", 3, w).is_ok());
        t.reset("a");
        assert!(t.check("a", 3, w).is_ok());
    }

    #[test]
    fn a_window_ends() {
        let t = Throttle::default();
        let w = Duration::from_millis(20);
        t.hit("a", w);
        assert!(t.check("a", 1, w).is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(t.check("a", 1, w).is_ok());
    }
}
