//! In-process OTLP receivers: gRPC on opentelemetry-proto's own
//! `TraceService` server (what Jaeger and the Collector run), and OTLP/HTTP
//! protobuf on hyper.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

pub type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

#[derive(Clone)]
struct Receiver {
    received: Received,
    /// Codes to answer with before answering OK.
    script: Arc<Mutex<VecDeque<tonic::Code>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.received.lock().unwrap().push(request.into_inner());
        if let Some(code) = self.script.lock().unwrap().pop_front() {
            return Err(tonic::Status::new(code, "scripted"));
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

pub async fn grpc_receiver(script: Vec<tonic::Code>) -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let receiver = Receiver {
        received: Arc::default(),
        script: Arc::new(Mutex::new(script.into())),
    };
    let received = Arc::clone(&receiver.received);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (format!("http://{address}"), received)
}

/// `POST /v1/traces` with a protobuf body, answered 200 (400 if the body
/// does not decode), as the OTLP/HTTP specification says.
pub async fn http_receiver() -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let shared = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let received = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let received = Arc::clone(&received);
                    async move {
                        let body = request.into_body().collect().await?.to_bytes();
                        let status = match ExportTraceServiceRequest::decode(body) {
                            Ok(request) => {
                                received.lock().unwrap().push(request);
                                200
                            }
                            Err(_) => 400,
                        };
                        let answer = ExportTraceServiceResponse::default().encode_to_vec();
                        Ok::<_, hyper::Error>(
                            hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::from(answer)))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{address}"), received)
}
