//! Rate limits: at most N records per second per service, on this node.
//!
//! Each service has a token bucket holding up to one second of tokens (at
//! least one, so that a limit below 1/s still lets a record through now and
//! then), refilled continuously. It is kept as the time the bucket will next
//! be full (the generic cell rate algorithm), which is the same bucket in
//! whole nanoseconds: a bucket of 100/s refilled for 10 ms holds exactly one
//! more token, with no floating-point remainder to decide an edge case.
//!
//! Time is passed in, never read here, so that tests step it and the
//! pipeline reads the clock once per batch.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Services with a bucket of their own, per rule. Service names come from
/// record metadata; past this many, the rest share one bucket, so that a
/// flood of distinct names cannot grow memory (they are then limited
/// together, which errs on the side of fewer records, never more).
const MAX_SERVICES: usize = 1024;

/// The largest limit the configuration accepts: one token per nanosecond is
/// the finest the buckets can count.
pub(super) const MAX_PER_SECOND: f64 = 1_000_000.0;

#[derive(Debug)]
pub(super) struct RateLimit {
    /// Time to earn one token; `None` for a limit of zero (a Jaeger
    /// `ratelimiting` strategy with `param: 0`), which admits nothing.
    interval: Option<Duration>,
    /// How far ahead of now a bucket's refill time may run before it is
    /// empty: the burst, less the one token being taken.
    tolerance: Duration,
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    by_service: HashMap<Box<str>, Bucket>,
    overflow: Bucket,
}

/// When the bucket is next full; `None` for a bucket never used (full).
#[derive(Debug, Default)]
struct Bucket {
    full_at: Option<Instant>,
}

impl RateLimit {
    /// `per_second` is in `0.0..=MAX_PER_SECOND`, checked by the caller.
    pub(super) fn new(per_second: f64) -> RateLimit {
        if per_second <= 0.0 {
            return RateLimit {
                interval: None,
                tolerance: Duration::ZERO,
                buckets: Mutex::default(),
            };
        }
        let interval = Duration::from_nanos((1e9 / per_second).round().max(1.0) as u64);
        let burst = per_second.floor().max(1.0) as u32;
        RateLimit {
            interval: Some(interval),
            tolerance: interval * (burst - 1),
            buckets: Mutex::default(),
        }
    }

    /// Takes a token from `service`'s bucket at `now`, if it has one.
    pub(super) fn admit(&self, service: &str, now: Instant) -> bool {
        let Some(interval) = self.interval else {
            return false;
        };
        // A panic elsewhere while holding the lock leaves buckets that are
        // still consistent: each update is a single assignment.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let buckets = &mut *buckets;
        let bucket = if let Some(bucket) = buckets.by_service.get_mut(service) {
            bucket
        } else if buckets.by_service.len() < MAX_SERVICES {
            buckets.by_service.entry(service.into()).or_default()
        } else {
            &mut buckets.overflow
        };
        bucket.take(now, interval, self.tolerance)
    }
}

impl Bucket {
    fn take(&mut self, now: Instant, interval: Duration, tolerance: Duration) -> bool {
        // Instants from several threads may arrive out of order; one from
        // the past finds the bucket as the latest one left it.
        let full_at = self.full_at.map_or(now, |full_at| full_at.max(now));
        let empty = now
            .checked_add(tolerance)
            .is_some_and(|limit| full_at > limit);
        if empty {
            return false;
        }
        self.full_at = Some(full_at + interval);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(limit: &RateLimit, service: &str, now: Instant, tries: usize) -> usize {
        (0..tries).filter(|_| limit.admit(service, now)).count()
    }

    #[test]
    fn a_burst_of_one_second_then_one_token_per_interval() {
        let limit = RateLimit::new(100.0);
        let start = Instant::now();
        assert_eq!(admitted(&limit, "a", start, 500), 100);
        assert_eq!(
            admitted(&limit, "a", start + Duration::from_millis(10), 5),
            1
        );
        assert_eq!(
            admitted(&limit, "a", start + Duration::from_millis(15), 5),
            0
        );
        // Two seconds later the bucket is full again, and no fuller.
        assert_eq!(
            admitted(&limit, "a", start + Duration::from_secs(3), 500),
            100
        );
    }

    #[test]
    fn services_have_their_own_buckets() {
        let limit = RateLimit::new(2.0);
        let now = Instant::now();
        assert_eq!(admitted(&limit, "a", now, 10), 2);
        assert_eq!(admitted(&limit, "b", now, 10), 2);
    }

    #[test]
    fn fractional_limits_admit_one_per_period() {
        let limit = RateLimit::new(0.5);
        let start = Instant::now();
        assert_eq!(admitted(&limit, "a", start, 10), 1);
        assert_eq!(admitted(&limit, "a", start + Duration::from_secs(1), 10), 0);
        assert_eq!(admitted(&limit, "a", start + Duration::from_secs(2), 10), 1);
    }

    #[test]
    fn zero_admits_nothing() {
        let limit = RateLimit::new(0.0);
        assert_eq!(admitted(&limit, "a", Instant::now(), 10), 0);
    }

    #[test]
    fn time_from_the_past_does_not_refill() {
        let limit = RateLimit::new(1.0);
        let start = Instant::now() + Duration::from_secs(10);
        assert!(limit.admit("a", start));
        assert!(!limit.admit("a", start - Duration::from_secs(5)));
        assert!(!limit.admit("a", start));
        assert!(limit.admit("a", start + Duration::from_secs(1)));
    }

    #[test]
    fn services_past_the_cap_share_one_bucket() {
        let limit = RateLimit::new(1.0);
        let now = Instant::now();
        for index in 0..MAX_SERVICES {
            assert!(limit.admit(&format!("service-{index}"), now));
        }
        assert!(limit.admit("late-1", now));
        assert!(!limit.admit("late-2", now));
        // Services with buckets keep them.
        assert!(!limit.admit("service-0", now));
    }
}
