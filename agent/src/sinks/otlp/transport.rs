//! One export attempt over OTLP/gRPC or OTLP/HTTP.
//!
//! Both connect lazily and keep their connections: a receiver that is down
//! when the agent starts is a retryable failure of the first export, not a
//! start-up error. Headers are checked once, when the exporter is built,
//! so that a bad one stops the agent with its name rather than failing
//! every request.

use std::str::FromStr;

use hyper::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER,
};
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};

use crate::sinks::tls::TlsFiles;

use super::config::{Compression, Protocol, Resolved};
use super::retry::{ExportStatus, Failure};
use super::OtlpError;

/// A request ready to send, encoded as its transport wants it. Built once
/// per batch and sent as often as retries need.
pub(super) enum Payload {
    /// tonic's generated client encodes the message itself.
    Grpc(ExportTraceServiceRequest),
    Http(Bytes),
}

pub(super) enum Transport {
    // Boxed: tonic's endpoint is large, and an exporter has one transport.
    Grpc(Box<GrpcTransport>),
    Http(HttpTransport),
}

pub(super) struct GrpcTransport {
    endpoint: Endpoint,
    client: Option<TraceServiceClient<Channel>>,
    metadata: MetadataMap,
    compression: Compression,
}

pub(super) struct HttpTransport {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    compression: Compression,
}

/// What [`Transport::new`] would refuse, found without building a client.
pub(super) fn check(resolved: &Resolved) -> Result<(), OtlpError> {
    checked_url(&resolved.url)?;
    match resolved.protocol {
        Protocol::Grpc => grpc_metadata(&resolved.headers).map(drop),
        Protocol::HttpProtobuf => http_headers(&resolved.headers, resolved.compression).map(drop),
    }
}

fn header_error(name: &str, problem: &'static str) -> OtlpError {
    OtlpError::InvalidHeader {
        name: name.to_owned(),
        problem,
    }
}

fn grpc_metadata(headers: &[(String, String)]) -> Result<MetadataMap, OtlpError> {
    let mut metadata = MetadataMap::new();
    for (name, value) in headers {
        if name.ends_with("-bin") {
            return Err(header_error(
                name,
                "is a binary gRPC header; only text ones can be configured",
            ));
        }
        let key = AsciiMetadataKey::from_str(name)
            .map_err(|_| header_error(name, "is not a valid header name"))?;
        let value = AsciiMetadataValue::from_str(value)
            .map_err(|_| header_error(name, "has a value that is not visible ASCII"))?;
        metadata.insert(key, value);
    }
    Ok(metadata)
}

fn http_headers(
    headers: &[(String, String)],
    compression: Compression,
) -> Result<HeaderMap, OtlpError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let key = HeaderName::from_str(name)
            .map_err(|_| header_error(name, "is not a valid header name"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| header_error(name, "has a value that is not visible ASCII"))?;
        // Keeps it out of any Debug output of the request.
        value.set_sensitive(true);
        map.insert(key, value);
    }
    // After the configured ones: the body is protobuf whatever they say.
    map.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    match compression {
        Compression::Gzip => {
            map.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Compression::None => {
            map.remove(CONTENT_ENCODING);
        }
    }
    Ok(map)
}

/// Where TLS errors point the operator.
const TLS_SETTING: &str = "sinks.otlp.tls";

/// The TLS files read at start, so a wrong path stops the agent with its
/// name rather than failing every handshake.
fn tls_files(resolved: &Resolved) -> Result<TlsFiles, OtlpError> {
    resolved.tls.read(TLS_SETTING).map_err(OtlpError::Tls)
}

impl Transport {
    pub fn new(resolved: &Resolved) -> Result<Transport, OtlpError> {
        let url = checked_url(&resolved.url)?;
        let tls = tls_files(resolved)?;
        match resolved.protocol {
            Protocol::Grpc => {
                let invalid = |problem: String| OtlpError::InvalidEndpoint {
                    shown: format!("{:?}", url.as_str()),
                    problem,
                };
                let mut endpoint = Endpoint::from_shared(resolved.url.clone())
                    .map_err(|e| invalid(e.to_string()))?
                    .timeout(resolved.timeout)
                    .connect_timeout(resolved.timeout);
                if url.scheme() == "https" {
                    let config = tls.tonic(TLS_SETTING).map_err(OtlpError::Tls)?;
                    endpoint = endpoint
                        .tls_config(config)
                        .map_err(|e| invalid(e.to_string()))?;
                }
                Ok(Transport::Grpc(Box::new(GrpcTransport {
                    endpoint,
                    client: None,
                    metadata: grpc_metadata(&resolved.headers)?,
                    compression: resolved.compression,
                })))
            }
            Protocol::HttpProtobuf => {
                let headers = http_headers(&resolved.headers, resolved.compression)?;
                let client = tls
                    .reqwest(reqwest::Client::builder(), TLS_SETTING)
                    .map_err(OtlpError::Tls)?
                    .timeout(resolved.timeout)
                    .connect_timeout(resolved.timeout)
                    .build()
                    .map_err(|e| OtlpError::Client(e.to_string()))?;
                Ok(Transport::Http(HttpTransport {
                    client,
                    url,
                    headers,
                    compression: resolved.compression,
                }))
            }
        }
    }

