//! docs/guides/ALERTING.md against a real Alertmanager (Debian's prometheus-alertmanager,
//! installed by scripts/setup-tools.sh) running modules/monitoring-stack's alertmanager.yml and
//! Telegram template: the guide's `amtool alert add` test alert reaches Telegram's Bot API
//! `sendMessage` for the configured chat, rendered by the template; the silence and the
//! inhibition the guide shows mute what they should and nothing else. Telegram itself is a
//! loopback stand-in (the receiver's `api_url`), which records each request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pve_home_tests::{CliRun, repo_root};

const CHAT_ID: &str = "-1001234567890";

/// A stand-in for api.telegram.org: answers every request as sendMessage succeeding and keeps
/// (path, body) of each.
struct FakeTelegram {
    url: String,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl FakeTelegram {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let kept = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(request) = answer(stream) {
                    kept.lock().expect("lock").push(request);
                }
            }
        });
        Self { url, requests }
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        let requests = self.requests.lock().expect("lock");
        requests
            .iter()
            .filter(|(path, _)| path.ends_with("/sendMessage"))
            .map(|(_, body)| serde_json::from_str(body).unwrap_or_else(|e| panic!("sendMessage body is not JSON ({e}): {body}")))
            .collect()
    }
}

/// Reads one HTTP/1.1 request and answers it with Telegram's shape of a sent message.
fn answer(stream: TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let path = request_line.split_whitespace().nth(1)?.to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let reply = r#"{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":1,"type":"group"}}}"#;
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    )
    .ok()?;
    Some((path, String::from_utf8_lossy(&body).into_owned()))
}

