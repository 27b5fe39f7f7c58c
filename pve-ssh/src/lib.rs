//! SSH and SFTP to Proxmox nodes and guests, for what the PVE API cannot do (snippet files) and
//! for operator tasks. Host keys are checked strictly against a known_hosts file; learning an
//! unknown host is an explicit mode, never a silent default.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::OpenFlags;
use tokio::io::{AsyncRead, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {target}: {detail}")]
    Connect { target: String, detail: String },
    #[error(
        "host key of {target} ({fingerprint}) is not in {known_hosts}; add it (ssh-keyscan, or an explicit init mode) after checking the fingerprint"
    )]
    UnknownHost { target: String, fingerprint: String, known_hosts: String },
    #[error(
        "HOST KEY OF {target} CHANGED ({fingerprint}, known_hosts line {line} holds another key): refusing to connect; someone may be intercepting the connection"
    )]
    HostKeyChanged { target: String, fingerprint: String, line: usize },
    #[error("{target}: authentication as {user} failed")]
    AuthFailed { target: String, user: String },
    #[error("cannot load private key {path}: {detail}")]
    Key { path: String, detail: String },
    #[error("{target}: {operation}: {detail}")]
    Io { target: String, operation: String, detail: String },
    #[error("{target}: `{command}` exited with {status}: {stderr}")]
    Command { target: String, command: String, status: u32, stderr: String },
}

/// How to treat a host key not yet in known_hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyMode {
    /// Refuse unknown hosts (the default).
    Strict,
    /// Record unknown hosts, still refusing changed keys (an explicit "init known_hosts" step).
    LearnUnknown,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.host, self.port)
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub private_key: PathBuf,
    pub known_hosts: PathBuf,
    pub mode: HostKeyMode,
    pub timeout: Duration,
}

struct HostKeyCheck {
    target: Target,
    known_hosts: PathBuf,
    mode: HostKeyMode,
    /// Why the key was refused, for the caller's error.
    refusal: Arc<Mutex<Option<SshError>>>,
}

impl HostKeyCheck {
    /// The known_hosts line of any key recorded for this host, whatever its type.
    fn known_by_other_key(&self, host: &str, port: u16) -> Option<usize> {
        russh::keys::known_hosts::known_host_keys_path(host, port, &self.known_hosts).ok()?.first().map(|(line, _)| *line)
    }
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(&mut self, server_key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_key else {
            return Ok(false);
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let (host, port) = (self.target.host.as_str(), self.target.port);
        let refuse = |error: SshError| {
            *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
            Ok(false)
        };
        let checked = russh::keys::check_known_hosts_path(host, port, key, &self.known_hosts);
        // A host already known by a key of another type is not unknown (russh answers "not
        // found" for it): learning its new key would accept exactly the substitution that strict
        // checking exists to catch.
        let other_key = if matches!(checked, Ok(false)) { self.known_by_other_key(host, port) } else { None };
        match (checked, other_key) {
            (Ok(true), _) => Ok(true),
            (Ok(false), Some(line)) => refuse(SshError::HostKeyChanged { target: self.target.to_string(), fingerprint, line }),
            (Ok(false), None) if self.mode == HostKeyMode::LearnUnknown => {
                russh::keys::known_hosts::learn_known_hosts_path(host, port, key, &self.known_hosts)
                    .map_err(|e| russh::Error::IO(std::io::Error::other(e.to_string())))?;
                tracing::warn!(target = %self.target, %fingerprint, "recorded a new host key");
                Ok(true)
            }
            (Ok(false), None) => refuse(SshError::UnknownHost {
                target: self.target.to_string(),
                fingerprint,
                known_hosts: self.known_hosts.display().to_string(),
            }),
            (Err(russh::keys::Error::KeyChanged { line }), _) => {
                refuse(SshError::HostKeyChanged { target: self.target.to_string(), fingerprint, line })
            }
            // A missing known_hosts file means no host is known.
            (Err(_), _) if self.mode == HostKeyMode::Strict => refuse(SshError::UnknownHost {
                target: self.target.to_string(),
                fingerprint,
                known_hosts: self.known_hosts.display().to_string(),
            }),
            (Err(e), _) => Err(russh::Error::IO(std::io::Error::other(e.to_string()))),
        }
    }
}

pub struct SshSession {
    target: Target,
    handle: client::Handle<HostKeyCheck>,
    timeout: Duration,
}

fn load_key(path: &Path) -> Result<PrivateKey, SshError> {
    russh::keys::load_secret_key(path, None).map_err(|e| SshError::Key { path: path.display().to_string(), detail: e.to_string() })
}

impl SshSession {
    /// Connects, checks the host key, and authenticates with the private key.
    pub async fn connect(target: Target, options: &Options) -> Result<Self, SshError> {
        let key = load_key(&options.private_key)?;
        let refusal = Arc::new(Mutex::new(None));
        let handler =
            HostKeyCheck { target: target.clone(), known_hosts: options.known_hosts.clone(), mode: options.mode, refusal: refusal.clone() };
        // Keepalives hold an idle, shared session open; a dead peer is noticed after three misses.
        let config = Arc::new(client::Config {
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            ..Default::default()
        });
        let connecting = client::connect(config, (target.host.as_str(), target.port), handler);
        let connected = tokio::time::timeout(options.timeout, connecting).await;
        let mut handle = match connected {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => {
                if let Some(refused) = refusal.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    return Err(refused);
                }
                return Err(SshError::Connect { target: target.to_string(), detail: e.to_string() });
            }
            Err(_) => {
                return Err(SshError::Connect { target: target.to_string(), detail: format!("no answer within {:?}", options.timeout) });
            }
        };
        let hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
        let auth = handle
            .authenticate_publickey(target.user.clone(), PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(|e| SshError::Connect { target: target.to_string(), detail: e.to_string() })?;
        if !auth.success() {
            return Err(SshError::AuthFailed { target: target.to_string(), user: target.user.clone() });
        }
        Ok(Self { target, handle, timeout: options.timeout })
    }

