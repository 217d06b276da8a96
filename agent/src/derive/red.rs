//! RED metrics (rate, errors, duration) from redacted HTTP exchanges: one
//! duration histogram per (side, method, status, route, service), whose
//! `_count` is the rate and whose status label gives the errors.
//!
//! Two namings, because dashboards already exist for both:
//!
//! - `otel` (default): `http_server_request_duration_seconds` and
//!   `http_client_request_duration_seconds`, labels `http_request_method`,
//!   `http_response_status_code`, `http_route`, `service_name`,
//!   `service_namespace`, as the OpenTelemetry HTTP metric conventions name
//!   them once translated to Prometheus;
//! - `spring`: what Micrometer publishes for Spring Boot,
//!   `http_server_requests_seconds` (labels `application`, `uri`, `method`,
//!   `status`, `outcome`) and `http_client_requests_seconds` (`client_name`
//!   instead of `application`'s peer), so existing Spring dashboards and
//!   alert rules work unchanged.
//!
//! Bucket bounds are the OTel conventions' advice merged with the platform's
//! SLO bounds ([`BUCKETS`]). Every label value comes from protocol facts, the
//! resource, the configured external labels or the route template
//! (`route.rs`): never from the raw path.

use std::collections::{BTreeMap, HashMap};

use super::route::{RouteConfig, Router};
use crate::event::{HttpExchange, Role};
use crate::redact::Redacted;

/// Upper bounds in seconds: the OTel advice (0.005 … 10) with the SLO bounds
/// 0.05, 0.1, 0.2, 0.5, 1 and 2 merged in (0.2 and 2 are the ones added).
pub const BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0, 2.0, 2.5, 5.0, 7.5, 10.0,
];

/// Methods kept as they are; any other becomes `_OTHER` (OTel's rule), so a
/// scanner sending random verbs cannot grow the series count.
const KNOWN_METHODS: [&str; 9] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];

/// Which metric names and labels to emit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Naming {
    #[default]
    Otel,
    Spring,
}

#[derive(Clone, Debug, Default)]
pub struct RedConfig {
    pub naming: Naming,
    /// Added to every series (`cluster`, `region`, `node`).
    pub external_labels: BTreeMap<String, String>,
    pub routes: RouteConfig,
}

/// One series' histogram: cumulative counts per bound, sum and count.
#[derive(Clone, Debug)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
    /// When the series last changed, in ms since the Unix epoch.
    updated_ms: i64,
}

/// The label set of one series, `__name__` excluded, sorted by name.
type Labels = Vec<(String, String)>;

/// The histograms of every series seen, and the router that names routes.
#[derive(Debug)]
pub struct RedMetrics {
    naming: Naming,
    external: Labels,
    router: Router,
    series: HashMap<(Role, Labels), Histogram>,
}

/// One sample of a snapshot: a metric name, its labels (sorted, `le`
/// included for buckets) and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

impl RedMetrics {
    pub fn new(config: &RedConfig) -> Self {
        RedMetrics {
            naming: config.naming,
            external: config
                .external_labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            router: Router::new(&config.routes),
            series: HashMap::new(),
        }
    }

    /// Counts one exchange.
    pub fn observe(&mut self, exchange: &Redacted<HttpExchange>) {
        let service = exchange.resource.service_name.as_deref().unwrap_or("");
        let route = self.router.route(service, &exchange.path);
        let labels = self.labels(exchange, &route);
        let seconds = exchange.duration.as_secs_f64();
        let histogram = self
            .series
            .entry((exchange.role, labels))
            .or_insert_with(|| Histogram {
                buckets: [0; BUCKETS.len()],
                count: 0,
                sum: 0.0,
                updated_ms: 0,
            });
        for (bound, bucket) in BUCKETS.iter().zip(histogram.buckets.iter_mut()) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
        let end_ms = exchange.start.timestamp_millis() + exchange.duration.as_millis() as i64;
        histogram.updated_ms = histogram.updated_ms.max(end_ms);
    }

    fn labels(&self, exchange: &HttpExchange, route: &str) -> Labels {
        let method = normalized_method(&exchange.method);
        let status = exchange.status.to_string();
        let resource = &exchange.resource;
        let mut labels: Labels = match self.naming {
            Naming::Otel => vec![
                ("http_request_method".into(), method.into()),
                ("http_response_status_code".into(), status),
                ("http_route".into(), route.into()),
                (
                    "service_name".into(),
                    resource.service_name.clone().unwrap_or_default(),
                ),
                (
                    "service_namespace".into(),
                    resource.namespace.clone().unwrap_or_default(),
                ),
            ],
            Naming::Spring => {
                let mut labels = vec![
                    ("uri".into(), route.into()),
                    ("method".into(), method.into()),
                    ("status".into(), status),
                    ("outcome".into(), outcome(exchange.status).into()),
                ];
                match exchange.role {
                    Role::Server => labels.push((
                        "application".into(),
                        resource.service_name.clone().unwrap_or_default(),
                    )),
                    Role::Client => {
                        labels.push((
                            "application".into(),
                            resource.service_name.clone().unwrap_or_default(),
                        ));
                        labels.push((
                            "client_name".into(),
                            exchange
                                .request_header("host")
                                .map(host_without_port)
                                .or_else(|| exchange.server.map(|s| s.ip().to_string()))
                                .unwrap_or_default(),
                        ));
                    }
                }
                labels
            }
        };
        for (name, value) in &self.external {
            if !labels.iter().any(|(n, _)| n == name) {
                labels.push((name.clone(), value.clone()));
            }
        }
        // Remote-write wants no empty values and sorted names.
        labels.retain(|(_, value)| !value.is_empty());
        labels.sort();
        labels
    }

