//! Every endpoint the emulator implements validates against the official schema before it acts,
//! and the bundled schema is the one in shared/.

use pve_api::{ApiError, Params, Retry, RetryPolicy};
use pve_home_tests::{TOKEN, client_with, emulator, repo_root};
use reqwest::Method;

fn concrete(template: &str) -> String {
    template
        .replace("{node}", "pve1")
        .replace("{vmid}", "9000")
        .replace("{storage}", "local")
        .replace("{volume}", "local%3Avztmpl%2Fx.tar.zst")
        .replace("{upid}", "UPID%3Apve1%3A00001000%3A01007000%3A6B041433%3Aqmclone%3A9000%3Aroot%40pam%3A")
        .replace("{snapname}", "snap1")
        .replace("{id}", "job1")
        .replace("{sid}", "vm%3A9000")
        .replace("{poolid}", "pool1")
}

#[tokio::test]
async fn unknown_parameters_are_rejected_everywhere() {
    let emu = emulator(|_| {}).await;
    let api = client_with(&emu, TOKEN, RetryPolicy::none());
    let implemented = pve_emulator::api::implemented();
    assert!(implemented.len() >= 80, "{} endpoints", implemented.len());
    for key in &implemented {
        let (method, template) = key.split_once(' ').unwrap();
        if template == "/access/ticket" {
            continue;
        }
        let method: Method = method.parse().unwrap();
        let err = api
            .call_envelope(method, &concrete(template), &Params::new().set("no_such_parameter", "1"), Retry::Idempotent)
            .await
            .expect_err(key);
        match err {
            ApiError::Parameters { errors, .. } => assert_eq!(
                errors.get("no_such_parameter").map(|m| m.trim()),
                Some("property is not defined in schema and the schema does not allow additional properties"),
                "{key}: {errors:?}"
            ),
            other => panic!("{key}: expected 400, got {other:?}"),
        }
    }
    // The guest the requests named is untouched: validation happened before any handler ran.
    let config = api.guest_config(pve_api::GuestKind::Qemu, "pve1", 9000).await.unwrap();
    assert_eq!(config.get_str("template").as_deref(), Some("1"));
}

#[tokio::test]
async fn unimplemented_endpoints_answer_501() {
    let emu = emulator(|_| {}).await;
    let api = client_with(&emu, TOKEN, RetryPolicy::none());
    for path in ["/nodes/pve1/qemu/9000/agent/fsfreeze-status", "/cluster/ceph/status", "/no/such/path"] {
        let method = if path.ends_with("fsfreeze-status") { Method::POST } else { Method::GET };
        let err = api.call_envelope(method.clone(), path, &Params::new(), Retry::Idempotent).await.unwrap_err();
        assert!(
            matches!(&err, ApiError::NotImplemented { message, .. } if *message == format!("Method '{method} {path}' not implemented")),
            "{err:?}"
        );
    }
}

#[test]
fn bundled_schema_is_the_shared_one() {
    let shared = repo_root().join("../shared/pve-api/pve-9.1.3-api-full.json");
    let bundled = repo_root().join("emulator/schema/pve-api.json");
    match std::fs::read(&shared) {
        Ok(shared) => {
            assert!(shared == std::fs::read(&bundled).unwrap(), "emulator/schema/pve-api.json differs from shared/: copy it again")
        }
        // Outside the monorepo layout there is nothing to compare with.
        Err(_) => assert!(bundled.exists()),
    }
}
