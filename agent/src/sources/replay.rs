//! The `replay` input: HTTP exchanges read from an NDJSON file in the shape
//! the stdout sink writes them (`sinks/http_exchange.rs`), so dashboards and
//! the metrics path can be tried, and tested, without root or traffic.
//!
//! Replayed exchanges are redacted like captured ones: a file is input, not
//! a promise that it is clean.

use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::event::{HttpExchange, Resource, Role};

/// Why a line is not an exchange. Says which field, never its value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplayError {
    #[error("line {line}: not a JSON object")]
    NotAnObject { line: usize },
    #[error("line {line}: `{field}` is missing or has the wrong type")]
    Field { line: usize, field: &'static str },
}

/// Sends every exchange of `input` to `out`, blank lines skipped, and says
/// how many. Stops at the first line that is not an exchange, with its line
/// number, or when `out` closes. Blocking: run it on a thread of its own.
pub fn send_all(
    input: impl BufRead,
    out: &tokio::sync::mpsc::Sender<HttpExchange>,
    paced: bool,
) -> Result<u64, anyhow::Error> {
    let mut sent = 0;
    let mut previous: Option<DateTime<Utc>> = None;
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let exchange = parse_exchange(&line, index + 1)?;
        if paced {
            if let Some(gap) = previous.and_then(|p| (exchange.start - p).to_std().ok()) {
                std::thread::sleep(gap.min(std::time::Duration::from_secs(10)));
            }
            previous = Some(exchange.start);
        }
        if out.blocking_send(exchange).is_err() {
            break;
        }
        sent += 1;
    }
    Ok(sent)
}

/// One document of the stdout sink's exchange shape.
pub fn parse_exchange(line: &str, number: usize) -> Result<HttpExchange, ReplayError> {
    let doc: Map<String, Value> = match serde_json::from_str(line) {
        Ok(Value::Object(doc)) => doc,
        _ => return Err(ReplayError::NotAnObject { line: number }),
    };
    let field = |field: &'static str| ReplayError::Field {
        line: number,
        field,
    };
    let text = |name: &'static str| doc.get(name).and_then(Value::as_str);
    let required = |name: &'static str| text(name).ok_or(field(name));
    let optional_text = |name: &'static str| text(name).map(str::to_owned);
    let address = |ip: &'static str, port: &'static str| -> Option<SocketAddr> {
        let ip: IpAddr = text(ip)?.parse().ok()?;
        let port = doc.get(port)?.as_u64()?.try_into().ok()?;
        Some(SocketAddr::new(ip, port))
    };
    let role = match required("span.kind")? {
        "server" => Role::Server,
        "client" => Role::Client,
        _ => return Err(field("span.kind")),
    };
    let start: DateTime<Utc> = required("@timestamp")?
        .parse()
        .map_err(|_| field("@timestamp"))?;
    let status = doc
        .get("http.response.status_code")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or(field("http.response.status_code"))?;
    let duration = doc
        .get("event.duration")
        .and_then(Value::as_u64)
        .ok_or(field("event.duration"))?;
    let protocol_version = match text("network.protocol.version") {
        None | Some("1.1") => "1.1",
        Some("1.0") => "1.0",
        Some(_) => return Err(field("network.protocol.version")),
    };
    let mut request_headers = Vec::new();
    if let Some(host) = text("http.request.header.host") {
        request_headers.push(("host".to_owned(), host.to_owned()));
    }
    if let Some(agent) = text("user_agent.original") {
        request_headers.push(("user-agent".to_owned(), agent.to_owned()));
    }
    if let (Some(trace), Some(parent)) = (text("trace.id"), text("parent.span.id")) {
        request_headers.push(("traceparent".to_owned(), format!("00-{trace}-{parent}-01")));
    }
    let count = |name: &'static str| doc.get(name).and_then(Value::as_u64).unwrap_or(0);
    let resource = Resource {
        host_name: optional_text("host.name").unwrap_or_default(),
        namespace: optional_text("orchestrator.namespace"),
        pod_name: optional_text("orchestrator.resource.name"),
        pod_uid: optional_text("kubernetes.pod.uid"),
        container_name: optional_text("container.name"),
        container_id: optional_text("container.id"),
        container_image: optional_text("container.image.name"),
        service_name: optional_text("service.name"),
        tenant_id: optional_text("tenant.id"),
        ..Resource::default()
    };
    Ok(HttpExchange {
        role,
        method: required("http.request.method")?.to_owned(),
        path: required("url.path")?.to_owned(),
        query: optional_text("url.query"),
        status,
        protocol_version,
        request_headers,
        start,
        duration: Duration::from_nanos(duration),
        server: address("server.address", "server.port"),
        client: address("client.address", "client.port"),
        pid: doc
            .get("process.pid")
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0),
        tid: doc
            .get("thread.id")
            .and_then(Value::as_u64)
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(0),
        cgroup_id: 0,
        request_body_bytes: count("http.request.body.size"),
        response_body_bytes: count("http.response.body.size"),
        resource: Arc::new(resource),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Redactor;
    use crate::sinks::http_exchange::ExchangeView;

    const LINE: &str = r#"{"@timestamp":"2026-11-22T09:30:00.250Z","span.kind":"server","http.request.method":"GET","url.path":"/api/v1/patients/{id}","url.query":"page=2","http.response.status_code":503,"network.protocol.version":"1.1","event.duration":1500000,"server.address":"10.0.0.7","server.port":8080,"client.address":"10.0.0.9","client.port":51234,"http.request.header.host":"patient-service","trace.id":"4bf92f3577b34da6a3ce929d0e0e4736","parent.span.id":"00f067aa0ba902b7","process.pid":7,"service.name":"patient-service","orchestrator.namespace":"clinical","host.name":"node-a"}"#;

    #[test]
    fn what_stdout_writes_reads_back_the_same() {
        let exchange = parse_exchange(LINE, 1).unwrap();
        assert_eq!(exchange.status, 503);
        assert_eq!(exchange.duration, Duration::from_micros(1500));
        assert_eq!(
            exchange.resource.service_name.as_deref(),
            Some("patient-service")
        );
        let redacted = Redactor::builtin().redact_exchange(exchange.clone());
        let mut out = Vec::new();
        ExchangeView::new(&redacted).write_json(&mut out);
        let again = parse_exchange(std::str::from_utf8(&out).unwrap(), 1).unwrap();
        assert_eq!(again, exchange);
    }

    #[test]
    fn bad_lines_name_their_line_and_field_only() {
        assert_eq!(
            parse_exchange("[1,2]", 3),
            Err(ReplayError::NotAnObject { line: 3 })
        );
        assert_eq!(
            parse_exchange("{\"span.kind\":\"server\",\"url.path\":\"/x", 4),
            Err(ReplayError::NotAnObject { line: 4 })
        );
        let no_status = LINE.replace("\"http.response.status_code\":503,", "");
        let error = parse_exchange(&no_status, 9).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 9: `http.response.status_code` is missing or has the wrong type"
        );
        let secret = LINE.replace("\"span.kind\":\"server\"", "\"span.kind\":\"123-45-6789\"");
        let message = parse_exchange(&secret, 2).unwrap_err().to_string();
        assert!(!message.contains("6789"), "{message}");
        let input = format!("{LINE}\n\n{LINE}\nnot json\n{LINE}\n");
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let error = send_all(input.as_bytes(), &tx, false)
            .unwrap_err()
            .to_string();
        assert_eq!(error, "line 4: not a JSON object");
        let mut received = 0;
        while rx.try_recv().is_ok() {
            received += 1;
        }
        assert_eq!(received, 2, "the lines before the bad one were sent");
    }
}
