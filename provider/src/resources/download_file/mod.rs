//! `resource "pve_download_file"`: a file PVE fetches from a URL into a storage of one node
//! (`POST /nodes/{node}/storage/{storage}/download-url`): an ISO image, a container template
//! (`vztmpl`) or a disk image to import into VMs (`import`, e.g. a cloud image).
//!
//! Plan rules: every input but `verify_certificates` replaces the file when changed (a new URL or
//! checksum is a new file; PVE never overwrites one). `file_name` defaults to the URL's last path
//! segment. Refused at plan time, on the attribute at fault: a checksum without its algorithm (or
//! the reverse), a checksum that is not hex of the algorithm's length, a file name PVE would
//! change (it normalizes names) or whose extension does not fit the content (`import` takes
//! `.qcow2`, `.raw`, `.vmdk`, `.ova`, so Ubuntu's `.img` cloud images need
//! `file_name = "….qcow2"`), an unknown node, a storage the node lacks or that does not hold the
//! content type, and, on create without a checksum, a file of that name already there (PVE would
//! refuse to overwrite it: import it instead). A failed download (a checksum mismatch, an HTTP
//! error) fails the apply with PVE's message and leaves nothing behind: PVE keeps no partial file.
//! Import with `terraform import pve_download_file.NAME NODE/VOLUME_ID`, e.g.
//! `pve1/local:import/noble.qcow2`; the URL is read back from the node's download task log when
//! PVE still has it. PVE keeps no checksum, so a checksum configured for an imported file is
//! recorded by an in-place update, not a replacement.

use std::time::Duration;

use futures::future::BoxFuture;
use pve_api::storage_files::{CHECKSUM_ALGORITHMS, DOWNLOAD_CONTENT, checksum_problem, content_file_format, normalize_content_filename};
use pve_api::{ApiError, Params, Upid};

use super::guest::check_node;
use super::guest::checks::storage_problem;
use crate::plugin::diag::{Diagnostic, Diagnostics, Path, api_error, api_failure, attr};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::value::{Type, Value};
use crate::provider::{Context, TaskWaitError};

pub struct PveDownloadFile;

const ID: &str = "id";
const NODE: &str = "node";
const STORAGE: &str = "storage";
const CONTENT: &str = "content";
const URL: &str = "url";
const FILE_NAME: &str = "file_name";
const CHECKSUM: &str = "checksum";
const CHECKSUM_ALGORITHM: &str = "checksum_algorithm";
const VERIFY_CERTIFICATES: &str = "verify_certificates";
const VOLUME_ID: &str = "volume_id";
const SIZE: &str = "size";

/// How long a download may take before the apply gives up waiting (the task goes on in PVE).
const DOWNLOAD_LIMIT: Duration = Duration::from_secs(3600);

/// How often a download that failed for a passing reason is sent.
const DOWNLOAD_ATTEMPTS: u32 = 3;

/// The algorithm names, for the schema's validator.
const ALGORITHMS: [&str; 6] = {
    let mut names = [""; 6];
    let mut i = 0;
    while i < CHECKSUM_ALGORITHMS.len() {
        names[i] = CHECKSUM_ALGORITHMS[i].0;
        i += 1;
    }
    names
};

/// The file name a URL gives: its last path segment, without query or fragment.
fn name_from_url(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let after_host = path.split_once("://").map(|(_, rest)| rest).unwrap_or(path);
    let (_, segments) = after_host.split_once('/')?;
    let last = segments.rsplit('/').next().filter(|s| !s.is_empty())?;
    Some(pve_api::percent_decode(last))
}

/// The file name the config asks for (`file_name`, or the URL's), and the attribute it came from.
fn wanted_name(config: &Value) -> Option<(String, &'static str)> {
    match config.get(FILE_NAME) {
        Value::String(name) => Some((name.clone(), FILE_NAME)),
        Value::Null => config.get(URL).as_str().and_then(name_from_url).map(|n| (n, URL)),
        _ => None,
    }
}