    /// True once the connection has gone (the caller should connect again).
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    fn io(&self, operation: &str, detail: impl ToString) -> SshError {
        SshError::Io { target: self.target.to_string(), operation: operation.to_string(), detail: detail.to_string() }
    }

    async fn sftp(&self) -> Result<SftpSession, SshError> {
        let channel = self.handle.channel_open_session().await.map_err(|e| self.io("opening a channel", e))?;
        channel.request_subsystem(true, "sftp").await.map_err(|e| self.io("starting sftp", e))?;
        SftpSession::new(channel.into_stream()).await.map_err(|e| self.io("starting sftp", e))
    }

    /// Streams `content` to `path`, readable by its owner only (0600). See `upload_with_mode`.
    pub async fn upload(&self, path: &str, content: impl AsyncRead + Unpin) -> Result<u64, SshError> {
        self.upload_with_mode(path, content, 0o600).await
    }

    /// Streams `content` to `path` with permission bits `mode` (e.g. 0o755 for a hookscript).
    ///
    /// The bytes go to a temporary file beside the target, then one rename puts it in place, so
    /// readers never see half a file. The temporary name is random and opened exclusively, so
    /// parallel uploads of one path (two containers sharing a hookscript) never write into each
    /// other's file. It is created with `mode` narrowed to the owner from its first byte (the
    /// server's umask can only narrow it further), so a secret is never readable by others, not
    /// even while it is being written; the final `mode` is set just before the rename.
    pub async fn upload_with_mode(&self, path: &str, mut content: impl AsyncRead + Unpin, mode: u32) -> Result<u64, SshError> {
        let sftp = self.sftp().await?;
        let partial = format!("{path}.{:016x}.partial", rand::random::<u64>());
        let private =
            russh_sftp::protocol::FileAttributes { permissions: Some(mode & 0o700), ..russh_sftp::protocol::FileAttributes::empty() };
        let mut file = sftp
            .open_with_flags_and_attributes(&partial, OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE, private)
            .await
            .map_err(|e| self.io(&format!("creating {partial}"), e))?;
        let written = match self.write_all(&mut file, &mut content, &partial).await {
            Ok(written) => written,
            Err(error) => {
                let _ = sftp.remove_file(&partial).await;
                return Err(error);
            }
        };
        let final_mode = russh_sftp::protocol::FileAttributes { permissions: Some(mode), ..russh_sftp::protocol::FileAttributes::empty() };
        if let Err(e) = sftp.set_metadata(&partial, final_mode).await {
            let _ = sftp.remove_file(&partial).await;
            return Err(self.io(&format!("setting the mode of {partial}"), e));
        }
        // Replace the target in one step, so it is never missing (an authorized_keys that vanished
        // halfway would lock everyone out): `mv -f` is rename(2). SFTP's own rename refuses an
        // existing target, so it is only the fallback, for a new file on an SFTP-only account.
        if let Err(mv) = self.exec(&format!("mv -f -- {} {}", shell_quote(&partial), shell_quote(path))).await {
            let renaming = format!("renaming {partial} to {path}");
            let renamed = tokio::time::timeout(self.timeout, sftp.rename(&partial, path)).await;
            if !matches!(renamed, Ok(Ok(()))) {
                let _ = sftp.remove_file(&partial).await;
            }
            renamed.map_err(|_| self.io(&renaming, "timed out"))?.map_err(|e| self.io(&renaming, format!("{e} (and {mv})")))?;
        }
        Ok(written)
    }

    async fn write_all(
        &self,
        file: &mut russh_sftp::client::fs::File,
        content: &mut (impl AsyncRead + Unpin),
        partial: &str,
    ) -> Result<u64, SshError> {
        let written = tokio::time::timeout(self.timeout, tokio::io::copy(content, file))
            .await
            .map_err(|_| self.io(&format!("writing {partial}"), "timed out"))?
            .map_err(|e| self.io(&format!("writing {partial}"), e))?;
        let closing = format!("closing {partial}");
        tokio::time::timeout(self.timeout, file.shutdown())
            .await
            .map_err(|_| self.io(&closing, "timed out"))?
            .map_err(|e| self.io(&closing, e))?;
        Ok(written)
    }

