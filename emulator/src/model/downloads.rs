//! `POST /nodes/{node}/storage/{storage}/download-url`: a file fetched over HTTP(S) into a
//! directory storage, as pve-storage's `PVE::API2::Storage::Status::download_url` does (the checks
//! in the handler) and pve-common's `PVE::Tools::download_file_from_url` (the task: refusing an
//! existing file, the download into a temporary file, the checksum, the rename).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pve_api::Upid;
use pve_api::storage_files::{content_file_format, content_subdir, normalize_content_filename};

use super::{Cluster, StorageDef, Volume};
use crate::error::PveError;
use crate::state::{Emulator, now};
use crate::tasks::TaskCtx;

/// A download as the request asks for it.
#[derive(Debug, Clone)]
pub struct Download {
    pub node: String,
    pub storage: String,
    /// `iso`, `vztmpl` or `import` (the schema's enum).
    pub content: String,
    pub url: String,
    /// As given; normalized like pve-storage's `normalize_content_filename`.
    pub filename: String,
    /// (algorithm, expected hex digest); the schema makes each require the other.
    pub checksum: Option<(String, String)>,
    pub verify_certificates: bool,
    pub compression: Option<String>,
}

/// Where a checked download goes.
#[derive(Debug, Clone)]
struct Destination {
    filename: String,
    volid: String,
    /// The path PVE would write (`<storage path>/template/iso/NAME`), for the log.
    path: String,
    /// The real file, when the storage has a directory under `--data-dir`.
    file: Option<PathBuf>,
    /// The volume's `format` in content listings (pve-storage `get_subdir_files`).
    format: String,
    shared: bool,
}

/// The size of the disk an image holds: a qcow2 header's virtual size (big-endian u64 at byte
/// 24, after the magic `QFI\xfb`), or a raw image's length. None for a qcow2 file without the
/// magic, which qemu-img would not take for qcow2.
pub fn image_virtual_size(format: &str, head: &[u8], length: u64) -> Option<u64> {
    match format {
        "qcow2" => {
            if head.len() < 32 || &head[..4] != b"QFI\xfb" {
                return None;
            }
            Some(u64::from_be_bytes(head[24..32].try_into().ok()?))
        }
        "raw" => Some(length),
        _ => None,
    }
}

impl StorageDef {
    /// The directory a file-based storage keeps its files in, as `GET /storage/{id}` reports it:
    /// the `--data-dir` one, or where PVE would have it. None for block storages.
    pub fn file_root(&self, id: &str) -> Option<String> {
        match (&self.path, self.storage_type.as_str()) {
            (Some(path), _) => Some(path.clone()),
            (None, "dir" | "nfs" | "cifs") => Some(format!("/var/lib/vz/{id}")),
            _ => None,
        }
    }
}

impl Cluster {
    /// The handler's checks, in PVE's order: the storage enabled on the node, file based, with
    /// that content type, and a file name with the content's extension.
    fn download_destination(&self, d: &Download) -> Result<Destination, PveError> {
        let def = self.storage_on_node(&d.storage, &d.node)?;
        let root = def
            .file_root(&d.storage)
            .ok_or_else(|| PveError::server(format!("can't upload to storage type '{}', not a file based storage!", def.storage_type)))?;
        if !def.content.contains(&d.content) {
            return Err(PveError::server(format!("storage '{}' is not configured for content-type '{}'", d.storage, d.content)));
        }
        let filename = normalize_content_filename(&d.filename);
        let format = content_file_format(&d.content, &filename).map_err(|message| {
            let param = if message.starts_with("upload content-type") { "content" } else { "filename" };
            PveError::param(param, message)
        })?;
        let subdir = content_subdir(&d.content);
        Ok(Destination {
            volid: format!("{}:{}/{filename}", d.storage, d.content),
            path: format!("{root}/{subdir}/{filename}"),
            file: def.path.as_ref().map(|dir| PathBuf::from(dir).join(subdir).join(&filename)),
            filename,
            format,
            shared: def.shared,
        })
    }
}

/// The digests of every algorithm PVE offers, computed as the file streams in.
struct Hashers {
    md5: md5::Md5,
    sha1: sha1::Sha1,
    sha224: sha2::Sha224,
    sha256: sha2::Sha256,
    sha384: sha2::Sha384,
    sha512: sha2::Sha512,
}