fn volume_id(storage: &str, content: &str, file_name: &str) -> String {
    format!("{storage}:{content}/{file_name}")
}

/// The state of a file PVE lists, with what PVE does not keep (URL, checksum) from `known`.
fn state_of(node: &str, volume: &pve_api::StorageVolume, known: &Value) -> Value {
    let (storage, path) = volume.volid.split_once(':').unwrap_or(("", ""));
    let (content, file_name) = path.split_once('/').unwrap_or(("", path));
    Value::object([
        (ID, format!("{node}/{}", volume.volid).into()),
        (NODE, node.into()),
        (STORAGE, storage.into()),
        (CONTENT, volume.content.clone().unwrap_or_else(|| content.to_string()).into()),
        (URL, known.get(URL).clone()),
        (FILE_NAME, file_name.into()),
        (CHECKSUM, known.get(CHECKSUM).clone()),
        (CHECKSUM_ALGORITHM, known.get(CHECKSUM_ALGORITHM).clone()),
        (VERIFY_CERTIFICATES, known.get(VERIFY_CERTIFICATES).as_bool().unwrap_or(true).into()),
        (VOLUME_ID, volume.volid.clone().into()),
        (SIZE, volume.size.into()),
    ])
}

/// The listed volume `volid` on `storage` of `node`; None when it is not there.
async fn find(ctx: &Context, node: &str, storage: &str, content: &str, volid: &str) -> Result<Option<pve_api::StorageVolume>, ApiError> {
    let volumes = ctx.client.storage_content(node, storage, Some(content), None).await?;
    Ok(volumes.into_iter().find(|v| v.volid == volid))
}

async fn fetch(ctx: &Context, known: &Value) -> Result<Option<Value>, Diagnostics> {
    let text = |name: &str| known.get(name).as_str().unwrap_or_default().to_string();
    let (node, storage, content, volid) = (text(NODE), text(STORAGE), text(CONTENT), text(VOLUME_ID));
    match find(ctx, &node, &storage, &content, &volid).await {
        Ok(found) => Ok(found.map(|volume| state_of(&node, &volume, known))),
        // The storage itself is gone: so is the file.
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(api_failure("Listing the storage's content", e)),
    }
}

/// The URL a file was downloaded from, read from the newest successful download task for it on
/// the node (`downloading URL to PATH`, the first line pve-common logs); None when PVE no longer
/// has that task.
async fn url_from_task_log(ctx: &Context, node: &str, file_name: &str) -> Option<String> {
    let params = Params::new().set("typefilter", "download").set("limit", 1000);
    let tasks = ctx.client.node_tasks(node, &params).await.ok()?;
    let task = tasks.iter().find(|t| t.id.as_deref() == Some(file_name) && t.status.as_deref() == Some("OK"))?;
    let upid: Upid = task.upid.parse().ok()?;
    let log = ctx.client.task_log_tail(&upid, 1000).await.ok()?;
    log.iter().find_map(|line| line.strip_prefix("downloading ")?.split_once(" to ").map(|(url, _)| url.to_string()))
}

/// A running download task for `file_name` on `node` (after a lost answer to the request).
async fn running_download(ctx: &Context, node: &str, file_name: &str) -> Option<Upid> {
    let params = Params::new().set("typefilter", "download").set("source", "active");
    let tasks = ctx.client.node_tasks(node, &params).await.ok()?;
    tasks.iter().find(|t| t.id.as_deref() == Some(file_name)).and_then(|t| t.upid.parse().ok())
}

fn request(planned: &Value) -> Params {
    let mut params = Params::new()
        .set("url", planned.get(URL).as_str().unwrap_or_default())
        .set("content", planned.get(CONTENT).as_str().unwrap_or_default())
        .set("filename", planned.get(FILE_NAME).as_str().unwrap_or_default());
    if let (Some(checksum), Some(algorithm)) = (planned.get(CHECKSUM).as_str(), planned.get(CHECKSUM_ALGORITHM).as_str()) {
        params = params.set("checksum", checksum).set("checksum-algorithm", algorithm);
    }
    if planned.get(VERIFY_CERTIFICATES).as_bool() == Some(false) {
        params = params.set("verify-certificates", 0);
    }
    params
}

