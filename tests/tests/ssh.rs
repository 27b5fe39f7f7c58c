//! pve-ssh against a real OpenSSH sshd: strict host keys, SFTP upload/read/remove, commands.

use std::time::Duration;

use pve_home_tests::Sshd;
use pve_ssh::{HostKeyMode, Options, SshError, SshSession, Target};

fn target(sshd: &Sshd) -> Target {
    Target { host: "127.0.0.1".into(), port: sshd.port, user: sshd.user.clone() }
}

fn options(sshd: &Sshd, known_hosts: std::path::PathBuf, mode: HostKeyMode) -> Options {
    Options { private_key: sshd.client_key.clone(), known_hosts, mode, timeout: Duration::from_secs(10) }
}

#[tokio::test]
async fn upload_read_remove_and_exec() {
    let sshd = Sshd::start();
    let session = SshSession::connect(target(&sshd), &options(&sshd, sshd.known_hosts.clone(), HostKeyMode::Strict)).await.unwrap();
    let path = sshd.dir.path().join("snippet.yaml").display().to_string();
    let written = session.upload(&path, &b"#cloud-config\npackages: [docker.io]\n"[..]).await.unwrap();
    assert_eq!(written, 36);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "#cloud-config\npackages: [docker.io]\n");
    assert_eq!(session.read(&path).await.unwrap(), b"#cloud-config\npackages: [docker.io]\n");
    session.upload(&path, &b"replaced"[..]).await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "replaced");
    session.upload_with_mode(&path, &b"#!/bin/sh\n"[..], Some(0o755)).await.unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o755);
    session.remove(&path).await.unwrap();
    assert!(!std::path::Path::new(&path).exists());
    session.remove(&path).await.unwrap();
    assert_eq!(session.exec("echo hello").await.unwrap(), "hello\n");
    let failed = session.exec("echo oops >&2; exit 3").await.unwrap_err();
    assert!(matches!(&failed, SshError::Command { status: 3, stderr, .. } if stderr == "oops"), "{failed}");
}

#[tokio::test]
async fn unknown_and_changed_host_keys_are_refused() {
    let sshd = Sshd::start();
    let empty = sshd.dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let err = SshSession::connect(target(&sshd), &options(&sshd, empty.clone(), HostKeyMode::Strict)).await.err().unwrap();
    assert!(matches!(&err, SshError::UnknownHost { fingerprint, .. } if fingerprint.starts_with("SHA256:")), "{err}");

    // The explicit learning mode records the key, after which strict mode accepts it.
    SshSession::connect(target(&sshd), &options(&sshd, empty.clone(), HostKeyMode::LearnUnknown)).await.unwrap();
    assert!(std::fs::read_to_string(&empty).unwrap().contains(&format!("[127.0.0.1]:{}", sshd.port)));
    SshSession::connect(target(&sshd), &options(&sshd, empty.clone(), HostKeyMode::Strict)).await.unwrap();

    // Another key recorded for this host: a changed key is refused even in learning mode.
    let other = sshd.dir.path().join("other");
    std::process::Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&other).status().unwrap();
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let wrong = sshd.dir.path().join("wrong_known_hosts");
    std::fs::write(&wrong, format!("[127.0.0.1]:{} {}\n", sshd.port, other_pub.split_whitespace().take(2).collect::<Vec<_>>().join(" ")))
        .unwrap();
    for mode in [HostKeyMode::Strict, HostKeyMode::LearnUnknown] {
        let err = SshSession::connect(target(&sshd), &options(&sshd, wrong.clone(), mode)).await.err().unwrap();
        assert!(matches!(err, SshError::HostKeyChanged { line: 1, .. }), "{err}");
    }
}
