//! From a bare cluster to a template: `download-url` into a storage (checksums, content types,
//! PVE's file rules), disks imported from the image (`import-from`), EFI and TPM state disks.

mod common;

use common::*;
use pve_api::Params;
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

const GIB: u64 = 1 << 30;

/// The message PVE gave one parameter in a 400 answer.
fn param_error(error: &pve_api::ApiError, name: &str) -> Option<String> {
    match error {
        pve_api::ApiError::Parameters { errors, .. } => errors.get(name).map(|m| m.trim_end().to_string()),
        _ => None,
    }
}

fn download(url: &str, content: &str, filename: &str) -> Params {
    Params::new().set("url", url).set("content", content).set("filename", filename)
}

async fn content(api: &pve_api::PveClient, node: &str, storage: &str, filter: &str) -> Vec<Value> {
    let listing = get(api, &format!("/nodes/{node}/storage/{storage}/content?content={filter}")).await;
    listing.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_download_with_a_good_checksum_lands_and_lists() {
    let image = qcow2_image(2 * GIB, 64 << 10);
    let sum = hex::encode(Sha256::digest(&image));
    let base = serve_files(vec![("noble.img", image.clone())]);
    let data_dir = tempfile::tempdir().unwrap();
    let emu = emulator(|c| {
        c.bare = true;
        c.data_dir = Some(data_dir.path().to_path_buf());
    })
    .await;
    let api = client(&emu);
    let params = download(&format!("{base}/noble.img"), "import", "noble.qcow2").set("checksum", &sum).set("checksum-algorithm", "sha256");
    let upid = task(&api, "/nodes/pve2/storage/local/download-url", params).await.unwrap();
    assert_eq!(upid.task_type, "download");
    assert_eq!(upid.id, "noble.qcow2");
    let log = ok(&api, &upid).await;
    assert!(log.iter().any(|l| l.starts_with(&format!("downloading {base}/noble.img to "))), "{log:#?}");
    assert!(log.iter().any(|l| l.ends_with("OK, checksum verified")), "{log:#?}");
    let listed = content(&api, "pve2", "local", "import").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["volid"], "local:import/noble.qcow2");
    assert_eq!(listed[0]["format"], "qcow2");
    assert_eq!(listed[0]["content"], "import");
    assert_eq!(listed[0]["size"], 64 << 10);
    assert!(listed[0]["ctime"].as_i64().unwrap() > 0);
    let file = data_dir.path().join("local/import/noble.qcow2");
    assert_eq!(std::fs::read(&file).unwrap(), image, "the bytes are in the storage's import directory");
    // Local storage: the other nodes do not have it.
    assert!(content(&api, "pve1", "local", "import").await.is_empty());
    // The same name again is refused, as pve-common refuses to override a file.
    let again = task(&api, "/nodes/pve2/storage/local/download-url", download(&format!("{base}/noble.img"), "import", "noble.qcow2"))
        .await
        .unwrap();
    let (status, _) = finish(&api, &again).await;
    assert!(status.starts_with("refusing to override existing file '") && status.ends_with("/import/noble.qcow2'"), "{status}");
    // Deleting it removes the volume and the file.
    call(&api, Method::DELETE, "/nodes/pve2/storage/local/content/local%3Aimport%2Fnoble.qcow2", Params::new()).await.unwrap();
    assert!(content(&api, "pve2", "local", "import").await.is_empty());
    assert!(!file.exists());
}

