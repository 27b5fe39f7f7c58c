//! Node endpoints (`version`, `status`) and backup jobs' PVE 9 notification options.

mod common;

use common::*;
use pve_api::{ApiError, Params};

#[tokio::test]
async fn a_node_reports_its_version_and_available_memory() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    let version = get(&api, "/nodes/pve2/version").await;
    assert_eq!((version["version"].as_str(), version["release"].as_str()), (Some("9.1.3"), Some("9.1")));
    let repoid = version["repoid"].as_str().unwrap_or_default();
    assert!(repoid.len() == 16 && repoid.chars().all(|c| c.is_ascii_hexdigit()), "a commit ID: {version}");
    let unknown = call(&api, reqwest::Method::GET, "/nodes/pve9/version", Params::new()).await.unwrap_err();
    assert!(matches!(unknown, ApiError::Proxy { .. } | ApiError::Server { status: 595, .. }), "{unknown:?}");
    let memory = get(&api, "/nodes/pve1/status").await["memory"].clone();
    let (total, free, available) =
        (memory["total"].as_u64().unwrap(), memory["free"].as_u64().unwrap(), memory["available"].as_u64().unwrap());
    assert!(free <= available && available <= total, "{memory}");
}

#[tokio::test]
async fn backup_jobs_keep_notification_mode_and_repeat_missed() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    api.create_backup_job(
        &Params::new()
            .set("id", "nightly")
            .set("schedule", "02:00")
            .flag("all", true)
            .set("storage", "backup")
            .set("notification-mode", "notification-system")
            .flag("repeat-missed", true),
    )
    .await
    .unwrap();
    let job = api.backup_job("nightly").await.unwrap();
    assert_eq!((&job["notification-mode"], &job["repeat-missed"]), (&serde_json::json!("notification-system"), &serde_json::json!(1)));
    let bad = api.update_backup_job("nightly", &Params::new().set("notification-mode", "email")).await.unwrap_err();
    assert!(matches!(&bad, ApiError::Parameters { errors, .. } if errors.contains_key("notification-mode")), "{bad:?}");
    api.update_backup_job("nightly", &Params::new().set("delete", "repeat-missed,notification-mode")).await.unwrap();
    let job = api.backup_job("nightly").await.unwrap();
    assert!(!job.contains_key("repeat-missed") && !job.contains_key("notification-mode"), "{job:?}");
    let unknown = api.update_backup_job("nightly", &Params::new().set("delete", "schedulex")).await.unwrap_err();
    assert!(
        matches!(&unknown, ApiError::Parameters { errors, .. } if errors["delete"].trim() == "unknown option 'schedulex'"),
        "{unknown:?}"
    );
}
