//! HTTP exchanges captured from the network cross the same boundary as log
//! records. What a request carries in text (its path, its query, its kept
//! header values) is scanned; the method, status, addresses and timings are
//! protocol facts and pass as they are.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{Redacted, Redactor};
use crate::event::{HttpExchange, LogRecord};

impl Redactor {
    /// Redacts an exchange's path, query and header values.
    ///
    /// The path and query go through [`Redactor::redact_text`], so PHI as a
    /// path segment (`/patients/123-45-6789/records`) or in an url-encoded
    /// query (`email=jane%40example.org`) is found as in a log line. Header
    /// values are walked as the members of one structured record keyed by
    /// header name, so a header named for what it holds (`x-patient-name`)
    /// is taken whole by the same field and context rules that take a JSON
    /// member of that name.
    pub fn redact_exchange(&self, mut exchange: HttpExchange) -> Redacted<HttpExchange> {
        redact_in_place(self, &mut exchange.path);
        if let Some(query) = &mut exchange.query {
            redact_in_place(self, query);
        }
        if !exchange.request_headers.is_empty() {
            exchange.request_headers = self.redact_headers(exchange.request_headers);
        }
        Redacted(exchange)
    }

    fn redact_headers(&self, headers: Vec<(String, String)>) -> Vec<(String, String)> {
        let mut fields = Map::with_capacity(headers.len());
        let mut order = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            // A repeated header keeps its first value; the ones kept are
            // single-valued by their specs (host, traceparent, …).
            if !fields.contains_key(&name) {
                order.push(name.clone());
                fields.insert(name, Value::String(value));
            }
        }
        let record = LogRecord {
            fields,
            message: None,
            ..LogRecord::text("", Default::default())
        };
        let mut redacted = self.redact(record).into_inner();
        order
            .into_iter()
            .map(|name| {
                let value = match redacted.fields.remove(&name) {
                    Some(Value::String(value)) => value,
                    // A rule that replaced the value with something else, or a
                    // record the redactor masked whole: keep nothing of it.
                    Some(other) => other.to_string(),
                    None => super::REDACTION_FAILED_MARKER.to_owned(),
                };
                (name, value)
            })
            .collect()
    }
}

fn redact_in_place(redactor: &Redactor, text: &mut String) {
    if let Cow::Owned(redacted) = redactor.redact_text(text) {
        *text = redacted;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;

    use super::*;
    use crate::event::Role;

    fn exchange(path: &str, query: Option<&str>, headers: &[(&str, &str)]) -> HttpExchange {
        HttpExchange {
            role: Role::Server,
            method: "GET".into(),
            path: path.into(),
            query: query.map(Into::into),
            status: 200,
            protocol_version: "1.1",
            request_headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            start: Utc::now(),
            duration: std::time::Duration::from_millis(3),
            server: None,
            client: None,
            pid: 1,
            tid: 1,
            cgroup_id: 0,
            request_body_bytes: 0,
            response_body_bytes: 0,
            resource: Arc::default(),
        }
    }

    #[test]
    fn path_query_and_headers_lose_their_phi() {
        let redactor = Redactor::builtin();
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let out = redactor.redact_exchange(exchange(
            "/api/v1/patients/123-45-6789/records",
            Some("email=jane.roe%40example.org&page=2"),
            &[
                ("host", "patient-service:8080"),
                ("traceparent", traceparent),
                ("x-patient-name", "Jane Roe"),
            ],
        ));
        assert!(!out.path.contains("123-45-6789"), "{}", out.path);
        assert!(out.path.starts_with("/api/v1/patients/"), "{}", out.path);
        assert!(out.path.ends_with("/records"), "{}", out.path);
        let query = out.query.as_deref().unwrap();
        assert!(!query.contains("jane.roe"), "{query}");
        assert!(query.contains("page=2"), "{query}");
        let header = |name: &str| {
            out.request_headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("host"), Some("patient-service:8080"));
        assert_eq!(header("traceparent"), Some(traceparent));
        assert!(!header("x-patient-name").unwrap().contains("Jane"));
        assert_eq!(out.method, "GET");
        assert_eq!(out.status, 200);
    }

    #[test]
    fn clean_exchanges_come_back_unchanged() {
        let redactor = Redactor::builtin();
        let clean = exchange(
            "/api/v1/appointments/7f3c9a2e-1b4d-4c8e-9f0a-2d6b8e4c1a37",
            Some("status=booked&_count=50"),
            &[
                ("host", "appointment-service"),
                ("user-agent", "okhttp/4.12.0"),
            ],
        );
        assert_eq!(*redactor.redact_exchange(clean.clone()), clean);
    }
}
