//! An in-process OTLP gRPC receiver built on opentelemetry-proto's own
//! `TraceService` server: what Jaeger and the Collector run.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

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