#[tokio::test]
async fn a_bad_checksum_fails_the_task_and_keeps_no_file() {
    let template = b"not really a tarball".to_vec();
    let base = serve_files(vec![("debian.tar.zst", template)]);
    let data_dir = tempfile::tempdir().unwrap();
    let emu = emulator(|c| {
        c.bare = true;
        c.data_dir = Some(data_dir.path().to_path_buf());
    })
    .await;
    let api = client(&emu);
    let wrong = "ab".repeat(32);
    let params =
        download(&format!("{base}/debian.tar.zst"), "vztmpl", "debian.tar.zst").set("checksum", &wrong).set("checksum-algorithm", "sha256");
    let upid = task(&api, "/nodes/pve1/storage/local/download-url", params).await.unwrap();
    let (status, log) = finish(&api, &upid).await;
    let got = hex::encode(Sha256::digest(b"not really a tarball"));
    assert_eq!(status, format!("checksum mismatch: got '{got}' != expect '{wrong}'"), "{log:#?}");
    assert!(content(&api, "pve1", "local", "vztmpl").await.is_empty());
    let left: Vec<_> = std::fs::read_dir(data_dir.path().join("local/template/cache")).unwrap().flatten().collect();
    assert!(left.is_empty(), "no file and no temporary file stay: {left:?}");
}

#[tokio::test]
async fn wrong_content_or_file_names_are_refused_before_the_task() {
    let emu = emulator(|c| c.bare = true).await;
    let api = client(&emu);
    let url = "http://127.0.0.1:9/x.iso";
    let lvm = call(&api, Method::POST, "/nodes/pve1/storage/local-lvm/download-url", download(url, "iso", "x.iso")).await.unwrap_err();
    assert_eq!(lvm.message(), "can't upload to storage type 'lvmthin', not a file based storage!");
    let backup = call(&api, Method::POST, "/nodes/pve1/storage/backup/download-url", download(url, "iso", "x.iso")).await.unwrap_err();
    assert_eq!(backup.message(), "storage 'backup' is not configured for content-type 'iso'");
    let missing = call(&api, Method::POST, "/nodes/pve1/storage/nas/download-url", download(url, "iso", "x.iso")).await.unwrap_err();
    assert_eq!(missing.message(), "storage 'nas' does not exist");
    // Ubuntu names its qcow2 cloud images `.img`: for import they need `.qcow2`.
    let img = call(&api, Method::POST, "/nodes/pve1/storage/local/download-url", download(url, "import", "noble.img")).await.unwrap_err();
    assert_eq!(param_error(&img, "filename").as_deref(), Some("invalid filename or wrong extension"), "{img:?}");
    let snippet =
        call(&api, Method::POST, "/nodes/pve1/storage/local/download-url", download(url, "snippets", "a.yaml")).await.unwrap_err();
    assert!(param_error(&snippet, "content").is_some(), "snippets are not downloadable: {snippet:?}");
}

#[tokio::test]
async fn a_failed_fetch_fails_the_task_like_wget() {
    let base = serve_files(vec![]);
    let emu = emulator(|c| c.bare = true).await;
    let api = client(&emu);
    let upid =
        task(&api, "/nodes/pve1/storage/local/download-url", download(&format!("{base}/gone.iso"), "iso", "gone.iso")).await.unwrap();
    let (status, log) = finish(&api, &upid).await;
    assert!(status.starts_with("download failed: command 'wget ") && status.ends_with("failed: exit code 8"), "{status}");
    assert!(log.iter().any(|l| l.contains("404")), "{log:#?}");
    assert!(content(&api, "pve1", "local", "iso").await.is_empty());
}