/// Alertmanager on loopback with the module's configuration, killed on drop.
struct Alertmanager {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The module's alertmanager.yml as the module renders it (the chat ID), with the receivers
/// pointed at the stand-in. The token goes inline: bot_token_file, which the module uses, needs
/// Alertmanager 0.26, newer than Debian 12's.
fn rendered_config(telegram_url: &str) -> String {
    let files = repo_root().join("modules/monitoring-stack/files/alertmanager");
    let template = std::fs::read_to_string(files.join("alertmanager.yml.tftpl")).expect("alertmanager.yml.tftpl");
    assert!(template.contains("${telegram_chat_id}"), "the template no longer takes telegram_chat_id");
    // A token of Telegram's shape, made here (no literal that looks like a secret).
    let token = format!("{}:{}", 123_456, "x".repeat(35));
    let lines: Vec<String> = template
        .replace("${telegram_chat_id}", CHAT_ID)
        .lines()
        .map(|line| match line.split_once("bot_token_file:") {
            Some((indent, _)) => {
                let pad = " ".repeat(indent.len().saturating_sub(2));
                format!("{indent}bot_token: \"{token}\"\n{pad}  api_url: {telegram_url}")
            }
            None => line.to_string(),
        })
        .collect();
    lines.join("\n") + "\n"
}

fn start_alertmanager(telegram_url: &str) -> Alertmanager {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = repo_root().join("modules/monitoring-stack/files/alertmanager");
    std::fs::write(dir.path().join("alertmanager.yml"), rendered_config(telegram_url)).expect("write config");
    let templates = dir.path().join("alertmanager_templates");
    std::fs::create_dir(&templates).expect("templates dir");
    std::fs::copy(files.join("alertmanager_templates/telegram.tmpl"), templates.join("telegram.tmpl")).expect("copy template");
    let check = CliRun::of(Command::new("amtool").arg("check-config").arg(dir.path().join("alertmanager.yml")));
    assert_eq!(check.code, 0, "amtool check-config:\n{}{}", check.stdout, check.stderr);

    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let child = Command::new("prometheus-alertmanager")
        .current_dir(dir.path())
        .arg("--config.file=alertmanager.yml")
        .arg(format!("--storage.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager runs (scripts/setup-tools.sh installs it)");
    let alertmanager = Alertmanager { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while amtool(&alertmanager, &["alert", "query"]).code != 0 {
        assert!(Instant::now() < deadline, "Alertmanager did not start on {}", alertmanager.url);
        std::thread::sleep(Duration::from_millis(200));
    }
    alertmanager
}

fn amtool(alertmanager: &Alertmanager, args: &[&str]) -> CliRun {
    CliRun::of(Command::new("amtool").arg(format!("--alertmanager.url={}", alertmanager.url)).args(args))
}

/// Alerts by name with their state (`active`, `suppressed`), from `amtool alert query -s -i`.
fn alert_states(alertmanager: &Alertmanager) -> Vec<(String, String, serde_json::Value)> {
    let run = amtool(alertmanager, &["alert", "query", "--active", "--silenced", "--inhibited", "-o", "json"]);
    assert_eq!(run.code, 0, "amtool alert query: {}", run.stderr);
    let alerts: serde_json::Value = serde_json::from_str(&run.stdout).expect("amtool JSON");
    alerts
        .as_array()
        .expect("a list of alerts")
        .iter()
        .map(|a| {
            let name = a["labels"]["alertname"].as_str().unwrap_or_default().to_string();
            let state = a["status"]["state"].as_str().unwrap_or_default().to_string();
            (name, state, a["labels"].clone())
        })
        .collect()
}

fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_guides_test_alert_reaches_the_telegram_chat() {
    let telegram = FakeTelegram::start();
    let alertmanager = start_alertmanager(&telegram.url);
    let add = amtool(
        &alertmanager,
        &[
            "alert",
            "add",
            "PveHomeTestAlert",
            "severity=critical",
            "instance=manual",
            "--annotation=summary=Test alert from amtool",
            "--annotation=description=If you read this in Telegram, Alertmanager reaches the bot and the chat.",
        ],
    );
    assert_eq!(add.code, 0, "amtool alert add: {}", add.stderr);
    // critical: group_wait 10 s.
    let message = wait_for("the test alert's sendMessage", Duration::from_secs(40), || telegram.messages().into_iter().next());
    assert_eq!(message["chat_id"], CHAT_ID, "{message}");
    assert_eq!(message["parse_mode"], "HTML", "{message}");
    let text = message["text"].as_str().expect("text");
    assert!(text.starts_with("<b>FIRING [critical] PveHomeTestAlert</b>\nTest alert from amtool\nIf you read this"), "{text}");
    // The token travels only in the URL path, as the Bot API wants, never in the message.
    let requests = telegram.requests.lock().expect("lock").clone();
    assert!(requests.iter().all(|(path, body)| path.starts_with("/bot123456:") && !body.contains("123456:")), "{requests:?}");
}

#[test]
fn the_guides_silence_and_inhibition_mute_only_their_alerts() {
    let telegram = FakeTelegram::start();
    let alertmanager = start_alertmanager(&telegram.url);
    let silence = amtool(
        &alertmanager,
        &[
            "silence",
            "add",
            "alertname=SnapshotOlderThanWeek",
            "snapshot=golden-image",
            "--duration=30d",
            "--author=admin",
            "--comment=golden-image is kept on purpose",
        ],
    );
    assert_eq!(silence.code, 0, "amtool silence add: {}", silence.stderr);
    for alert in [
        ["DriftCheckFailed", "severity=warning", "env=lab"],
        ["DriftDetected", "severity=warning", "env=lab"],
        // Another environment's drift: DriftCheckFailed of lab must not mute it.
        ["DriftDetected", "severity=warning", "env=prod"],
        ["SnapshotOlderThanWeek", "severity=warning", "snapshot=golden-image"],
        // Another snapshot: the silence names golden-image only.
        ["SnapshotOlderThanWeek", "severity=warning", "snapshot=forgotten"],
    ] {
        let mut args = vec!["alert", "add"];
        args.extend(alert);
        let run = amtool(&alertmanager, &args);
        assert_eq!(run.code, 0, "amtool alert add {alert:?}: {}", run.stderr);
    }
    let label = |labels: &serde_json::Value, key: &str| labels[key].as_str().unwrap_or_default().to_string();
    let states = wait_for("five alerts with the inhibition applied", Duration::from_secs(20), || {
        let states = alert_states(&alertmanager);
        let inhibited = states.iter().any(|(name, state, l)| name == "DriftDetected" && label(l, "env") == "lab" && state == "suppressed");
        (states.len() == 5 && inhibited).then_some(states)
    });
    let state_of = |name: &str, key: &str, value: &str| {
        states
            .iter()
            .find(|(n, _, l)| n == name && label(l, key) == value)
            .map(|(_, s, _)| s.clone())
            .unwrap_or_else(|| panic!("no {name} {key}={value} in {states:?}"))
    };
    assert_eq!(state_of("DriftDetected", "env", "lab"), "suppressed");
    assert_eq!(state_of("DriftDetected", "env", "prod"), "active");
    assert_eq!(state_of("DriftCheckFailed", "env", "lab"), "active");
    assert_eq!(state_of("SnapshotOlderThanWeek", "snapshot", "golden-image"), "suppressed");
    assert_eq!(state_of("SnapshotOlderThanWeek", "snapshot", "forgotten"), "active");
}