/// A failed download task, on the attribute it points at: a checksum mismatch on `checksum`,
/// anything else (HTTP errors, an unreachable host, a file already there) on `url`.
fn download_failed(message: String) -> Diagnostic {
    let at = if message.contains("checksum mismatch") { CHECKSUM } else { URL };
    Diagnostic::error("Download failed", format!("PVE's download task failed: {message}")).at(attr(at))
}

impl Resource<Context> for PveDownloadFile {
    fn type_name(&self) -> &'static str {
        "pve_download_file"
    }

    fn schema(&self) -> Block {
        Block::new(
            "A file PVE downloads from a URL into a storage of one node: an ISO image, a container template (`vztmpl`) or a disk \
             image to import into VMs (`import`). Import with `terraform import pve_download_file.NAME NODE/VOLUME_ID`.",
            vec![
                Attribute::computed(ID, Type::String, "`NODE/VOLUME_ID`, e.g. `pve1/local:import/noble.qcow2`.").use_state_for_unknown(),
                Attribute::required(NODE, Type::String, "Node whose storage gets the file (local storage is per node).")
                    .validate(Validator::regex(r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", "is not a valid node name"))
                    .requires_replace(),
                Attribute::required(STORAGE, Type::String, "File-based storage holding the content type, e.g. `local`.")
                    .validate(Validator::storage_id())
                    .requires_replace(),
                Attribute::required(
                    CONTENT,
                    Type::String,
                    "`iso`, `vztmpl` (container templates) or `import` (disk images for `import_from`).",
                )
                .validate(Validator::OneOf(&DOWNLOAD_CONTENT))
                .requires_replace(),
                Attribute::required(URL, Type::String, "HTTP or HTTPS URL PVE fetches the file from.")
                    .validate(Validator::regex(r"https?://[^\s/]+/.*", "is not an http:// or https:// URL with a path"))
                    .requires_replace(),
                Attribute::optional_computed(
                    FILE_NAME,
                    Type::String,
                    "Name of the file on the storage. Default: the URL's last path segment. `import` takes `.qcow2`, `.raw`, `.vmdk` \
                     and `.ova`; `iso` `.iso` and `.img`; `vztmpl` `.tar`, `.tar.gz`, `.tar.xz`, `.tar.zst`, `.tar.bz2`.",
                )
                .requires_replace(),
                Attribute::optional(CHECKSUM, Type::String, "Expected checksum (hex) of the file; PVE keeps no file that does not match.")
                    .requires_replace(),
                Attribute::optional(
                    CHECKSUM_ALGORITHM,
                    Type::String,
                    "Algorithm of `checksum`: md5, sha1, sha224, sha256, sha384 or sha512.",
                )
                .validate(Validator::OneOf(&ALGORITHMS))
                .requires_replace(),
                Attribute::optional_computed(VERIFY_CERTIFICATES, Type::Bool, "Verify the server's TLS certificate. Default true.")
                    .default(true),
                Attribute::computed(
                    VOLUME_ID,
                    Type::String,
                    "Volume ID of the file, e.g. `local:import/noble.qcow2` (for a disk's `import_from`).",
                )
                .use_state_for_unknown(),
                Attribute::computed(SIZE, Type::Number, "Size of the file in bytes.").use_state_for_unknown(),
            ],
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        match (config.get(CHECKSUM), config.get(CHECKSUM_ALGORITHM)) {
            (Value::String(_), Value::Null) => diags.push(
                Diagnostic::error("Checksum without algorithm", "set checksum_algorithm (e.g. \"sha256\") with checksum")
                    .at(attr(CHECKSUM_ALGORITHM)),
            ),
            (Value::Null, Value::String(_)) => {
                diags.push(Diagnostic::error("Algorithm without checksum", "checksum_algorithm needs a checksum").at(attr(CHECKSUM)))
            }
            (Value::String(checksum), Value::String(algorithm)) => {
                if let Some(problem) = checksum_problem(algorithm, checksum) {
                    diags.push(Diagnostic::error("Malformed checksum", problem).at(attr(CHECKSUM)));
                }
            }
            _ => {}
        }
        let (Some((name, from)), Some(content)) = (wanted_name(config), config.get(CONTENT).as_str()) else {
            if config.get(FILE_NAME).is_null() && config.get(URL).as_str().is_some() {
                diags.push(Diagnostic::error("No file name", "the URL has no file name at its end: set file_name").at(attr(FILE_NAME)));
            }
            return diags;
        };
        let normalized = normalize_content_filename(&name);
        if normalized != name {
            let detail = format!(
                "PVE stores \"{name}\" as \"{normalized}\" (only letters, digits, _ . - are kept): set file_name = \"{normalized}\""
            );
            diags.push(Diagnostic::error("File name PVE would change", detail).at(attr(from)));
        } else if let Err(problem) = content_file_format(content, &name) {
            let hint = match content {
                "import" => {
                    "; an import image ends in .qcow2, .raw, .vmdk or .ova (a qcow2 cloud image named .img: set file_name = \"NAME.qcow2\")"
                }
                "iso" => "; an ISO image ends in .iso or .img",
                _ => "; a container template ends in .tar, .tar.gz, .tar.xz, .tar.zst or .tar.bz2",
            };
            diags.push(Diagnostic::error("File name does not fit the content", format!("\"{name}\": {problem}{hint}")).at(attr(from)));
        }
        diags
    }

    fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a Context>,
        prior: &'a Value,
        config: &'a Value,
        planned: &'a mut Value,
        replace: &'a mut Vec<Path>,
    ) -> BoxFuture<'a, Diagnostics> {
        Box::pin(async move {
            let mut diags = Diagnostics::default();
            if planned.is_null() {
                return diags;
            }
            // The default name follows the URL, so a new URL with another name plans that name.
            if config.get(FILE_NAME).is_null()
                && let Some((name, _)) = wanted_name(config)
                && let Value::Map(p) = planned
            {
                if prior.get(FILE_NAME).as_str().is_some_and(|before| before != name) {
                    replace.push(attr(FILE_NAME));
                }
                p.insert(FILE_NAME.into(), name.into());
            }
            // PVE keeps no checksum: an imported file has none in state, and a configured one is
            // recorded in place rather than replacing a file that may well match it.
            if !prior.is_null() && prior.get(CHECKSUM).is_null() {
                replace.retain(|path| *path != attr(CHECKSUM) && *path != attr(CHECKSUM_ALGORITHM));
            }
            let creating = prior.is_null() || !replace.is_empty();
            if creating && let Value::Map(p) = planned {
                for computed in [ID, VOLUME_ID, SIZE] {
                    p.insert(computed.into(), Value::Unknown);
                }
            }
            diags.extend(check_node(ctx, planned, prior).await);
            let (Some(ctx), Some(node), Some(storage), Some(content)) =
                (ctx, planned.get(NODE).as_str(), planned.get(STORAGE).as_str(), planned.get(CONTENT).as_str())
            else {
                return diags;
            };
            if !creating || diags.has_errors() {
                return diags;
            }
            match ctx.node_storages(node).await {
                Ok(storages) => {
                    if let Some((summary, detail)) = storage_problem(&storages, node, storage, content) {
                        diags.push(Diagnostic::error(summary, detail).at(attr(STORAGE)));
                        return diags;
                    }
                }
                Err(e) => {
                    diags.push(api_error(format!("Listing the storages of node {node}"), &e).at(attr(STORAGE)));
                    return diags;
                }
            }
            // PVE refuses to overwrite a file, and with a checksum keeps one that matches without
            // downloading: Terraform would then own (and on destroy delete) a file it never made.
            // A file already there is for `terraform import`.
            if let Some(name) = planned.get(FILE_NAME).as_str() {
                let volid = volume_id(storage, content, name);
                match find(ctx, node, storage, content, &volid).await {
                    Ok(Some(_)) if prior.get(VOLUME_ID).as_str() != Some(volid.as_str()) => diags.push(
                        Diagnostic::error(
                            "File already there",
                            format!(
                                "{volid} already exists on node {node} and PVE does not overwrite files: import it \
                                 (terraform import ADDRESS {node}/{volid}), delete it, or choose another file_name"
                            ),
                        )
                        .at(attr(FILE_NAME)),
                    ),
                    Ok(_) => {}
                    Err(e) => diags.push(api_error(format!("Listing {storage} on node {node}"), &e).at(attr(STORAGE))),
                }
            }
            diags
        })
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let text = |name: &str| planned.get(name).as_str().unwrap_or_default().to_string();
            let (node, storage, content, file_name) = (text(NODE), text(STORAGE), text(CONTENT), text(FILE_NAME));
            let volid = volume_id(&storage, &content, &file_name);
            let mut known = planned.clone();
            if let Value::Map(k) = &mut known {
                k.insert(VOLUME_ID.into(), volid.clone().into());
            }
            // What is certain once PVE may have started the download: the file it makes, so a
            // destroy finds it even when this apply does not see the task end.
            let partial = || {
                let mut state = known.clone();
                if let Value::Map(s) = &mut state {
                    s.insert(ID.into(), format!("{node}/{volid}").into());
                    s.insert(SIZE.into(), Value::Null);
                }
                state
            };
            // A download that failed for a passing reason (a lock PVE did not get in time) left
            // no file: it is sent again, a few times.
            let mut attempts = 0;
            loop {
                attempts += 1;
                let upid = match ctx.client.download_url(&node, &storage, &request(&planned)).await {
                    Ok(upid) => Some(upid),
                    // The answer was lost: the task may run (or have run) all the same.
                    Err(e) if e.is_ambiguous() => match running_download(ctx, &node, &file_name).await {
                        Some(upid) => Some(upid),
                        None if matches!(find(ctx, &node, &storage, &content, &volid).await, Ok(Some(_))) => None,
                        None => return Err(api_failure("Starting the download", e).into()),
                    },
                    Err(e) => return Err(api_failure("Starting the download", e).into()),
                };
                let Some(upid) = upid else { break };
                match ctx.wait_task(&upid, DOWNLOAD_LIMIT).await {
                    Ok(_) => break,
                    Err(TaskWaitError::Api(error)) if error.is_transient_task_failure() && attempts < DOWNLOAD_ATTEMPTS => {
                        tracing::info!(%upid, attempts, "the download failed for a passing reason: sent again");
                    }
                    Err(TaskWaitError::Api(ApiError::TaskFailed { exitstatus, .. })) => {
                        return Err(Diagnostics::from(download_failed(exitstatus)).into());
                    }
                    Err(e) => {
                        let diagnostics = Diagnostics::from(Diagnostic::error("Waiting for the download", e.to_string()));
                        return Err(CreateError { partial: Some(partial()), diagnostics });
                    }
                }
            }
            match fetch(ctx, &known).await {
                Ok(Some(state)) => Ok(state),
                Ok(None) => {
                    Err(Diagnostic::error("Downloaded file missing", format!("the download ended but {volid} is not listed on {node}"))
                        .into())
                }
                Err(diagnostics) => Err(CreateError { partial: Some(partial()), diagnostics }),
            }
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move { fetch(ctx, &state).await })
    }

    fn update<'a>(&'a self, ctx: &'a Context, _prior: Value, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        // Only verify_certificates changes in place, and it matters for a download only.
        Box::pin(async move {
            let volid = planned.get(VOLUME_ID).as_str().unwrap_or_default().to_string();
            fetch(ctx, &planned).await?.ok_or_else(|| Diagnostic::error("File vanished", format!("{volid} is gone; plan again")).into())
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let text = |name: &str| prior.get(name).as_str().unwrap_or_default().to_string();
            let (node, storage, volid) = (text(NODE), text(STORAGE), text(VOLUME_ID));
            match ctx.client.delete_volume(&node, &storage, &volid).await {
                Ok(Some(upid)) => {
                    let upid: Upid = upid.parse().map_err(|e| Diagnostic::error("Deleting the file", format!("{e}")))?;
                    ctx.wait_task(&upid, DOWNLOAD_LIMIT).await.map(|_| ()).map_err(|e| Diagnostic::error("Deleting the file", e).into())
                }
                Ok(None) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(api_failure("Deleting the file", e)),
            }
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let invalid = || {
                Diagnostics::from(Diagnostic::error(
                    "Invalid import ID",
                    format!("'{id}' is not NODE/VOLUME_ID, e.g. pve1/local:import/noble.qcow2"),
                ))
            };
            let (node, volid) = id.split_once('/').ok_or_else(invalid)?;
            let (storage, path) = volid.split_once(':').ok_or_else(invalid)?;
            let (content, file_name) = path.split_once('/').filter(|(c, _)| DOWNLOAD_CONTENT.contains(c)).ok_or_else(invalid)?;
            let url = url_from_task_log(ctx, node, file_name).await;
            let known = Value::object([
                (NODE, node.into()),
                (STORAGE, storage.into()),
                (CONTENT, content.into()),
                (VOLUME_ID, volid.into()),
                (URL, url.into()),
                (VERIFY_CERTIFICATES, true.into()),
            ]);
            fetch(ctx, &known).await?.ok_or_else(|| Diagnostic::error("File not found", format!("no {volid} on node {node}")).into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Value {
        Value::object(pairs.iter().map(|(k, v)| (*k, Value::from(*v))))
    }

    fn errors_at(diags: &Diagnostics) -> Vec<String> {
        diags.0.iter().map(|d| format!("{}: {}", d.summary, d.path.as_ref().map(|p| format!("{p:?}")).unwrap_or_default())).collect()
    }

    #[test]
    fn the_file_name_comes_from_the_url() {
        assert_eq!(
            name_from_url("https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img").as_deref(),
            Some("noble-server-cloudimg-amd64.img")
        );
        assert_eq!(name_from_url("http://127.0.0.1:8080/a%20b.iso?x=1#y").as_deref(), Some("a b.iso"));
        assert_eq!(name_from_url("https://example.com/"), None);
    }

    #[test]
    fn checksums_come_in_pairs_and_in_shape() {
        let r = PveDownloadFile;
        let base = [(CONTENT, "iso"), (URL, "https://example.com/x.iso")];
        let only_sum = config(&[base[0], base[1], (CHECKSUM, "00")]);
        assert!(errors_at(&r.validate(&only_sum))[0].starts_with("Checksum without algorithm"));
        let short = config(&[base[0], base[1], (CHECKSUM, "abc"), (CHECKSUM_ALGORITHM, "sha256")]);
        let diags = r.validate(&short);
        assert_eq!(diags.0.first().map(|d| d.detail.clone()).as_deref(), Some("a sha256 checksum is 64 hex digits; got 3 characters"));
        let good = "0".repeat(64);
        assert!(r.validate(&config(&[base[0], base[1], (CHECKSUM, &good), (CHECKSUM_ALGORITHM, "sha256")])).0.is_empty());
    }

    #[test]
    fn names_are_held_to_pves_rules() {
        let r = PveDownloadFile;
        let img = config(&[(CONTENT, "import"), (URL, "https://example.com/noble-server-cloudimg-amd64.img")]);
        let diags = r.validate(&img);
        let first = diags.0.first().expect("an .img is no import name");
        assert_eq!(first.summary, "File name does not fit the content");
        assert_eq!(first.path, Some(attr(URL)), "reported where the name came from");
        let renamed = config(&[(CONTENT, "import"), (URL, "https://example.com/noble.img"), (FILE_NAME, "noble.qcow2")]);
        assert!(r.validate(&renamed).0.is_empty());
        let spaced = config(&[(CONTENT, "iso"), (URL, "https://example.com/x.iso"), (FILE_NAME, "my disk.iso")]);
        assert!(r.validate(&spaced).0[0].detail.contains("\"my_disk.iso\""));
    }
}