#[tokio::test]
async fn import_from_makes_a_disk_of_the_images_virtual_size() {
    let base = serve_files(vec![("noble.qcow2", qcow2_image(2 * GIB, 64 << 10))]);
    let emu = emulator(|c| c.bare = true).await;
    let api = client(&emu);
    ok(
        &api,
        &task(&api, "/nodes/pve1/storage/local/download-url", download(&format!("{base}/noble.qcow2"), "import", "noble.qcow2"))
            .await
            .unwrap(),
    )
    .await;
    let create = Params::new()
        .set("vmid", 9000)
        .set("name", "noble")
        .set("scsihw", "virtio-scsi-pci")
        .set("scsi0", "local-lvm:0,import-from=local:import/noble.qcow2,discard=on")
        .set("ide2", "local-lvm:cloudinit")
        .set("serial0", "socket")
        .set("vga", "serial0")
        .set("bios", "ovmf")
        .set("efidisk0", "local-lvm:1,efitype=4m,pre-enrolled-keys=1")
        .set("tpmstate0", "local-lvm:1,version=v2.0");
    let log = ok(&api, &task(&api, "/nodes/pve1/qemu", create).await.unwrap()).await;
    assert!(log.iter().any(|l| l == "create full clone of drive scsi0 (local:import/noble.qcow2)"), "{log:#?}");
    assert!(log.iter().any(|l| l == "transferred 2.0 GiB of 2.0 GiB (100.00%)"), "the image's disk is copied: {log:#?}");
    let config = api.guest_config(QEMU, "pve1", 9000).await.unwrap();
    assert_eq!(config.get_str("scsi0").unwrap(), "local-lvm:vm-9000-disk-0,discard=on,size=2G");
    // OVMF_VARS_4M (528 KiB) on LVM's 4 MiB extents; TPM state is 4 MiB (qemu-server).
    assert_eq!(config.get_str("efidisk0").unwrap(), "local-lvm:vm-9000-disk-1,efitype=4m,pre-enrolled-keys=1,ms-cert=2023k,size=4M");
    assert_eq!(config.get_str("tpmstate0").unwrap(), "local-lvm:vm-9000-disk-2,version=v2.0,size=4M");
    let images = content(&api, "pve1", "local-lvm", "images").await;
    let disk = images.iter().find(|v| v["volid"] == "local-lvm:vm-9000-disk-0").expect("the imported disk");
    assert_eq!(disk["size"], 2 * GIB);
    // The image stays for the next template.
    assert_eq!(content(&api, "pve1", "local", "import").await.len(), 1);
    ok(&api, &task(&api, "/nodes/pve1/qemu/9000/template", Params::new()).await.unwrap()).await;
    // On config update too.
    let update = Params::new().set("scsi1", "local-zfs:0,import-from=local:import/noble.qcow2");
    api.update_config(QEMU, "pve1", 9000, &update).await.unwrap_or_else(|e| panic!("{e}"));
    let config = api.guest_config(QEMU, "pve1", 9000).await.unwrap();
    assert!(config.get_str("scsi1").unwrap().ends_with(",size=2G"), "{:?}", config.get_str("scsi1"));
}

#[tokio::test]
async fn import_from_refuses_what_pve_refuses() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    let create = |vmid: u64, disk: &str| Params::new().set("vmid", vmid).set("scsi0", disk);
    let sized =
        call(&api, Method::POST, "/nodes/pve1/qemu", create(300, "local-lvm:8,import-from=local-lvm:base-9000-disk-0")).await.unwrap_err();
    assert_eq!(
        param_error(&sized, "scsi0").as_deref(),
        Some("'import-from' requires special syntax - use <storage ID>:0,import-from=<source>")
    );
    let tarball = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";
    let vztmpl =
        call(&api, Method::POST, "/nodes/pve1/qemu", create(301, &format!("local-lvm:0,import-from={tarball}"))).await.unwrap_err();
    assert_eq!(
        param_error(&vztmpl, "scsi0").as_deref(),
        Some(format!("{tarball} has wrong type 'vztmpl' - needs to be 'images' or 'import'").as_str())
    );
    let missing =
        call(&api, Method::POST, "/nodes/pve1/qemu", create(302, "local-lvm:0,import-from=local:import/none.qcow2")).await.unwrap_err();
    assert_eq!(missing.message(), "cannot import from 'local:import/none.qcow2' - could not get size of local:import/none.qcow2");
    assert!(api.guest_config(QEMU, "pve1", 302).await.is_err(), "nothing was created");
    let efi = call(
        &api,
        Method::POST,
        "/nodes/pve1/qemu",
        Params::new().set("vmid", 304).set("efidisk0", "local-lvm:0,import-from=local-lvm:base-9000-disk-0"),
    )
    .await
    .unwrap_err();
    assert_eq!(param_error(&efi, "efidisk0").as_deref(), Some("need to specify 'efitype' when using 'import-from'"));
    // From another VM's disk (content `images`): the template's 3.5 GiB.
    ok(&api, &task(&api, "/nodes/pve1/qemu", create(303, "local-zfs:0,import-from=local-lvm:base-9000-disk-0")).await.unwrap()).await;
    assert_eq!(api.guest_config(QEMU, "pve1", 303).await.unwrap().get_str("scsi0").unwrap(), "local-zfs:vm-303-disk-0,size=3584M");
}

