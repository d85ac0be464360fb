//! A token bucket in its "theoretical arrival time" form: one instant, the time at which
//! the bucket will be full again, instead of a count and a refill time. Shared by the
//! per-client handshake limit and the per-connection message limit. Owns the arithmetic;
//! never knows what it counts.

use std::time::Duration;

use tokio::time::Instant;

/// One bucket; it starts full.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenBucket {
    full_at: Instant,
}

impl TokenBucket {
    pub(crate) fn full(now: Instant) -> TokenBucket {
        TokenBucket { full_at: now }
    }

    /// Take one token from a bucket of `burst` tokens, one earned back every
    /// `interval`; when it is empty, the time until a token is earned.
    pub(crate) fn take(
        &mut self,
        now: Instant,
        interval: Duration,
        burst: u32,
    ) -> Result<(), Duration> {
        // Taking a token moves the full-again instant one interval later; the bucket
        // holds at most `burst` intervals.
        let full_at = self.full_at.max(now) + interval;
        let limit = now + interval * burst;
        if full_at > limit {
            return Err(full_at - limit);
        }
        self.full_at = full_at;
        Ok(())
    }

    /// The instant from which the bucket is full again (as if never used).
    pub(crate) fn full_at(&self) -> Instant {
        self.full_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_one_per_interval() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let mut bucket = TokenBucket::full(now);
        assert_eq!(bucket.take(now, second, 2), Ok(()));
        assert_eq!(bucket.take(now, second, 2), Ok(()));
        assert_eq!(bucket.take(now, second, 2), Err(second));
        let later = now + Duration::from_millis(1500);
        assert_eq!(bucket.take(later, second, 2), Ok(()));
        assert_eq!(
            bucket.take(later, second, 2),
            Err(Duration::from_millis(500))
        );
        assert_eq!(bucket.full_at(), now + Duration::from_secs(3));
    }
}
