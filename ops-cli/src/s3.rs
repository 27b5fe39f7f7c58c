//! The S3 bucket that holds Terraform state (MinIO, SeaweedFS or AWS): path-style requests to a
//! custom endpoint, TLS through rustls with ring (verified; a private CA can be added), and the
//! credentials only from the environment or the --config file.

use std::path::Path;

pub use aws_sdk_s3;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// Where the state bucket is and how to reach it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub ca_file: Option<std::path::PathBuf>,
}

impl S3Settings {
    /// Settings from flags, then the environment (`PVE_OPS_S3_*`, the AWS names), then the
    /// environment folder's `backend.hcl` (what `terraform init -backend-config` reads).
    pub fn resolve(endpoint: Option<String>, bucket: Option<String>, backend_hcl: &Path) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let hcl = std::fs::read_to_string(backend_hcl).unwrap_or_default();
        Self {
            endpoint: endpoint
                .or_else(|| var("PVE_OPS_S3_ENDPOINT"))
                .or_else(|| var("AWS_ENDPOINT_URL_S3"))
                .or_else(|| var("AWS_ENDPOINT_URL"))
                .or_else(|| hcl_string(&hcl, "s3")),
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .or_else(|| hcl_string(&hcl, "region"))
                .unwrap_or("us-east-1".into()),
            bucket: bucket.or_else(|| var("PVE_OPS_S3_BUCKET")).or_else(|| hcl_string(&hcl, "bucket")).unwrap_or_else(|| "tfstate".into()),
            ca_file: var("PVE_OPS_S3_CA_FILE").or_else(|| var("AWS_CA_BUNDLE")).map(Into::into),
        }
    }

    /// A client with the credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN).
    pub fn client(&self) -> anyhow::Result<aws_sdk_s3::Client> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) else {
            anyhow::bail!("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (in the environment or in --config FILE) for the state bucket");
        };
        self.client_with(Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "pve-ops"))
    }

    pub fn client_with(&self, credentials: Credentials) -> anyhow::Result<aws_sdk_s3::Client> {
        let mut http = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("cannot read CA file {}: {e}", ca.display()))?;
            let context = TlsContext::builder()
                .with_trust_store(TrustStore::default().with_pem_certificate(pem.as_slice()))
                .build()
                .map_err(|e| anyhow::anyhow!("CA file {}: {e}", ca.display()))?;
            http = http.tls_context(context);
        }
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .http_client(http.build_https())
            // MinIO and SeaweedFS serve buckets by path, not by virtual host.
            .force_path_style(true)
            // Checksums only where S3 requires them: self-hosted servers differ in the newer ones.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &self.endpoint {
            config = config.endpoint_url(endpoint);
        }
        Ok(aws_sdk_s3::Client::from_conf(config.build()))
    }
}

/// The string value of `name = "…"` in an HCL file, also inside `{ … }` (enough for backend.hcl).
fn hcl_string(text: &str, name: &str) -> Option<String> {
    let pattern = regex::Regex::new(&format!(r#"(?:^|[\s{{,]){}\s*=\s*"([^"]*)""#, regex::escape(name))).ok()?;
    text.lines().filter(|l| !l.trim_start().starts_with('#')).find_map(|line| pattern.captures(line).map(|c| c[1].to_string()))
}

/// An S3 error with the service's code and message, not just "service error".
pub fn error(context: &str, error: impl std::error::Error) -> anyhow::Error {
    anyhow::anyhow!("{context}: {}", DisplayErrorContext(error))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_backend_hcl() {
        let text = "# state bucket\nbucket = \"tfstate\"\nendpoints = { s3 = \"https://minio.lan:9000\" }\n";
        assert_eq!(super::hcl_string(text, "bucket").as_deref(), Some("tfstate"));
        assert_eq!(super::hcl_string(text, "s3").as_deref(), Some("https://minio.lan:9000"));
        assert_eq!(super::hcl_string(text, "region"), None);
    }
}
