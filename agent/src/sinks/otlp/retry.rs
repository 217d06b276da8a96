//! Which failures are worth another attempt, and how long to wait.
//!
//! The OTLP specification's lists: gRPC `CANCELLED`, `DEADLINE_EXCEEDED`,
//! `RESOURCE_EXHAUSTED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE` and
//! `DATA_LOSS`; HTTP 429, 502, 503 and 504; and any failure to reach the
//! receiver at all. Everything else (a 400, `INVALID_ARGUMENT`,
//! `UNAUTHENTICATED`) fails the same way every time and drops the batch.
//! The specification retries `RESOURCE_EXHAUSTED` only when the receiver
//! says when to (`RetryInfo`); a receiver that is out of memory recovers
//! without saying so, and the backoff keeps the retries polite, so it is
//! always retried here.
//!
//! Waits grow exponentially from `min_backoff_ms` to `max_backoff_ms`, each
//! jittered to between half and all of its nominal length so that the
//! agents of a cluster, failed by one receiver restart, do not come back
//! in step. A receiver's `Retry-After` or `RetryInfo` is a minimum: the
//! wait is the longer of it and the backoff. No wait may end past the
//! batch's deadline (`max_elapsed_ms` after its first attempt).

use std::fmt;
use std::hash::BuildHasher;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::config::BackoffSettings;

/// What one failed attempt came back with, for logs: a status code or the
/// kind of transport failure, never a message (a receiver's error text may
/// quote the spans it refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportStatus {
    Grpc(tonic::Code),
    Http(u16),
    /// No answer within `timeout_ms`.
    Timeout,
    /// The receiver could not be reached, or the exchange broke off.
    Connection,
}

impl fmt::Display for ExportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportStatus::Grpc(code) => write!(f, "grpc {code:?}"),
            ExportStatus::Http(status) => write!(f, "http {status}"),
            ExportStatus::Timeout => f.write_str("timeout"),
            ExportStatus::Connection => f.write_str("connection failed"),
        }
    }
}

/// A failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Failure {
    pub status: ExportStatus,
    pub retryable: bool,
    /// How long the receiver asked to be left alone, if it did.
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn grpc(code: tonic::Code, details: &[u8]) -> Failure {
        use tonic::Code::*;
        let retryable = matches!(
            code,
            Cancelled
                | DeadlineExceeded
                | ResourceExhausted
                | Aborted
                | OutOfRange
                | Unavailable
                | DataLoss
        );
        Failure {
            status: ExportStatus::Grpc(code),
            retryable,
            retry_after: retryable.then(|| retry_info_delay(details)).flatten(),
        }
    }

    pub fn http(status: u16, retry_after_header: Option<&str>) -> Failure {
        let retryable = matches!(status, 429 | 502 | 503 | 504);
        Failure {
            status: ExportStatus::Http(status),
            retryable,
            retry_after: retry_after_header
                .filter(|_| retryable)
                .and_then(|value| retry_after(value, Utc::now())),
        }
    }

    pub fn transport(status: ExportStatus) -> Failure {
        Failure {
            status,
            retryable: true,
            retry_after: None,
        }
    }
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date
/// already past means "now".
pub(super) fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

/// The wait a gRPC status's `google.rpc.RetryInfo` asks for. The details
/// are a serialized `google.rpc.Status`; only the fields read here are
/// declared (protobuf skips the others).
fn retry_info_delay(details: &[u8]) -> Option<Duration> {
    use prost::Message;

    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(message, repeated, tag = "3")]
        details: Vec<ProtoAny>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct ProtoAny {
        #[prost(string, tag = "1")]
        type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        value: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        retry_delay: Option<ProtoDuration>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct ProtoDuration {
        #[prost(int64, tag = "1")]
        seconds: i64,
        #[prost(int32, tag = "2")]
        nanos: i32,
    }

    if details.is_empty() {
        return None;
    }
    let status = RpcStatus::decode(details).ok()?;
    status
        .details
        .iter()
        .filter(|any| any.type_url.ends_with("/google.rpc.RetryInfo"))
        .find_map(|any| RetryInfo::decode(any.value.as_slice()).ok()?.retry_delay)
        .map(|delay| {
            Duration::from_secs(u64::try_from(delay.seconds).unwrap_or(0))
                + Duration::from_nanos(u64::try_from(delay.nanos).unwrap_or(0))
        })
}

/// The waits between attempts of one batch.
#[derive(Debug)]
pub(super) struct Backoff {
    settings: BackoffSettings,
    nominal: Duration,
}

impl Backoff {
    pub fn new(settings: BackoffSettings) -> Self {
        Backoff {
            settings,
            nominal: settings.min,
        }
    }

    /// The wait before the next attempt, given how long the batch has
    /// left before its deadline and what the receiver asked for; `None`
    /// when that wait would end past the deadline.
    pub fn next(&mut self, remaining: Duration, asked: Option<Duration>) -> Option<Duration> {
        let jittered = self.nominal / 2 + random_up_to(self.nominal / 2);
        self.nominal = (self.nominal * 2).min(self.settings.max);
        let wait = asked.map_or(jittered, |asked| asked.max(jittered));
        (wait <= remaining).then_some(wait)
    }
}