    /// The metric name stem of a side: `<stem>_bucket`, `_sum`, `_count`.
    fn stem(&self, role: Role) -> &'static str {
        match (self.naming, role) {
            (Naming::Otel, Role::Server) => "http_server_request_duration_seconds",
            (Naming::Otel, Role::Client) => "http_client_request_duration_seconds",
            (Naming::Spring, Role::Server) => "http_server_requests_seconds",
            (Naming::Spring, Role::Client) => "http_client_requests_seconds",
        }
    }

    /// How many series (label sets) are held.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Every sample of every series, as Prometheus names a classic
    /// histogram: cumulative `_bucket{le=…}` with `+Inf`, `_sum`, `_count`.
    /// Also the time each series last changed, in ms.
    pub fn samples(&self, mut emit: impl FnMut(Sample, i64)) {
        for ((role, labels), histogram) in &self.series {
            histogram_samples(self.stem(*role), labels, histogram, &mut emit);
        }
    }

    /// Forgets series unchanged since `before_ms` and hands back their last
    /// samples, for stale markers: a series that ends says so rather than
    /// leaving a flat line for five minutes.
    pub fn expire(&mut self, before_ms: i64, mut ended: impl FnMut(Sample)) {
        let stale: Vec<(Role, Labels)> = self
            .series
            .iter()
            .filter(|(_, h)| h.updated_ms < before_ms)
            .map(|(key, _)| key.clone())
            .collect();
        for key in stale {
            if let Some(histogram) = self.series.remove(&key) {
                let (role, labels) = key;
                histogram_samples(self.stem(role), &labels, &histogram, &mut |sample, _| {
                    ended(sample)
                });
            }
        }
    }

    /// The Prometheus text exposition of every series, for `/metrics`.
    pub fn write_text(&self, out: &mut String) {
        use std::fmt::Write;
        let mut by_name: BTreeMap<String, Vec<(Labels, f64)>> = BTreeMap::new();
        self.samples(|sample, _| {
            by_name
                .entry(sample.name)
                .or_default()
                .push((sample.labels, sample.value))
        });
        let mut typed = std::collections::BTreeSet::new();
        for (name, mut samples) in by_name {
            let family = name
                .strip_suffix("_bucket")
                .or_else(|| name.strip_suffix("_sum"))
                .or_else(|| name.strip_suffix("_count"))
                .unwrap_or(&name)
                .to_owned();
            if typed.insert(family.clone()) {
                let _ = writeln!(out, "# TYPE {family} histogram");
            }
            samples.sort_by(|a, b| a.0.cmp(&b.0));
            for (labels, value) in samples {
                let _ = write!(out, "{name}{{");
                for (i, (label, v)) in labels.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    let _ = write!(out, "{sep}{label}=\"{}\"", escape_label(v));
                }
                let _ = writeln!(out, "}} {value}");
            }
        }
    }
}

fn histogram_samples(
    stem: &str,
    labels: &Labels,
    histogram: &Histogram,
    emit: &mut impl FnMut(Sample, i64),
) {
    let at = histogram.updated_ms;
    for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
        let labels = with_le(labels, &format_bound(*bound));
        emit(sample(stem, "_bucket", labels, count as f64), at);
    }
    let count = histogram.count as f64;
    emit(sample(stem, "_bucket", with_le(labels, "+Inf"), count), at);
    emit(sample(stem, "_sum", labels.clone(), histogram.sum), at);
    emit(sample(stem, "_count", labels.clone(), count), at);
}

fn sample(stem: &str, suffix: &str, labels: Labels, value: f64) -> Sample {
    Sample {
        name: format!("{stem}{suffix}"),
        labels,
        value,
    }
}

fn normalized_method(method: &str) -> &str {
    KNOWN_METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("_OTHER")
}

/// Micrometer's `outcome` tag.
fn outcome(status: u16) -> &'static str {
    match status {
        100..=199 => "INFORMATIONAL",
        200..=299 => "SUCCESS",
        300..=399 => "REDIRECTION",
        400..=499 => "CLIENT_ERROR",
        500..=599 => "SERVER_ERROR",
        _ => "UNKNOWN",
    }
}

/// `patient-service:8080` → `patient-service`; `[::1]:80` → `[::1]`.
fn host_without_port(host: &str) -> String {
    let name = match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            name
        }
        _ => host,
    };
    name.to_owned()
}

fn with_le(labels: &Labels, le: &str) -> Labels {
    let mut out = labels.clone();
    let at = out.partition_point(|(name, _)| name.as_str() < "le");
    out.insert(at, ("le".into(), le.into()));
    out
}

/// Bounds as Prometheus clients write them (`0.005`, `1.0`, `10.0`), so a
/// query on `le="1.0"` finds the bucket.
fn format_bound(bound: f64) -> String {
    if bound.fract() == 0.0 {
        format!("{bound:.1}")
    } else {
        bound.to_string()
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
