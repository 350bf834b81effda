//! Client-side pacing of sends (a token bucket), kept under the server's per-socket send limit
//! so a long outbox is never refused as `rate_limited` halfway: a refusal in the middle of a
//! pipelined window is the one thing that could reorder messages.

use tokio::time::Instant;

#[derive(Debug)]
pub(super) struct Pace {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Pace {
    pub(super) fn new(rate_per_sec: f64, burst: f64) -> Self {
        let rate = rate_per_sec.max(1.0);
        let burst = burst.max(1.0);
        Self {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Whole sends allowed right now.
    pub(super) fn available(&mut self) -> usize {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        // Truncation is the point: only whole tokens count.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = self.tokens.floor() as usize;
        whole
    }

    pub(super) fn take(&mut self, n: usize) {
        #[allow(clippy::cast_precision_loss)]
        let n = n as f64;
        self.tokens = (self.tokens - n).max(0.0);
    }

    /// When the next send is allowed.
    pub(super) fn next_at(&self) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        self.last + std::time::Duration::from_secs_f64(missing / self.rate)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_paces() {
        let mut pace = Pace::new(100.0, 10.0);
        assert_eq!(pace.available(), 10);
        pace.take(10);
        assert_eq!(pace.available(), 0);
        let next = pace.next_at();
        tokio::time::sleep_until(next).await;
        assert_eq!(pace.available(), 1);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert_eq!(pace.available(), 10, "never more than the burst");
    }
}
