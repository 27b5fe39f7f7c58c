//! Backups: backup jobs (`/cluster/backup`) and vzdump runs.

use pve_api::calendar::CalendarEvent;
use serde_json::{Value, json};

use super::{ApiRequest, ApiResult};
use crate::error::PveError;
use crate::model::Config;
use crate::vzdump::Vzdump;

/// Options stored with a job: everything the request carried except routing and write-time flags.
fn job_options(r: &ApiRequest) -> Config {
    r.params.iter().filter(|(k, _)| !matches!(k.as_str(), "id" | "delete" | "digest")).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn job_row(id: &str, options: &Config) -> Value {
    let properties = crate::schema::SCHEMA
        .methods()
        .find(|m| m.key() == "POST /cluster/backup")
        .and_then(|m| m.parameters["properties"].as_object().cloned());
    let mut row = json!({ "id": id, "type": "vzdump", "enabled": 1 });
    for (k, v) in options {
        row[k] = crate::schema::typed_value(properties.as_ref(), k, v);
    }
    let enabled = options.get("enabled").is_none_or(|v| v == "1");
    if enabled
        && let Some(next) =
            options.get("schedule").and_then(|s| s.parse::<CalendarEvent>().ok()).and_then(|e| e.next_after(chrono::Utc::now()))
    {
        row["next-run"] = json!(next.timestamp());
    }
    row
}

pub async fn jobs(r: ApiRequest) -> ApiResult {
    let jobs = r.emulator.cluster().backup_jobs.clone();
    Ok(Value::Array(jobs.iter().map(|(id, o)| job_row(id, o)).collect()))
}

pub async fn job(r: ApiRequest) -> ApiResult {
    let id = r.required("id")?;
    let job = r.emulator.cluster().backup_job(id)?.clone();
    Ok(job_row(id, &job))
}

pub async fn create_job(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().create_backup_job(r.param("id"), job_options(&r))?;
    Ok(Value::Null)
}

pub async fn update_job(r: ApiRequest) -> ApiResult {
    let id = r.required("id")?;
    r.emulator.cluster().update_backup_job(id, &r.list("delete"), job_options(&r))?;
    Ok(Value::Null)
}

pub async fn delete_job(r: ApiRequest) -> ApiResult {
    let id = r.required("id")?;
    r.emulator.cluster().delete_backup_job(id)?;
    Ok(Value::Null)
}

/// `vzdump`: backs up the selected guests on this node into archives on the target storage.
pub async fn vzdump(r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    // The scheduler runs a job as vzdump with its job-id: the job's options fill in the rest.
    let job = match r.param("job-id") {
        Some(id) => Some(r.emulator.cluster().backup_job(id)?.clone()),
        None => None,
    };
    let run = Vzdump::from_params(&r.params, job.as_ref());
    check_vzdump(&r, &run)?;
    let upid = r.emulator.vzdump(&node, run, &r.user)?;
    Ok(json!(upid.to_string()))
}

/// pve-manager `PVE/API2/VZDump.pm`: `VM.Backup` on each guest named, `Datastore.AllocateSpace`
/// on the backup storage, `Datastore.Allocate` there to prune, `Sys.Modify` on `/` for
/// bandwidth and I/O settings. (The options PVE reserves to root@pam, such as `job-id`, are not
/// refused.)
fn check_vzdump(r: &ApiRequest, run: &Vzdump) -> Result<(), PveError> {
    for vmid in r.list("vmid") {
        r.check(&format!("/vms/{vmid}"), &["VM.Backup"], false)?;
    }
    let storage = format!("/storage/{}", run.storage);
    r.check(&storage, &["Datastore.AllocateSpace"], false)?;
    if r.param("prune-backups").is_some() {
        r.check(&storage, &["Datastore.Allocate"], false)?;
    }
    if ["bwlimit", "performance", "ionice"].iter().any(|k| r.param(k).is_some()) {
        r.check("/", &["Sys.Modify"], false)?;
    }
    Ok(())
}