    pub fn payload(&self, request: ExportTraceServiceRequest) -> Payload {
        match self {
            Transport::Grpc(_) => Payload::Grpc(request),
            Transport::Http(http) => {
                let body = request.encode_to_vec();
                Payload::Http(Bytes::from(match http.compression {
                    Compression::None => body,
                    Compression::Gzip => gzip(&body),
                }))
            }
        }
    }

    /// Sends `payload` once; on success, how many spans the receiver
    /// refused (OTLP partial success).
    pub async fn send(&mut self, payload: &Payload) -> Result<u64, Failure> {
        match (self, payload) {
            (Transport::Grpc(grpc), Payload::Grpc(message)) => {
                let GrpcTransport {
                    endpoint,
                    client,
                    metadata,
                    compression,
                } = &mut **grpc;
                let client = client.get_or_insert_with(|| {
                    let client = TraceServiceClient::new(endpoint.connect_lazy());
                    match compression {
                        Compression::None => client,
                        // Answers may come compressed too once we say we
                        // send gzip.
                        Compression::Gzip => client
                            .send_compressed(CompressionEncoding::Gzip)
                            .accept_compressed(CompressionEncoding::Gzip),
                    }
                });
                let request = tonic::Request::from_parts(
                    metadata.clone(),
                    tonic::Extensions::default(),
                    message.clone(),
                );
                match client.export(request).await {
                    Ok(response) => Ok(rejected_spans(&response.into_inner())),
                    Err(status) => Err(Failure::grpc(status.code(), status.details())),
                }
            }
            (
                Transport::Http(HttpTransport {
                    client,
                    url,
                    headers,
                    ..
                }),
                Payload::Http(body),
            ) => {
                let response = client
                    .post(url.clone())
                    .headers(headers.clone())
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        Failure::transport(if e.is_timeout() {
                            ExportStatus::Timeout
                        } else {
                            ExportStatus::Connection
                        })
                    })?;
                let status = response.status().as_u16();
                if !response.status().is_success() {
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok());
                    return Err(Failure::http(status, retry_after));
                }
                // The spans were accepted once the status said so; a body
                // that does not arrive or decode only hides a partial
                // success count (an empty body is a full success).
                let body = response.bytes().await.unwrap_or_default();
                Ok(ExportTraceServiceResponse::decode(body)
                    .map(|r| rejected_spans(&r))
                    .unwrap_or(0))
            }
            _ => unreachable!("a payload is built by the transport that sends it"),
        }
    }
}

/// The gzip of `body`. Writing into a `Vec` cannot fail.
fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(body)
        .expect("writing into a Vec does not fail");
    encoder.finish().expect("writing into a Vec does not fail")
}

fn rejected_spans(response: &ExportTraceServiceResponse) -> u64 {
    response
        .partial_success
        .as_ref()
        .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0))
}

/// An `http://` or `https://` URL with a host and no credentials: those
/// belong in `headers`, which are kept out of logs, while a URL is shown in
/// errors.
fn checked_url(text: &str) -> Result<reqwest::Url, OtlpError> {
    let shown_raw = || {
        if text.contains('@') {
            "(not shown: it has an '@')".to_owned()
        } else {
            format!("{text:?}")
        }
    };
    let url = reqwest::Url::parse(text).map_err(|e| OtlpError::InvalidEndpoint {
        shown: shown_raw(),
        problem: e.to_string(),
    })?;
    let problem = if !matches!(url.scheme(), "http" | "https") {
        Some("must start with http:// or https://")
    } else if url.host_str().is_none_or(str::is_empty) {
        Some("has no host")
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("must not carry credentials; put them in headers")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(OtlpError::InvalidEndpoint {
            shown: shown_raw(),
            problem: problem.to_owned(),
        }),
        None => Ok(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::otlp::OtlpConfig;

    /// Builds the transport, and checks that the client-free check agrees.
    fn transport(config: OtlpConfig) -> Result<Transport, OtlpError> {
        let resolved = config.resolve(&|_| None);
        let built = Transport::new(&resolved);
        assert_eq!(check(&resolved).is_ok(), built.is_ok(), "{resolved:?}");
        built
    }

    #[test]
    fn endpoints_must_be_plain_http_urls_without_credentials() {
        for bad in [
            "127.0.0.1:4317",
            "ftp://collector:21",
            "http://user:secret@collector:4317",
        ] {
            let error = transport(OtlpConfig {
                endpoint: Some(bad.into()),
                ..OtlpConfig::default()
            })
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"))
            .to_string();
            assert!(!error.contains("secret"), "{error}");
        }
        for good in ["http://collector:4317", "https://otlp.example.org"] {
            for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
                assert!(
                    transport(OtlpConfig {
                        endpoint: Some(good.into()),
                        protocol: Some(protocol),
                        ..OtlpConfig::default()
                    })
                    .is_ok(),
                    "{good} {protocol:?}"
                );
            }
        }
    }

    #[test]
    fn a_bad_header_is_named_and_its_value_is_not() {
        for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
            let config = OtlpConfig {
                protocol: Some(protocol),
                headers: [("api-key".to_owned(), "line\nbreak-secret".to_owned())].into(),
                ..OtlpConfig::default()
            };
            let error = transport(config).err().expect("refused").to_string();
            assert!(error.contains("api-key"), "{error}");
            assert!(!error.contains("secret"), "{error}");
            let config = OtlpConfig {
                protocol: Some(protocol),
                headers: [("bad name".to_owned(), "v".to_owned())].into(),
                ..OtlpConfig::default()
            };
            assert!(transport(config).is_err());
        }
    }
}
