//! The emulator's own hardening: request bodies capped and read only after authentication, no
//! default credentials beside the configured ones, 401s held back, secrets kept out of the request
//! log, snippet volume IDs confined to `snippets/`, private files created 0600.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use pve_api::{GuestKind, Params};
use pve_home_tests::{TOKEN, client, emulator, request_log, workspace_binary};

fn http() -> reqwest::Client {
    pve_api::install_crypto_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

#[tokio::test]
async fn an_unauthenticated_oversized_body_is_refused_unread() {
    let emu = emulator(|_| {}).await;
    let url = format!("{}/api2/json/nodes/pve1/qemu", emu.url);
    // 64 MB announced, none of it sent: the answer comes from the headers alone.
    let mut stream = tokio::net::TcpStream::connect(emu.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "POST /api2/json/nodes/pve1/qemu HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        emu.addr,
        64 << 20
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer)).await.expect("answered without the body").unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).to_string();
    assert!(answer.starts_with("HTTP/1.1 401"), "authentication comes first: {answer}");

    // Authenticated, but over pveproxy's 512 KiB limit: 501, as PVE answers it.
    let big = "a".repeat(600 * 1024);
    let response = http()
        .post(&url)
        .header("Authorization", format!("PVEAPIToken={TOKEN}"))
        .form(&[("vmid", "4242"), ("description", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 501);
    assert!(response.status().canonical_reason().is_some());
    let text = response.text().await.unwrap();
    assert!(text.contains("for data too large"), "{text}");
    // A body under the limit is served.
    let small =
        http().get(format!("{}/api2/json/version", emu.url)).header("Authorization", format!("PVEAPIToken={TOKEN}")).send().await.unwrap();
    assert_eq!(small.status().as_u16(), 200);
}

#[tokio::test]
async fn failed_logins_are_held_back_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let emu = emulator(|c| {
        c.auth_failure_delay_ms = 400;
        c.request_log = Some(log.clone());
    })
    .await;
    let started = Instant::now();
    let response = http()
        .post(format!("{}/api2/json/access/ticket", emu.url))
        .form(&[("username", "root@pam"), ("password", "guess-number-one")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(started.elapsed() >= Duration::from_millis(400), "the 401 was held back");
    let bad_token = http()
        .get(format!("{}/api2/json/nodes", emu.url))
        .header("Authorization", "PVEAPIToken=root@pam!terraform=guess-number-two")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status().as_u16(), 401);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("guess-number"), "{text}");
    assert_eq!(std::fs::metadata(&log).unwrap().permissions().mode() & 0o777, 0o600, "the request log is private");
}

#[tokio::test]
async fn secrets_named_by_the_schema_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let emu = emulator(|c| c.request_log = Some(log.clone())).await;
    let api = client(&emu);
    // `key` (an ACME/notification private key) and `token` (a notification target's) are not in
    // any hand-written list: the schema marks them.
    for (path, name) in [("/cluster/notifications/endpoints/gotify", "token"), ("/nodes/pve1/certificates/custom", "key")] {
        let _ = api
            .post::<serde_json::Value>(
                path,
                &Params::new().set(name, "PRIVATE-MATERIAL").set("name", "x"),
                pve_api::Retry::OnlyIfNotApplied,
            )
            .await;
    }
    let _ = api
        .update_config(GuestKind::Qemu, "pve1", 9000, &Params::new().set("cipassword", "PRIVATE-MATERIAL").set("description", "visible"))
        .await;
    let lines = request_log(&log);
    assert!(lines.len() >= 3, "{lines:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("PRIVATE-MATERIAL"), "{text}");
    assert!(text.contains("visible"), "other parameters are kept: {text}");
}

#[tokio::test]
async fn snippet_volume_ids_are_plain_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(|c| c.data_dir = Some(dir.path().to_path_buf())).await;
    let api = client(&emu);
    // A hookscript is root@pam's alone (qemu-server `check_vm_modify_config_perm`): a token,
    // even root's, is refused before the volume is looked at; root@pam itself gets the checks.
    let err =
        api.update_config(GuestKind::Qemu, "pve1", 9000, &Params::new().set("hookscript", "local:snippets/hook.sh")).await.unwrap_err();
    assert!(err.to_string().contains("only root can set 'hookscript' config"), "{err}");
    let root = pve_home_tests::root_client(&emu);
    for (key, value) in [("cicustom", "user=local:snippets//etc/shadow"), ("hookscript", "local:snippets/../../../../etc/passwd")] {
        let err = root.update_config(GuestKind::Qemu, "pve1", 9000, &Params::new().set(key, value)).await.unwrap_err();
        assert!(err.to_string().contains("unable to parse directory volume name"), "{key}: {err}");
    }
    // A real snippet still works.
    std::fs::write(dir.path().join("local/snippets/user.yaml"), "#cloud-config\n").unwrap();
    api.update_config(GuestKind::Qemu, "pve1", 9000, &Params::new().set("cicustom", "user=local:snippets/user.yaml")).await.unwrap();
}

#[tokio::test]
async fn the_state_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let emu = emulator(|c| c.state_file = Some(state.clone())).await;
    client(&emu).update_config(GuestKind::Qemu, "pve1", 9000, &Params::new().set("description", "persisted")).await.unwrap();
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o600);
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains("tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The binary has no built-in secret: configured credentials are the only ones, and with none it
/// makes a random token and says so.
#[test]
fn the_binary_accepts_only_the_configured_credentials() {
    use std::io::BufRead;
    let start = |env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(workspace_binary("pve-emulator"));
        command
            .args(["--listen", "127.0.0.1:0", "--plain-http", "--auth-failure-delay-ms", "0"])
            .env_remove("PVE_EMULATOR_TOKENS")
            .env_remove("PVE_EMULATOR_USERS")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let url = lines.next().unwrap().unwrap().rsplit(' ').next().unwrap().to_string();
        let token = env.is_empty().then(|| lines.next().unwrap().unwrap().rsplit(' ').next().unwrap().to_string());
        (child, url, token)
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = |url: &str, auth: Option<&str>| {
        runtime.block_on(async {
            let mut request = http().get(format!("{url}/api2/json/nodes"));
            if let Some(auth) = auth {
                request = request.header("Authorization", format!("PVEAPIToken={auth}"));
            }
            request.send().await.unwrap().status().as_u16()
        })
    };
    let login = |url: &str, user: &str, password: &str| {
        runtime.block_on(async {
            http()
                .post(format!("{url}/api2/json/access/ticket"))
                .form(&[("username", user), ("password", password)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };

    let (mut child, url, _) = start(&[("PVE_EMULATOR_TOKENS", "ops@pve!ci=a-chosen-secret")]);
    assert_eq!(status(&url, Some("ops@pve!ci=a-chosen-secret")), 200);
    assert_eq!(status(&url, Some(TOKEN)), 401, "the well-known test token is not built in");
    assert_eq!(login(&url, "root@pam", "emulator"), 401, "no default user beside the configured tokens");
    let _ = child.kill();

    let (mut child, url, generated) = start(&[]);
    let generated = generated.expect("a generated token is printed");
    assert!(generated.starts_with("root@pam!emulator=") && !generated.contains("00000000"), "{generated}");
    assert_eq!(status(&url, Some(&generated)), 200);
    assert_eq!(status(&url, Some(TOKEN)), 401);
    let _ = child.kill();
}
