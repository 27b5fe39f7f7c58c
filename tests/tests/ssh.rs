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
    session.upload_with_mode(&path, &b"#!/bin/sh\n"[..], 0o755).await.unwrap();
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

#[tokio::test]
async fn a_host_known_by_another_key_type_is_not_learnt() {
    // The host presents ed25519; known_hosts knows it only by an RSA key. Learning mode must
    // treat that as a changed key, not as an unknown host.
    let sshd = Sshd::start();
    let rsa = sshd.dir.path().join("rsa");
    let made = std::process::Command::new("ssh-keygen").args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"]).arg(&rsa).status().unwrap();
    assert!(made.success());
    let rsa_pub = std::fs::read_to_string(rsa.with_extension("pub")).unwrap();
    let known = sshd.dir.path().join("rsa_known_hosts");
    let line = format!("[127.0.0.1]:{} {}\n", sshd.port, rsa_pub.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
    std::fs::write(&known, &line).unwrap();
    for mode in [HostKeyMode::LearnUnknown, HostKeyMode::Strict] {
        let err = SshSession::connect(target(&sshd), &options(&sshd, known.clone(), mode)).await.err().unwrap();
        assert!(matches!(err, SshError::HostKeyChanged { line: 1, .. }), "{mode:?}: {err}");
    }
    assert_eq!(std::fs::read_to_string(&known).unwrap(), line, "nothing was learnt");
}

#[tokio::test]
async fn parallel_uploads_of_one_path_all_succeed() {
    // Ten writers connect at once (as ten provider processes or containers would); sshd's default
    // MaxStartups (10:30:100) would drop some handshakes, which is not what this test is about.
    let sshd = Sshd::start_on("127.0.0.1", 0, "MaxStartups 50\n");
    let path = sshd.dir.path().join("hook.sh").display().to_string();
    let uploads = (0..10).map(|i| {
        let (sshd_target, options, path) = (target(&sshd), options(&sshd, sshd.known_hosts.clone(), HostKeyMode::Strict), path.clone());
        async move {
            let session = SshSession::connect(sshd_target, &options).await.unwrap();
            // Each writer's content differs in length, so a truncation by another shows.
            let content = format!("#!/bin/sh\n# writer {i}\n{}\n", "x".repeat(20_000 + i * 1000));
            session.upload_with_mode(&path, content.as_bytes(), 0o755).await.map(|_| content)
        }
    });
    let results = futures::future::join_all(uploads).await;
    let contents: Vec<String> = results.into_iter().map(|r| r.expect("every upload succeeds")).collect();
    let final_content = std::fs::read_to_string(&path).unwrap();
    assert!(contents.contains(&final_content), "the file is one writer's whole content");
    let leftovers: Vec<_> = std::fs::read_dir(sshd.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files are left: {leftovers:?}");
}

/// Content that arrives slowly, so the temporary file can be watched while it is written.
struct Trickle {
    chunks: usize,
    delay: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl tokio::io::AsyncRead for Trickle {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.chunks == 0 {
            return std::task::Poll::Ready(Ok(()));
        }
        use std::future::Future;
        let delay = self.delay.get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(40))));
        std::task::ready!(delay.as_mut().poll(cx));
        self.delay = None;
        self.chunks -= 1;
        buf.put_slice(b"AWS_SECRET_ACCESS_KEY=not-for-others\n");
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_secret_file_is_never_readable_by_others_while_it_uploads() {
    use std::os::unix::fs::PermissionsExt;
    let sshd = Sshd::start();
    let session = SshSession::connect(target(&sshd), &options(&sshd, sshd.known_hosts.clone(), HostKeyMode::Strict)).await.unwrap();
    let dir = sshd.dir.path().to_path_buf();
    let path = dir.join("pve-ops.env").display().to_string();
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (dir, watching) = (dir.clone(), watching.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                for entry in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
                    let name = entry.file_name().to_string_lossy().to_string();
                    if name.starts_with("pve-ops.env")
                        && let Ok(meta) = entry.metadata()
                    {
                        seen.push((name, meta.permissions().mode() & 0o777));
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            seen
        })
    };
    session.upload(&path, Trickle { chunks: 25, delay: None }).await.unwrap();
    watching.store(false, std::sync::atomic::Ordering::SeqCst);
    let seen = watcher.join().unwrap();
    assert!(seen.iter().any(|(name, _)| name.ends_with(".partial")), "the watcher saw the upload in progress: {seen:?}");
    let readable: Vec<_> = seen.iter().filter(|(_, mode)| mode & 0o077 != 0).collect();
    assert!(readable.is_empty(), "modes seen during the upload: {readable:?}");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}
