//! go-plugin's AutoMTLS, server side. Terraform generates a fresh client certificate for every
//! plugin it starts and passes it in `PLUGIN_CLIENT_CERT`; we answer with a fresh server
//! certificate on the handshake line. Only a client presenting exactly that certificate, and
//! proving it holds its key, may call the provider: any other local process that finds the
//! loopback port is refused during the TLS handshake.
//!
//! Terraform's key is ECDSA P-521, which ring (our rustls provider) cannot verify, so the
//! handshake signature is checked here with RustCrypto's pure-Rust `p521`. The certificate itself
//! is pinned (DER equality), not chained: it is self-signed and known in advance.

use std::sync::Arc;

use p521::ecdsa::signature::Verifier;
use p521::pkcs8::DecodePublicKey;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error as TlsError, SignatureScheme};

#[derive(Debug, thiserror::Error)]
pub enum MtlsError {
    #[error(
        "PLUGIN_CLIENT_CERT is not set: Terraform passes its client certificate there (AutoMTLS). \
         Without it anyone on this machine could drive the provider, so it does not start. \
         To debug it by hand, run it with --debug."
    )]
    NoClientCertificate,
    #[error("PLUGIN_CLIENT_CERT is not a PEM certificate: {0}")]
    BadPem(String),
    #[error("PLUGIN_CLIENT_CERT must hold exactly one certificate, found {0}")]
    CertificateCount(usize),
    #[error("PLUGIN_CLIENT_CERT: {0}")]
    Unsupported(String),
    #[error("building the plugin's TLS server: {0}")]
    Tls(String),
}

/// Accepts one client certificate, byte for byte, with an ECDSA P-521 key.
#[derive(Debug)]
pub struct PinnedClientCert {
    der: Vec<u8>,
    key: p521::ecdsa::VerifyingKey,
}

impl PinnedClientCert {
    /// From the PEM text Terraform puts in `PLUGIN_CLIENT_CERT`.
    pub fn from_pem(pem: &str) -> Result<Self, MtlsError> {
        let certs: Vec<CertificateDer<'static>> =
            rustls_pemfile::certs(&mut pem.as_bytes()).collect::<Result<_, _>>().map_err(|e| MtlsError::BadPem(e.to_string()))?;
        let [cert] = certs.as_slice() else { return Err(MtlsError::CertificateCount(certs.len())) };
        let parsed = webpki::EndEntityCert::try_from(cert).map_err(|e| MtlsError::BadPem(format!("{e:?}")))?;
        let spki = parsed.subject_public_key_info();
        let key = p521::ecdsa::VerifyingKey::from_public_key_der(spki.as_ref())
            .map_err(|e| MtlsError::Unsupported(format!("the certificate's key is not ECDSA P-521 as go-plugin generates ({e})")))?;
        Ok(Self { der: cert.as_ref().to_vec(), key })
    }

    fn check_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<(), TlsError> {
        if cert.as_ref() != self.der.as_slice() {
            return Err(TlsError::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure));
        }
        if dss.scheme != SignatureScheme::ECDSA_NISTP521_SHA512 {
            return Err(TlsError::PeerMisbehaved(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme));
        }
        let signature = p521::ecdsa::DerSignature::try_from(dss.signature())
            .map_err(|_| TlsError::InvalidCertificate(rustls::CertificateError::BadSignature))?;
        self.key.verify(message, &signature).map_err(|_| TlsError::InvalidCertificate(rustls::CertificateError::BadSignature))
    }
}

impl ClientCertVerifier for PinnedClientCert {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        if end_entity.as_ref() == self.der.as_slice() {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::warn!("refused a plugin client that did not present Terraform's certificate");
            Err(TlsError::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.check_signature(message, cert, dss).map(|()| HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.check_signature(message, cert, dss).map(|()| HandshakeSignatureValid::assertion())
    }

    /// The only scheme a P-521 key signs with in TLS 1.3; offered alone for TLS 1.2 as well.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ECDSA_NISTP521_SHA512]
    }
}

/// The plugin's TLS server: our certificate and key (PEM), and only `client` may connect.
pub fn server_config(cert_pem: &str, key_pem: &str, client: PinnedClientCert) -> Result<rustls::ServerConfig, MtlsError> {
    let tls = |e: &dyn std::fmt::Display| MtlsError::Tls(e.to_string());
    let chain: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut cert_pem.as_bytes()).collect::<Result<_, _>>().map_err(|e| tls(&e))?;
    let key: PrivateKeyDer<'static> =
        rustls_pemfile::private_key(&mut key_pem.as_bytes()).map_err(|e| tls(&e))?.ok_or_else(|| tls(&"no private key"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(Arc::new(client))
        .with_single_cert(chain, key)
        .map_err(|e| tls(&e))?;
    // gRPC over HTTP/2 only; grpc-go clients insist on ALPN.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