    /// Removes `path`; a file that is already gone is not an error.
    pub async fn remove(&self, path: &str) -> Result<(), SshError> {
        let sftp = self.sftp().await?;
        match sftp.remove_file(path).await {
            Ok(()) => Ok(()),
            Err(russh_sftp::client::error::Error::Status(status)) if status.status_code == russh_sftp::protocol::StatusCode::NoSuchFile => {
                Ok(())
            }
            Err(e) => Err(self.io(&format!("removing {path}"), e)),
        }
    }

    /// Reads a whole (small) file.
    pub async fn read(&self, path: &str) -> Result<Vec<u8>, SshError> {
        let sftp = self.sftp().await?;
        sftp.read(path).await.map_err(|e| self.io(&format!("reading {path}"), e))
    }

    /// Reads a whole (small) file; `None` when it does not exist.
    pub async fn read_optional(&self, path: &str) -> Result<Option<Vec<u8>>, SshError> {
        let sftp = self.sftp().await?;
        match sftp.read(path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(russh_sftp::client::error::Error::Status(status)) if status.status_code == russh_sftp::protocol::StatusCode::NoSuchFile => {
                Ok(None)
            }
            Err(e) => Err(self.io(&format!("reading {path}"), e)),
        }
    }

    /// The SHA-256 (hex) of each of `paths` that exists, read over one SFTP session; no command
    /// runs on the host, so it is safe for dry runs.
    pub async fn sha256_files(&self, paths: &[String]) -> Result<std::collections::HashMap<String, String>, SshError> {
        use sha2::Digest;
        use tokio::io::AsyncReadExt;
        let sftp = self.sftp().await?;
        let mut found = std::collections::HashMap::new();
        for path in paths {
            let mut file = match sftp.open(path.as_str()).await {
                Ok(file) => file,
                Err(russh_sftp::client::error::Error::Status(status))
                    if matches!(
                        status.status_code,
                        russh_sftp::protocol::StatusCode::NoSuchFile | russh_sftp::protocol::StatusCode::PermissionDenied
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(self.io(&format!("opening {path}"), e)),
            };
            let mut hasher = sha2::Sha256::new();
            let mut buffer = vec![0u8; 256 << 10];
            loop {
                let read = tokio::time::timeout(self.timeout, file.read(&mut buffer))
                    .await
                    .map_err(|_| self.io(&format!("reading {path}"), "timed out"))?
                    .map_err(|e| self.io(&format!("reading {path}"), e))?;
                if read == 0 {
                    break;
                }
                hasher.update(&buffer[..read]);
            }
            found.insert(path.clone(), hex::encode(hasher.finalize()));
        }
        Ok(found)
    }

    /// Which of `paths` exist (symbolic links count themselves, not their targets).
    pub async fn exist(&self, paths: &[String]) -> Result<Vec<bool>, SshError> {
        let sftp = self.sftp().await?;
        let mut exist = Vec::with_capacity(paths.len());
        for path in paths {
            exist.push(sftp.symlink_metadata(path.as_str()).await.is_ok());
        }
        Ok(exist)
    }

    /// Runs a command; fails on a non-zero exit with its stderr.
    pub async fn exec(&self, command: &str) -> Result<String, SshError> {
        let mut channel = self.handle.channel_open_session().await.map_err(|e| self.io("opening a channel", e))?;
        channel.exec(true, command).await.map_err(|e| self.io(&format!("running {command}"), e))?;
        let (mut stdout, mut stderr, mut status) = (Vec::new(), Vec::new(), None);
        let collect = async {
            while let Some(message) = channel.wait().await {
                match message {
                    russh::ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                    russh::ChannelMsg::ExtendedData { data, .. } => stderr.extend_from_slice(&data),
                    russh::ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    _ => {}
                }
            }
        };
        tokio::time::timeout(self.timeout, collect).await.map_err(|_| self.io(&format!("running {command}"), "timed out"))?;
        match status {
            Some(0) => Ok(String::from_utf8_lossy(&stdout).into_owned()),
            status => Err(SshError::Command {
                target: self.target.to_string(),
                command: command.to_string(),
                status: status.unwrap_or(255),
                stderr: String::from_utf8_lossy(&stderr).trim().to_string(),
            }),
        }
    }
}

/// `text` single-quoted for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The OpenSSH public key line (`type base64 comment`) of a private key file.
pub fn public_key_line(private_key: &Path) -> Result<String, SshError> {
    let key = load_key(private_key)?;
    let line =
        key.public_key().to_openssh().map_err(|e| SshError::Key { path: private_key.display().to_string(), detail: e.to_string() })?;
    let comment = key.comment().to_string();
    Ok(if comment.is_empty() || line.ends_with(&comment) { line } else { format!("{line} {comment}") })
}
