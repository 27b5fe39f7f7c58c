//! The go-plugin side of Terraform's plugin launch: magic cookie, protocol version negotiation,
//! a loopback listener, AutoMTLS (a generated server certificate; only Terraform's own client
//! certificate is accepted, see `mtls`), the handshake line on stdout, and
//! the controller/stdio/broker/health services go-plugin expects. `--debug` serves without the
//! handshake and prints `TF_REATTACH_PROVIDERS` instead.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_stream::Stream;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic::{Request, Response, Status, Streaming};

use super::mtls;
use super::service::{PluginService, ProviderDefinition};
use crate::proto::plugin as go_plugin;
use crate::proto::tfplugin6::provider_server::ProviderServer;

pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
const PROTOCOL_VERSION: &str = "6";
const CORE_PROTOCOL_VERSION: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error(
        "This binary is a plugin. These are not meant to be executed directly.\n\
         Please execute the program that consumes these plugins, which will\n\
         load any plugins automatically.\n\n\
         To debug this provider, run it with --debug and set the TF_REATTACH_PROVIDERS it prints."
    )]
    NotLaunchedByTerraform,
    #[error("Terraform offers plugin protocol versions '{0}', but this provider speaks only version 6 (Terraform 1.0 or later)")]
    NoCommonProtocol(String),
}

/// Whether to run the handshake (launched by Terraform) or print reattach settings (debugging).
pub enum Mode {
    Plugin,
    Debug { provider_address: String },
}

struct Controller {
    shutdown: Arc<Notify>,
}

#[tonic::async_trait]
impl go_plugin::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _: Request<go_plugin::Empty>) -> Result<Response<go_plugin::Empty>, Status> {
        self.shutdown.notify_waiters();
        Ok(Response::new(go_plugin::Empty {}))
    }
}

type Pending<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Our logs go to stderr, which Terraform already collects; the stdio stream stays open and empty.
struct Stdio;

#[tonic::async_trait]
impl go_plugin::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = Pending<go_plugin::StdioData>;

    async fn stream_stdio(&self, _: Request<()>) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(Box::pin(tokio_stream::pending())))
    }
}

/// Providers open no sub-connections; the broker stream is accepted and left idle.
struct Broker;

#[tonic::async_trait]
impl go_plugin::grpc_broker_server::GrpcBroker for Broker {
    type StartStreamStream = Pending<go_plugin::ConnInfo>;

    async fn start_stream(&self, request: Request<Streaming<go_plugin::ConnInfo>>) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut incoming = request.into_inner();
        tokio::spawn(async move { while let Ok(Some(_)) = incoming.message().await {} });
        Ok(Response::new(Box::pin(tokio_stream::pending())))
    }
}

/// A self-signed certificate for `localhost`, usable as its own CA, as go-plugin's AutoMTLS expects.
fn server_certificate() -> anyhow::Result<(String, String, String)> {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])?;
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "HashiCorp");
    params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages =
        vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::KeyEncipherment, rcgen::KeyUsagePurpose::KeyCertSign];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = params.self_signed(&key)?;
    let der_base64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(cert.der());
    Ok((cert.pem(), key.serialize_pem(), der_base64))
}

/// Connections that completed the mutual TLS handshake. Each handshake runs on its own task, so a
/// client that connects and stalls cannot hold up Terraform's connection.
fn authenticated(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) -> impl Stream<Item = Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, std::io::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("plugin listener: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (acceptor, sender) = (acceptor.clone(), sender.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let _ = sender.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => tracing::warn!(%peer, "refused a plugin connection: {e}"),
                    Err(_) => tracing::warn!(%peer, "refused a plugin connection: no TLS handshake within {HANDSHAKE_TIMEOUT:?}"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves the provider until Terraform asks it to stop.
pub async fn serve<P: ProviderDefinition>(definition: P, mode: Mode) -> anyhow::Result<()> {
    if let Mode::Plugin = mode {
        if std::env::var(MAGIC_COOKIE_KEY).ok().as_deref() != Some(MAGIC_COOKIE_VALUE) {
            return Err(HandshakeError::NotLaunchedByTerraform.into());
        }
        let offered = std::env::var("PLUGIN_PROTOCOL_VERSIONS").unwrap_or_else(|_| PROTOCOL_VERSION.into());
        if !offered.split(',').any(|v| v.trim() == PROTOCOL_VERSION) {
            return Err(HandshakeError::NoCommonProtocol(offered).into());
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let shutdown = Arc::new(Notify::new());

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_service_status("plugin", tonic_health::ServingStatus::Serving).await;

    // Launched by Terraform: AutoMTLS with its pinned client certificate, or no start at all.
    let tls = match &mode {
        Mode::Plugin => {
            let client_pem = std::env::var("PLUGIN_CLIENT_CERT").ok().filter(|c| !c.trim().is_empty());
            let client = mtls::PinnedClientCert::from_pem(&client_pem.ok_or(mtls::MtlsError::NoClientCertificate)?)?;
            let (cert_pem, key_pem, der_base64) = server_certificate()?;
            Some((tokio_rustls::TlsAcceptor::from(Arc::new(mtls::server_config(&cert_pem, &key_pem, client)?)), der_base64))
        }
        Mode::Debug { .. } => None,
    };
    let certificate_field = tls.as_ref().map(|(_, der)| der.clone()).unwrap_or_default();
    let service = match &mode {
        Mode::Plugin => PluginService::new(definition),
        Mode::Debug { .. } => PluginService::new(definition).reconfigurable(),
    };
    let router = Server::builder()
        .add_service(health_service)
        .add_service(go_plugin::grpc_controller_server::GrpcControllerServer::new(Controller { shutdown: shutdown.clone() }))
        .add_service(go_plugin::grpc_stdio_server::GrpcStdioServer::new(Stdio))
        .add_service(go_plugin::grpc_broker_server::GrpcBrokerServer::new(Broker))
        .add_service(ProviderServer::new(service).max_decoding_message_size(256 << 20).max_encoding_message_size(256 << 20));

    match &mode {
        Mode::Plugin => {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{CORE_PROTOCOL_VERSION}|{PROTOCOL_VERSION}|tcp|{address}|grpc|{certificate_field}")?;
            stdout.flush()?;
        }
        Mode::Debug { provider_address } => {
            let reattach = serde_json::json!({
                provider_address: {
                    "Protocol": "grpc", "ProtocolVersion": 6, "Pid": std::process::id(), "Test": true,
                    "Addr": { "Network": "tcp", "String": address.to_string() },
                }
            });
            println!("Provider started. To attach Terraform, set in your shell:\n\n\tTF_REATTACH_PROVIDERS='{reattach}'\n");
        }
    }
    let stop = shutdown.clone();
    let stopped = async move {
        tokio::select! {
            _ = stop.notified() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    match tls {
        Some((acceptor, _)) => router.serve_with_incoming_shutdown(authenticated(listener, acceptor), stopped).await?,
        None => router.serve_with_incoming_shutdown(TcpListenerStream::new(listener), stopped).await?,
    }
    Ok(())
}
