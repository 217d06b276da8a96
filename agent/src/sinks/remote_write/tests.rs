use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;

use super::*;

fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        value,
    }
}

fn decode(body: &[u8]) -> WriteRequest {
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
    WriteRequest::decode(raw.as_slice()).unwrap()
}

#[test]
fn series_are_encoded_as_the_spec_asks() {
    let series = series(
        sample(
            "http_server_request_duration_seconds_count",
            &[("service_name", "a"), ("cluster", ""), ("http_route", "/x")],
            3.0,
        ),
        1_700_000_000_000,
    );
    let names: Vec<&str> = series.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["__name__", "http_route", "service_name"],
        "sorted, empty dropped"
    );
    let stale = {
        let mut s = series.clone();
        s.samples[0].value = STALE_NAN;
        s
    };
    let decoded = decode(&encode(vec![series.clone(), stale]));
    assert_eq!(decoded.timeseries[0], series);
    assert_eq!(
        decoded.timeseries[1].samples[0].value.to_bits(),
        STALE_NAN.to_bits()
    );
}

/// A receiver answering from a script of (status, retry-after) and keeping
/// what it was sent, with the time.
async fn receiver(
    script: Vec<(u16, Option<&'static str>)>,
) -> (
    String,
    Arc<Mutex<Vec<(Instant, WriteRequest, hyper::HeaderMap)>>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (log, script) = (Arc::clone(&log), Arc::clone(&script));
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let (log, script) = (Arc::clone(&log), Arc::clone(&script));
                    async move {
                        let headers = request.headers().clone();
                        assert_eq!(headers["content-encoding"], "snappy");
                        assert_eq!(headers["content-type"], "application/x-protobuf");
                        assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
                        assert!(headers["user-agent"]
                            .to_str()
                            .unwrap()
                            .starts_with("wardwatch/"));
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        log.lock()
                            .unwrap()
                            .push((Instant::now(), decode(&body), headers));
                        let (status, retry_after) =
                            script.lock().unwrap().pop_front().unwrap_or((200, None));
                        let mut response = Response::builder().status(status);
                        if let Some(after) = retry_after {
                            response = response.header("retry-after", after);
                        }
                        Ok::<_, Infallible>(response.body(Full::new(Bytes::from("echo"))).unwrap())
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, seen)
}

fn writer(url: String, max_retries: u32) -> RemoteWriter {
    RemoteWriter::new(RemoteWriteConfig {
        max_retries,
        ..RemoteWriteConfig::for_url(url)
    })
    .unwrap()
}

fn one() -> Vec<TimeSeries> {
    vec![series(sample("up", &[("job", "x")], 1.0), 1)]
}

#[tokio::test]
async fn server_errors_are_retried_and_client_errors_are_not() {
    let (url, seen) = receiver(vec![(500, None), (200, None)]).await;
    assert_eq!(writer(url, 3).write(one()).await, [Outcome::Sent]);
    assert_eq!(seen.lock().unwrap().len(), 2);

    let (url, seen) = receiver(vec![(400, None)]).await;
    assert_eq!(writer(url, 3).write(one()).await, [Outcome::Rejected(400)]);
    assert_eq!(seen.lock().unwrap().len(), 1, "a 400 is not retried");

    let (url, seen) = receiver(vec![(503, None), (503, None), (503, None)]).await;
    assert_eq!(writer(url, 2).write(one()).await, [Outcome::GaveUp]);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn retry_after_is_waited() {
    let (url, seen) = receiver(vec![(429, Some("1")), (200, None)]).await;
    assert_eq!(writer(url, 3).write(one()).await, [Outcome::Sent]);
    let seen = seen.lock().unwrap();
    let gap = seen[1].0 - seen[0].0;
    // Behaviour, not speed: the client waited at least what it was told.
    assert!(gap >= Duration::from_millis(990), "{gap:?}");
}

#[tokio::test]
async fn large_writes_are_split() {
    let (url, seen) = receiver(vec![]).await;
    let config = RemoteWriteConfig {
        max_samples_per_send: 10,
        ..RemoteWriteConfig::for_url(url)
    };
    let many: Vec<TimeSeries> = (0..25)
        .map(|i| series(sample("up", &[("i", &i.to_string())], 1.0), 1))
        .collect();
    let outcomes = RemoteWriter::new(config).unwrap().write(many).await;
    assert_eq!(outcomes.len(), 3);
    let sizes: Vec<usize> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, r, _)| r.timeseries.len())
        .collect();
    assert_eq!(sizes, [10, 10, 5]);
}

#[test]
fn urls_are_http_or_https() {
    assert!(RemoteWriter::new(RemoteWriteConfig::for_url("https://x/api/v1/write".into())).is_ok());
    assert!(RemoteWriter::new(RemoteWriteConfig::for_url("ftp://x/api/v1/write".into())).is_err());
    assert!(RemoteWriter::new(RemoteWriteConfig::for_url("not a url".into())).is_err());
    let error = RemoteWriter::new(RemoteWriteConfig::for_url(
        "https://wardwatch:hunter2@x/api/v1/write".into(),
    ))
    .err()
    .unwrap()
    .to_string();
    assert!(
        error.contains("basic_auth") && !error.contains("hunter2"),
        "{error}"
    );
}

#[test]
fn protocol_headers_cannot_be_replaced() {
    for name in [
        "Content-Encoding",
        "authorization",
        "X-Prometheus-Remote-Write-Version",
    ] {
        let config = RemoteWriteConfig {
            headers: [(name.to_owned(), "x".to_owned())].into(),
            ..RemoteWriteConfig::for_url("http://127.0.0.1:1/api/v1/write".into())
        };
        let error = RemoteWriter::new(config).err().unwrap().to_string();
        assert!(error.contains("set by the agent"), "{name}: {error}");
    }
    let config = RemoteWriteConfig {
        headers: [("X-Scope-OrgID".to_owned(), "bad\nvalue secret".to_owned())].into(),
        ..RemoteWriteConfig::for_url("http://127.0.0.1:1/api/v1/write".into())
    };
    let error = RemoteWriter::new(config).err().unwrap().to_string();
    assert!(!error.contains("secret"), "{error}");
}

#[tokio::test]
async fn token_and_tenant_are_sent() {
    let (url, seen) = receiver(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    let config = RemoteWriteConfig {
        bearer_token_file: Some(token),
        headers: [("X-Scope-OrgID".to_owned(), "clinical".to_owned())].into(),
        ..RemoteWriteConfig::for_url(url)
    };
    assert_eq!(
        RemoteWriter::new(config).unwrap().write(one()).await,
        [Outcome::Sent]
    );
    let seen = seen.lock().unwrap();
    let headers = &seen[0].2;
    assert_eq!(headers["authorization"], "Bearer t0ken");
    assert_eq!(headers["x-scope-orgid"], "clinical");
}

#[test]
fn an_unreadable_secret_stops_the_start() {
    let config = RemoteWriteConfig {
        bearer_token_file: Some("/nonexistent/token".into()),
        ..RemoteWriteConfig::for_url("http://127.0.0.1:1/api/v1/write".into())
    };
    let error = RemoteWriter::new(config).err().unwrap().to_string();
    assert!(error.contains("/nonexistent/token"), "{error}");
}