#[tokio::test]
async fn bare_mode_has_no_template_and_no_container_template() {
    let emu = emulator(|c| c.bare = true).await;
    let api = client(&emu);
    let resources = get(&api, "/cluster/resources?type=vm").await;
    assert_eq!(resources.as_array().map(Vec::len), Some(0), "{resources}");
    assert!(api.guest_config(QEMU, "pve1", 9000).await.is_err());
    for node in ["pve1", "pve2", "pve3"] {
        assert!(content(&api, node, "local", "vztmpl").await.is_empty());
        assert!(content(&api, node, "local-lvm", "images").await.is_empty());
    }
    let storages = get(&api, "/nodes/pve1/storage").await;
    assert_eq!(storages.as_array().map(Vec::len), Some(4), "storages stay as a fresh install has them: {storages}");
    // The seeded default is unchanged.
    let seeded = emulator(|_| {}).await;
    assert!(client(&seeded).guest_config(QEMU, "pve1", 9000).await.is_ok());
}

#[tokio::test]
async fn a_download_larger_than_the_free_space_fails_and_keeps_nothing() {
    let base = serve_files(vec![("big.iso", vec![0u8; 64 << 10])]);
    let emu = emulator(|c| c.bare = true).await;
    if let Some(local) = emu.emulator.cluster().storages.get_mut("local") {
        local.total = 32 << 10;
    }
    let api = client(&emu);
    let upid = task(&api, "/nodes/pve1/storage/local/download-url", download(&format!("{base}/big.iso"), "iso", "big.iso")).await.unwrap();
    let (status, _) = finish(&api, &upid).await;
    assert_eq!(status, "download failed: 64.0 KiB is larger than the 32.0 KiB free on storage 'local'");
    assert!(content(&api, "pve1", "local", "iso").await.is_empty());
}

#[tokio::test]
async fn https_is_verified_unless_verify_certificates_is_off() {
    // Another emulator serves HTTPS with its self-signed certificate: no CA the system trusts.
    let tls = emulator(|c| c.plain_http = false).await;
    assert!(tls.url.starts_with("https://"));
    let emu = emulator(|c| c.bare = true).await;
    let api = client(&emu);
    let url = format!("{}/ubuntu.iso", tls.url);
    let verified = task(&api, "/nodes/pve1/storage/local/download-url", download(&url, "iso", "ubuntu.iso")).await.unwrap();
    let (status, log) = finish(&api, &verified).await;
    assert!(status.ends_with("failed: exit code 5"), "a certificate no CA vouches for fails as wget's TLS error: {status} {log:#?}");
    let unverified =
        task(&api, "/nodes/pve1/storage/local/download-url", download(&url, "iso", "ubuntu.iso").set("verify-certificates", 0))
            .await
            .unwrap();
    let (status, log) = finish(&api, &unverified).await;
    // Past TLS: the server answers (with an HTTP error, as it serves no such file).
    assert!(status.ends_with("failed: exit code 8") && status.contains("--no-check-certificate"), "{status}");
    assert!(log.iter().any(|l| l.starts_with("HTTP request sent, awaiting response...")), "{log:#?}");
}
