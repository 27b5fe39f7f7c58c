//! The environments users run: `environments/lab` applies against the emulator through the real
//! provider and re-plans clean.

use pve_home_tests::{TOKEN, Terraform, emulator, repo_root};

#[test]
fn lab_environment_applies_and_replans_clean() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let emu = runtime.block_on(emulator(|_| {}));
    let tf = Terraform::new("").env("PVE_ENDPOINT", &emu.url).env("PVE_API_TOKEN", TOKEN);
    std::fs::remove_file(tf.dir.path().join("main.tf")).unwrap();
    for entry in std::fs::read_dir(repo_root().join("environments/lab")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "tf") {
            std::fs::copy(&path, tf.dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    tf.init();
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let outputs = tf.outputs();
    assert_eq!(outputs["proxmox_version"]["value"], "9.1.3");
    assert_eq!(outputs["template"]["value"]["vmid"], 9000);
    let expires = (chrono::Utc::now().date_naive() + chrono::Duration::days(14)).format("%Y-%m-%d").to_string();
    assert_eq!(outputs["sandbox"]["value"]["expires"], expires);
    let out = tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(out.code, 0, "the lab re-plans clean:\n{}", out.all());
}
