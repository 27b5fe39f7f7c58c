//! The provider binary, launched as Terraform launches it, talks only to the holder of the client
//! certificate it was given (AutoMTLS, P-521 like go-plugin's), and accepts one configuration.
//! The real Terraform runs the same path in every end-to-end suite.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use base64::Engine;
use p521::pkcs8::DecodePrivateKey;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use terraform_provider_pve::proto::tfplugin6 as pb;

/// A P-521 certificate and key as go-plugin makes them (openssl here).
struct ClientIdentity {
    cert_pem: String,
    key: p521::ecdsa::SigningKey,
}

fn p521_identity(dir: &std::path::Path, name: &str) -> ClientIdentity {
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-521",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/O=HashiCorp/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    let key = p521::ecdsa::SigningKey::from_pkcs8_pem(&std::fs::read_to_string(key).unwrap()).expect("P-521 key");
    ClientIdentity { cert_pem: std::fs::read_to_string(cert).unwrap(), key }
}

struct Provider {
    child: Child,
    address: String,
    server_cert: Vec<u8>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch(client_cert_pem: Option<&str>) -> Result<Provider, String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_terraform-provider-pve"));
    command
        .env("TF_PLUGIN_MAGIC_COOKIE", terraform_provider_pve::plugin::handshake::MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env_remove("PLUGIN_CLIENT_CERT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(pem) = client_cert_pem {
        command.env("PLUGIN_CLIENT_CERT", pem);
    }
    let mut child = command.spawn().expect("provider starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    if line.trim().is_empty() {
        let output = child.wait_with_output().unwrap();
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    // 1|6|tcp|127.0.0.1:PORT|grpc|BASE64-DER
    let fields: Vec<&str> = line.trim().split('|').collect();
    assert_eq!(fields.len(), 6, "{line}");
    let server_cert = base64::engine::general_purpose::STANDARD_NO_PAD.decode(fields[5]).expect("server certificate");
    Ok(Provider { child, address: fields[3].to_string(), server_cert })
}

/// Trusts exactly the server certificate of the handshake line, as go-plugin does.
#[derive(Debug)]
struct PinnedServer(Vec<u8>);

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        (end_entity.as_ref() == self.0.as_slice())
            .then(ServerCertVerified::assertion)
            .ok_or(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer))
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &rustls::crypto::ring::default_provider().signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &rustls::crypto::ring::default_provider().signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// Signs the TLS handshake with a P-521 key (ring cannot).
#[derive(Debug)]
struct P521Signer(p521::ecdsa::SigningKey);

impl rustls::sign::SigningKey for P521Signer {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        offered
            .contains(&SignatureScheme::ECDSA_NISTP521_SHA512)
            .then(|| Box::new(P521Signer(self.0.clone())) as Box<dyn rustls::sign::Signer>)
    }
    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        rustls::SignatureAlgorithm::ECDSA
    }
}

impl rustls::sign::Signer for P521Signer {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        use p521::ecdsa::signature::Signer;
        let signature: p521::ecdsa::Signature = self.0.try_sign(message).map_err(|e| rustls::Error::General(e.to_string()))?;
        Ok(signature.to_der().as_bytes().to_vec())
    }
    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP521_SHA512
    }
}

#[derive(Debug)]
struct Presents(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for Presents {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

fn client_config(provider: &Provider, identity: Option<&ClientIdentity>) -> rustls::ClientConfig {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer(provider.server_cert.clone())));
    let mut config = match identity {
        Some(identity) => {
            let chain: Vec<CertificateDer<'static>> =
                rustls_pemfile::certs(&mut identity.cert_pem.as_bytes()).collect::<Result<_, _>>().unwrap();
            let key = rustls::sign::CertifiedKey::new(chain, Arc::new(P521Signer(identity.key.clone())));
            builder.with_client_cert_resolver(Arc::new(Presents(Arc::new(key))))
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

/// A gRPC channel over our own TLS connection to the provider.
async fn channel(provider: &Provider, identity: Option<&ClientIdentity>) -> Result<tonic::transport::Channel, String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(provider, identity)));
    let address = provider.address.clone();
    let connect = tower::service_fn(move |_: tonic::codegen::http::Uri| {
        let (connector, address) = (connector.clone(), address.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&address).await?;
            let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
        }
    });
    tonic::transport::Endpoint::from_static("http://localhost").connect_with_connector(connect).await.map_err(|e| format!("{e:?}"))
}

async fn call<Req: prost::Message + 'static, Res: prost::Message + Default + 'static>(
    channel: tonic::transport::Channel,
    method: &'static str,
    request: Req,
) -> Result<Res, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(method);
    grpc.unary(tonic::Request::new(request), path, tonic_prost::ProstCodec::default()).await.map(|r| r.into_inner())
}

async fn schema(channel: tonic::transport::Channel) -> Result<pb::get_provider_schema::Response, tonic::Status> {
    call(channel, "/tfplugin6.Provider/GetProviderSchema", pb::get_provider_schema::Request::default()).await
}

async fn configure(channel: tonic::transport::Channel) -> Result<pb::configure_provider::Response, tonic::Status> {
    // An empty configuration: the provider answers with diagnostics, which is enough to tell
    // whether it accepted the call at all.
    call(channel, "/tfplugin6.Provider/ConfigureProvider", pb::configure_provider::Request::default()).await
}

#[tokio::test]
async fn only_terraforms_certificate_may_call_the_provider() {
    pve_api::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let terraform = p521_identity(dir.path(), "terraform");
    let intruder = p521_identity(dir.path(), "intruder");
    let provider = launch(Some(&terraform.cert_pem)).expect("the provider starts with a client certificate");

    // The holder of the pinned certificate is served.
    let served = schema(channel(&provider, Some(&terraform)).await.expect("Terraform's client connects")).await.expect("schema");
    assert!(served.resource_schemas.contains_key("pve_vm"));

    // Another P-521 certificate, or none, is refused before any RPC runs.
    for (what, identity) in [("another certificate", Some(&intruder)), ("no certificate", None)] {
        let refused = match channel(&provider, identity).await {
            Err(error) => error,
            Ok(channel) => match schema(channel).await {
                Err(status) => status.to_string(),
                Ok(_) => panic!("a client with {what} was served"),
            },
        };
        assert!(!refused.is_empty(), "{what}");
    }

    // One configuration per process: a second ConfigureProvider is refused, even from Terraform's
    // own certificate.
    let first = configure(channel(&provider, Some(&terraform)).await.unwrap()).await.expect("first configure answers");
    assert!(first.diagnostics.iter().all(|d| d.summary != "Provider already configured"), "{:?}", first.diagnostics);
    let second = configure(channel(&provider, Some(&terraform)).await.unwrap()).await.expect("second configure answers");
    assert!(second.diagnostics.iter().any(|d| d.summary == "Provider already configured"), "{:?}", second.diagnostics);
}

#[test]
fn without_a_client_certificate_the_provider_does_not_start() {
    let Err(stderr) = launch(None) else { panic!("the provider served without AutoMTLS") };
    assert!(stderr.contains("PLUGIN_CLIENT_CERT is not set"), "{stderr}");
}