/// A uniformly random duration in `0..=limit`. The hasher's keys are
/// random per process and per call, which is all the randomness jitter
/// needs; no generator state to share between tasks.
fn random_up_to(limit: Duration) -> Duration {
    let nanos = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let random = std::collections::hash_map::RandomState::new().hash_one(nanos);
    Duration::from_nanos(random % (nanos.saturating_add(1)).max(1))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn settings(min_ms: u64, max_ms: u64) -> BackoffSettings {
        BackoffSettings {
            min: Duration::from_millis(min_ms),
            max: Duration::from_millis(max_ms),
            max_elapsed: Duration::from_secs(3600),
        }
    }

    #[test]
    fn waits_double_up_to_the_maximum_and_are_jittered_within_half() {
        let mut backoff = Backoff::new(settings(100, 1000));
        let plenty = Duration::from_secs(3600);
        let mut waits = Vec::new();
        for nominal_ms in [100, 200, 400, 800, 1000, 1000] {
            let wait = backoff.next(plenty, None).unwrap();
            let nominal = Duration::from_millis(nominal_ms);
            assert!(
                wait >= nominal / 2 && wait <= nominal,
                "{wait:?} for {nominal:?}"
            );
            waits.push(wait);
        }
        // Twenty draws of a jittered wait would all be equal only if the
        // jitter did nothing.
        let mut backoff = Backoff::new(settings(1000, 1000));
        let draws: std::collections::HashSet<_> =
            (0..20).map(|_| backoff.next(plenty, None)).collect();
        assert!(draws.len() > 1, "{draws:?}");
    }

    #[test]
    fn the_receivers_wait_is_a_minimum_and_the_deadline_a_maximum() {
        let mut backoff = Backoff::new(settings(10, 20));
        let plenty = Duration::from_secs(3600);
        assert_eq!(
            backoff.next(plenty, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        let wait = backoff.next(plenty, Some(Duration::ZERO)).unwrap();
        assert!(wait >= Duration::from_millis(10), "{wait:?}");
        assert_eq!(
            backoff.next(Duration::from_secs(1), Some(Duration::from_secs(2))),
            None
        );
        assert_eq!(backoff.next(Duration::from_millis(5), None), None);
    }

    #[test]
    fn statuses_follow_the_specification() {
        use tonic::Code::*;
        for code in [
            Cancelled,
            DeadlineExceeded,
            ResourceExhausted,
            Aborted,
            OutOfRange,
            Unavailable,
            DataLoss,
        ] {
            assert!(Failure::grpc(code, &[]).retryable, "{code:?}");
        }
        for code in [
            Unknown,
            InvalidArgument,
            NotFound,
            AlreadyExists,
            PermissionDenied,
            FailedPrecondition,
            Unimplemented,
            Internal,
            Unauthenticated,
        ] {
            assert!(!Failure::grpc(code, &[]).retryable, "{code:?}");
        }
        for status in [429, 502, 503, 504] {
            assert!(Failure::http(status, None).retryable, "{status}");
        }
        for status in [400, 401, 403, 404, 413, 500, 501] {
            assert!(!Failure::http(status, None).retryable, "{status}");
        }
        assert_eq!(
            Failure::http(503, Some("7")).retry_after,
            Some(Duration::from_secs(7))
        );
        assert_eq!(Failure::http(400, Some("7")).retry_after, None);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Sun, 22 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun, 22 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
    }

    #[test]
    fn retry_info_is_read_from_status_details() {
        // google.rpc.Status { code: 8, details: [Any { type_url:
        // "type.googleapis.com/google.rpc.RetryInfo", value: RetryInfo {
        // retry_delay: Duration { seconds: 3, nanos: 500000000 } } }] },
        // encoded by hand from the .proto field numbers.
        let duration = [0x08, 3, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01];
        let mut retry_info = vec![0x0a, duration.len() as u8];
        retry_info.extend_from_slice(&duration);
        let type_url = b"type.googleapis.com/google.rpc.RetryInfo";
        let mut any = vec![0x0a, type_url.len() as u8];
        any.extend_from_slice(type_url);
        any.extend_from_slice(&[0x12, retry_info.len() as u8]);
        any.extend_from_slice(&retry_info);
        let mut status = vec![0x08, 8, 0x1a, any.len() as u8];
        status.extend_from_slice(&any);
        assert_eq!(retry_info_delay(&status), Some(Duration::from_millis(3500)));
        assert_eq!(
            Failure::grpc(tonic::Code::ResourceExhausted, &status).retry_after,
            Some(Duration::from_millis(3500))
        );
        assert_eq!(retry_info_delay(&[0x08, 8]), None);
        assert_eq!(retry_info_delay(&[0xff, 0xff]), None);
    }
}