impl Hashers {
    fn new() -> Self {
        use sha2::Digest as _;
        Self {
            md5: <md5::Md5 as md5::Digest>::new(),
            sha1: sha1::Sha1::new(),
            sha224: sha2::Sha224::new(),
            sha256: sha2::Sha256::new(),
            sha384: sha2::Sha384::new(),
            sha512: sha2::Sha512::new(),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest as _;
        md5::Digest::update(&mut self.md5, bytes);
        self.sha1.update(bytes);
        self.sha224.update(bytes);
        self.sha256.update(bytes);
        self.sha384.update(bytes);
        self.sha512.update(bytes);
    }

    fn finish(self) -> BTreeMap<String, String> {
        use sha2::Digest as _;
        [
            ("md5", hex::encode(md5::Digest::finalize(self.md5))),
            ("sha1", hex::encode(self.sha1.finalize())),
            ("sha224", hex::encode(self.sha224.finalize())),
            ("sha256", hex::encode(self.sha256.finalize())),
            ("sha384", hex::encode(self.sha384.finalize())),
            ("sha512", hex::encode(self.sha512.finalize())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// What a finished transfer left: its length, its first bytes (for the image header) and digests.
struct Fetched {
    length: u64,
    head: Vec<u8>,
    checksums: BTreeMap<String, String>,
}

/// The bytes of the image header kept from the stream.
const HEAD_BYTES: usize = 512;

/// wget's exit status as `run_command` reports it (`download failed: command '…' failed: exit
/// code N`): 4 for a network failure, 5 for a TLS verification failure, 8 for an HTTP error.
fn wget_failed(command: &str, code: u8) -> String {
    format!("download failed: command '{command}' failed: exit code {code}")
}

/// An error with its causes, `: `-joined (reqwest's own message names only the request).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

impl Emulator {
    /// Checks a download like the handler and starts the `download` task that fetches it.
    // PERMISSION: Datastore.AllocateTemplate on /storage/{storage}, and Sys.Audit and Sys.Modify on
    // / or Sys.AccessNetwork on /nodes/{node} (pve-storage `PVE/API2/Storage/Status.pm`
    // `download_url`, its `permissions.check`, which the schema carries too).
    pub fn download_url(self: &Arc<Self>, download: Download, user: &str) -> Result<Upid, PveError> {
        let destination = self.cluster().download_destination(&download)?;
        let node = download.node.clone();
        let this = self.clone();
        // pve-storage: the worker ID is the file name (`encode_text`, which a normalized name passes).
        let id = destination.filename.clone();
        Ok(self.spawn_task_steps(
            &node,
            "download",
            &id,
            user,
            1,
            Vec::new(),
            Box::new(move |ctx: TaskCtx| Box::pin(async move { this.run_download(&download, &destination, &ctx).await })),
        ))
    }

    async fn run_download(&self, d: &Download, dest: &Destination, ctx: &TaskCtx) -> Result<(), String> {
        if let Some(compression) = &d.compression {
            if d.content != "iso" {
                return Err(format!("decompression not supported for {}", d.content));
            }
            return Err(format!("decompression with '{compression}' is not emulated"));
        }
        ctx.log(format!("downloading {} to {}", d.url, dest.path));
        let existing = self.cluster().find_volume(&d.node, &dest.volid).cloned();
        let exists = existing.is_some() || dest.file.as_ref().is_some_and(|f| f.is_file());
        if exists {
            let Some((algorithm, expected)) = &d.checksum else {
                return Err(format!("refusing to override existing file '{}'", dest.path));
            };
            let got = existing.and_then(|v| v.checksums.get(algorithm).cloned()).unwrap_or_default();
            if got.eq_ignore_ascii_case(expected) {
                ctx.log("calculating checksum of existing file...OK, got correct file already, no need to download");
                return Ok(());
            }
            ctx.log("calculating checksum of existing file...");
            return Err(format!("checksum mismatch: got '{got}' != expect '{expected}', aborting"));
        }
        // The temporary name pve-common uses beside the destination (`NAME.tmp_dwnl.PID`).
        let tmp = dest.file.as_ref().map(|f| f.with_file_name(format!("{}.tmp_dwnl.{}", dest.filename, ctx.upid.pid)));
        let result = self.fetch(d, dest, tmp.as_ref(), ctx).await;
        let fetched = match result {
            Ok(fetched) => fetched,
            Err(e) => {
                if let Some(tmp) = &tmp {
                    let _ = std::fs::remove_file(tmp);
                }
                return Err(e);
            }
        };
        let keep = || -> Result<(), String> {
            if let Some((algorithm, expected)) = &d.checksum {
                let got = fetched.checksums.get(algorithm).cloned().unwrap_or_default();
                if !got.eq_ignore_ascii_case(expected) {
                    ctx.log("calculating checksum...");
                    return Err(format!("checksum mismatch: got '{got}' != expect '{expected}'"));
                }
                ctx.log("calculating checksum...OK, checksum verified");
            }
            if ctx.fail {
                return Err("download failed: injected task failure".into());
            }
            Ok(())
        };
        let virtual_size = image_virtual_size(&dest.format, &fetched.head, fetched.length);
        let verified = keep().and_then(|()| {
            // pve-storage `file_size_info` on the untrusted image: a .qcow2 must be one.
            if d.content == "import" && dest.format == "qcow2" && virtual_size.is_none() {
                return Err(format!("failed to verify file: image '{}' is not a valid qcow2 image", dest.filename));
            }
            Ok(())
        });
        if let Err(e) = verified {
            if let Some(tmp) = &tmp {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(e);
        }
        if let (Some(tmp), Some(file)) = (&tmp, &dest.file) {
            std::fs::rename(tmp, file).map_err(|e| format!("unable to rename temporary file: {e}"))?;
        }
        self.cluster().volumes.push(Volume {
            storage: d.storage.clone(),
            node: (!dest.shared).then(|| d.node.clone()),
            volid: dest.volid.clone(),
            content: d.content.clone(),
            format: dest.format.clone(),
            size: fetched.length,
            ctime: now(),
            virtual_size,
            checksums: fetched.checksums,
            ..Default::default()
        });
        ctx.log(format!("download of '{}' to '{}' finished", d.url, dest.path));
        Ok(())
    }

    /// The transfer itself, as wget would make it: refused above the storage's free space.
    async fn fetch(&self, d: &Download, dest: &Destination, tmp: Option<&PathBuf>, ctx: &TaskCtx) -> Result<Fetched, String> {
        let tmp_shown = format!("{}.tmp_dwnl.{}", dest.path, ctx.upid.pid);
        let mut command = format!("wget --progress=dot:giga -O {tmp_shown} {}", d.url);
        if !d.verify_certificates {
            command.push_str(" --no-check-certificate");
        }
        pve_api::install_crypto_provider();
        let client = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(!d.verify_certificates)
            .connect_timeout(Duration::from_secs(30))
            // wget's default `--read-timeout`: a server that stops sending fails the task.
            .read_timeout(Duration::from_secs(900))
            .build()
            .map_err(|e| format!("download failed: {e}"))?;
        let mut response = match client.get(&d.url).send().await {
            Ok(response) => response,
            Err(e) => {
                let cause = error_chain(&e);
                // wget's words and exit codes: 5 when TLS verification failed, 4 for the network.
                if cause.to_ascii_lowercase().contains("certificate") {
                    let host = reqwest::Url::parse(&d.url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
                    ctx.log(format!("ERROR: cannot verify {host}'s certificate: {cause}"));
                    ctx.log("To connect to the server insecurely, use '--no-check-certificate'.");
                    return Err(wget_failed(&command, 5));
                }
                ctx.log(format!("failed: {cause}"));
                return Err(wget_failed(&command, 4));
            }
        };
        let status = response.status();
        ctx.log(format!("HTTP request sent, awaiting response... {} {}", status.as_u16(), status.canonical_reason().unwrap_or("")));
        if !status.is_success() {
            ctx.log(format!("ERROR {}: {}.", status.as_u16(), status.canonical_reason().unwrap_or("")));
            return Err(wget_failed(&command, 8));
        }
        let free = {
            let cluster = self.cluster();
            let total = cluster.storage(&d.storage).map(|s| s.total).unwrap_or(0);
            total.saturating_sub(cluster.used_bytes(&d.node, &d.storage))
        };
        let too_big = |length: u64| {
            format!(
                "download failed: {} is larger than the {} free on storage '{}'",
                crate::storage_io::render_bytes(length),
                crate::storage_io::render_bytes(free),
                d.storage
            )
        };
        match response.content_length() {
            Some(length) if length > free => return Err(too_big(length)),
            Some(length) => ctx.log(format!("Length: {length} ({})", crate::storage_io::render_bytes(length))),
            None => ctx.log("Length: unspecified"),
        }
        ctx.log(format!("Saving to: '{tmp_shown}'"));
        let mut file = match tmp {
            Some(path) => Some(std::fs::File::create(path).map_err(|e| format!("download failed: {}: {e}", path.display()))?),
            None => None,
        };
        let mut hashers = Hashers::new();
        let mut head = Vec::with_capacity(HEAD_BYTES);
        let mut length = 0u64;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    ctx.log(format!("Read error ({e})"));
                    return Err(wget_failed(&command, 4));
                }
            };
            length += chunk.len() as u64;
            if length > free {
                return Err(too_big(length));
            }
            hashers.update(&chunk);
            let room = HEAD_BYTES.saturating_sub(head.len());
            head.extend_from_slice(&chunk[..room.min(chunk.len())]);
            if let Some(file) = file.as_mut() {
                file.write_all(&chunk).map_err(|e| format!("download failed: {e}"))?;
            }
        }
        ctx.take_time().await;
        ctx.log(format!("'{tmp_shown}' saved [{length}]"));
        Ok(Fetched { length, head, checksums: hashers.finish() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qcow2_header_gives_the_virtual_size() {
        let mut head = vec![0u8; 64];
        head[..4].copy_from_slice(b"QFI\xfb");
        head[24..32].copy_from_slice(&(2u64 << 30).to_be_bytes());
        assert_eq!(image_virtual_size("qcow2", &head, 65536), Some(2 << 30));
        assert_eq!(image_virtual_size("qcow2", &[0; 64], 65536), None);
        assert_eq!(image_virtual_size("raw", &[], 4096), Some(4096));
    }
}
