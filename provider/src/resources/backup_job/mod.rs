//! `resource "pve_backup_job"`: a scheduled vzdump job (`/cluster/backup`).
//!
//! Plan rules: `id` replaces the job when changed; everything else updates in place. The schedule
//! is parsed at plan time with PVE's calendar-event grammar and `next_run` shows when it fires.
//! Guest selection follows PVE's rules, checked at plan time: exactly one of `vmids`, `all` or
//! `pool`, and `exclude` only with `all`.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use pve_api::calendar::CalendarEvent;
use pve_api::{Params, PropertyString};

use crate::plugin::diag::{Diagnostic, Diagnostics, Step, api_error, api_failure, attr};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::{Attribute, Block, Nesting, Validator};
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

pub struct PveBackupJob;

fn check_schedule(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some(text) => text
            .parse::<CalendarEvent>()
            .map(|_| ())
            .map_err(|e| format!("{e} (examples: daily, sun 03:00, mon..fri 01:00, *-*-* 05:00, */15)")),
        None => Ok(()),
    }
}

const RETENTION: [(&str, &str); 6] = [
    ("keep_last", "keep-last"),
    ("keep_hourly", "keep-hourly"),
    ("keep_daily", "keep-daily"),
    ("keep_weekly", "keep-weekly"),
    ("keep_monthly", "keep-monthly"),
    ("keep_yearly", "keep-yearly"),
];

fn retention_block() -> Block {
    let mut attributes: Vec<Attribute> = RETENTION
        .iter()
        .map(|(name, _)| {
            Attribute::optional(name, Type::Number, &format!("Backups to keep ({}).", name.trim_start_matches("keep_")))
                .validate(Validator::Range(0, 100_000))
        })
        .collect();
    attributes.push(Attribute::optional("keep_all", Type::Bool, "Keep every backup (no pruning)."));
    Block::new("Retention (prune-backups): how many backups of each guest to keep per period.", attributes)
}

/// Simple options: attribute, PVE key.
const OPTIONS: [(&str, &str); 6] = [
    ("storage", "storage"),
    ("mode", "mode"),
    ("compress", "compress"),
    ("node", "node"),
    ("comment", "comment"),
    ("notes_template", "notes-template"),
];

fn vmid_list(value: &Value) -> Option<String> {
    let ids: Vec<String> = value.as_list()?.iter().filter_map(Value::as_i64).map(|v| v.to_string()).collect();
    (!ids.is_empty()).then(|| ids.join(","))
}

fn params_for(planned: &Value, prior: &Value) -> (Params, Vec<String>) {
    let mut params = Params::new();
    let mut deletes = Vec::new();
    let creating = prior.is_null();
    let mut put = |key: &str, value: Option<String>, before: &Value, after: &Value| {
        if !creating && before == after {
            return;
        }
        match value {
            Some(v) => params.insert(key, v),
            None if !creating && !before.is_null() => deletes.push(key.to_string()),
            None => {}
        }
    };
    for (attribute, key) in OPTIONS {
        put(key, planned.get(attribute).as_str().map(str::to_string), prior.get(attribute), planned.get(attribute));
    }
    put("schedule", planned.get("schedule").as_str().map(str::to_string), prior.get("schedule"), planned.get("schedule"));
    put(
        "enabled",
        planned.get("enabled").as_bool().map(|b| if b { "1" } else { "0" }.to_string()),
        prior.get("enabled"),
        planned.get("enabled"),
    );
    put("all", (planned.get("all").as_bool() == Some(true)).then(|| "1".to_string()), prior.get("all"), planned.get("all"));
    put("vmid", vmid_list(planned.get("vmids")), prior.get("vmids"), planned.get("vmids"));
    put("pool", planned.get("pool").as_str().map(str::to_string), prior.get("pool"), planned.get("pool"));
    put("exclude", vmid_list(planned.get("exclude")), prior.get("exclude"), planned.get("exclude"));
    let mails = planned
        .get("mail_to")
        .as_list()
        .filter(|l| !l.is_empty())
        .map(|l| l.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","));
    put("mailto", mails, prior.get("mail_to"), planned.get("mail_to"));
    put(
        "mailnotification",
        planned.get("mail_notification").as_str().map(str::to_string),
        prior.get("mail_notification"),
        planned.get("mail_notification"),
    );
    put(
        "notification-mode",
        planned.get("notification_mode").as_str().map(str::to_string),
        prior.get("notification_mode"),
        planned.get("notification_mode"),
    );
    put(
        "repeat-missed",
        planned.get("repeat_missed").as_bool().map(|b| if b { "1" } else { "0" }.to_string()),
        prior.get("repeat_missed"),
        planned.get("repeat_missed"),
    );
    let retention = planned.get("retention");
    let prune = (!retention.is_null()).then(|| {
        let mut p = PropertyString::new();
        if retention.get("keep_all").as_bool() == Some(true) {
            p.set("keep-all", "1");
        }
        for (attribute, key) in RETENTION {
            if let Some(n) = retention.get(attribute).as_i64() {
                p.set(key, n.to_string());
            }
        }
        p.to_string()
    });
    put("prune-backups", prune, prior.get("retention"), planned.get("retention"));
    (params, deletes)
}

/// The job's state from PVE's typed answer; unset options read as PVE's defaults.
fn state_from(job: &pve_api::BackupJob) -> Value {
    let text = |v: &Option<String>| v.clone().map(Value::from).unwrap_or(Value::Null);
    let ids = |raw: &Option<String>, ids: Vec<u64>| match raw {
        Some(_) => Value::List(ids.into_iter().map(|id| Value::from(id as i64)).collect()),
        None => Value::Null,
    };
    let mut s: BTreeMap<String, Value> = BTreeMap::new();
    s.insert("id".into(), job.id.clone().into());
    for (attribute, value) in [
        ("storage", &job.storage),
        ("mode", &job.mode),
        ("compress", &job.compress),
        ("node", &job.node),
        ("comment", &job.comment),
        ("notes_template", &job.notes_template),
    ] {
        s.insert(attribute.into(), text(value));
    }
    s.insert("schedule".into(), text(&job.schedule));
    s.insert("enabled".into(), job.is_enabled().into());
    // Unset and `false` mean the same to PVE; state says `true` or nothing (settle keeps a false).
    s.insert("all".into(), if job.all == Some(true) { Value::Bool(true) } else { Value::Null });
    s.insert("vmids".into(), ids(&job.vmid, job.vmids()));
    s.insert("pool".into(), text(&job.pool));
    s.insert("exclude".into(), ids(&job.exclude, job.excluded()));
    s.insert(
        "mail_to".into(),
        job.mailto.as_deref().map(|m| Value::List(pve_api::tags::split_tag_list(m).map(Value::from).collect())).unwrap_or(Value::Null),
    );
    s.insert("mail_notification".into(), text(&job.mailnotification));
    s.insert("notification_mode".into(), job.notification_mode.clone().unwrap_or_else(|| "auto".into()).into());
    s.insert("repeat_missed".into(), (job.repeat_missed == Some(true)).into());
    s.insert("next_run".into(), job.next_run.map(|t| Value::from(t as i64)).unwrap_or(Value::Null));
    if s.get("mode").is_none_or(Value::is_null) {
        s.insert("mode".into(), "snapshot".into());
    }
    if s.get("compress").is_none_or(Value::is_null) {
        s.insert("compress".into(), "0".into());
    }
    let retention = job.prune_backups.as_deref().and_then(|p| PropertyString::parse(p, None).ok()).map(|p| {
        let mut r: BTreeMap<String, Value> = RETENTION
            .iter()
            .map(|(attribute, key)| (attribute.to_string(), p.get(key).and_then(|n| n.parse::<i64>().ok()).into()))
            .collect();
        r.insert("keep_all".into(), p.get("keep-all").map(|v| v == "1").into());
        Value::Map(r)
    });
    s.insert("retention".into(), retention.unwrap_or(Value::Null));
    Value::Map(s)
}

/// The job as PVE has it, or None if it is gone.
async fn fetch(ctx: &Context, id: &str) -> Result<Option<Value>, Diagnostics> {
    match ctx.client.read_backup_job(id).await {
        Ok(job) => Ok(Some(state_from(&job))),
        Err(e) if e.message().contains("does not exist") => Ok(None),
        Err(e) => Err(api_failure("Reading the backup job", e)),
    }
}

/// Keeps what the user wrote where PVE's form means the same (defaults, set order).
fn settle(planned: &Value, actual: Value) -> Value {
    let Value::Map(mut actual) = actual else { return actual };
    for (key, value) in actual.iter_mut() {
        let want = planned.get(key);
        if key == "next_run" || want.is_unknown() {
            continue;
        }
        let same_set = |a: &Value, b: &Value| {
            let sorted = |v: &Value| {
                let mut items: Vec<i64> = v.as_list().unwrap_or_default().iter().filter_map(Value::as_i64).collect();
                items.sort_unstable();
                items
            };
            sorted(a) == sorted(b)
        };
        if (key == "vmids" || key == "exclude") && same_set(want, value) && !want.is_null() {
            *value = want.clone();
        }
    }
    if let Some(id) = planned.get("id").as_str() {
        actual.insert("id".into(), id.into());
    }
    if planned.get("all").as_bool() == Some(false) && actual.get("all").is_none_or(Value::is_null) {
        actual.insert("all".into(), false.into());
    }
    // keep_all = false is PVE's default and not stored; keep what was written.
    if planned.get("retention").get("keep_all").as_bool() == Some(false)
        && let Some(Value::Map(r)) = actual.get_mut("retention")
        && r.get("keep_all").is_none_or(Value::is_null)
    {
        r.insert("keep_all".into(), false.into());
    }
    Value::Map(actual)
}

impl Resource<Context> for PveBackupJob {
    fn type_name(&self) -> &'static str {
        "pve_backup_job"
    }

    fn schema(&self) -> Block {
        Block::new(
            "A scheduled vzdump backup job. Import with `terraform import pve_backup_job.NAME JOB_ID`.",
            vec![
                Attribute::optional_computed("id", Type::String, "Job ID (generated by PVE when unset). Changing it replaces the job.")
                    .validate(Validator::regex(
                        r"[a-zA-Z][a-zA-Z0-9_\-]+",
                        "is not a valid job ID (a letter, then letters, digits, _ or -)",
                    ))
                    .requires_replace()
                    .use_state_for_unknown(),
                Attribute::required(
                    "schedule",
                    Type::String,
                    "When to run, as a PVE calendar event: `daily`, `sun 03:00`, `mon..fri 01:00`, `*-*-* 05:00`, `*/15`.",
                )
                .validate(Validator::custom(check_schedule)),
                Attribute::computed("next_run", Type::Number, "Next run as a Unix timestamp (for an enabled job)."),
                Attribute::required("storage", Type::String, "Backup storage (must hold `backup` content).")
                    .validate(Validator::storage_id()),
                Attribute::optional_computed("mode", Type::String, "`snapshot` (default), `suspend` or `stop`.")
                    .validate(Validator::OneOf(&["snapshot", "suspend", "stop"]))
                    .default("snapshot"),
                Attribute::optional_computed("compress", Type::String, "`zstd` (default), `gzip`, `lzo`, `0` (none) or `1`.")
                    .validate(Validator::OneOf(&["0", "1", "gzip", "lzo", "zstd"]))
                    .default("zstd"),
                Attribute::optional("vmids", Type::set(Type::Number), "Back up these guests."),
                Attribute::optional("all", Type::Bool, "Back up every guest (on `node` if set)."),
                Attribute::optional("pool", Type::String, "Back up the guests of this pool."),
                Attribute::optional("exclude", Type::set(Type::Number), "With `all`: guests to leave out."),
                Attribute::optional_computed("enabled", Type::Bool, "Whether the job runs. Default true.").default(true),
                Attribute::optional("node", Type::String, "Run only on this node."),
                Attribute::optional("comment", Type::String, "Description.").validate(Validator::custom(|v: &Value| match v.as_str() {
                    Some(c) if c.len() > 512 => Err("may be at most 512 characters".into()),
                    _ => Ok(()),
                })),
                Attribute::optional(
                    "notes_template",
                    Type::String,
                    "Notes for each backup, with `{{guestname}}`, `{{vmid}}`, `{{node}}`, `{{cluster}}`.",
                ),
                Attribute::optional("mail_to", Type::list(Type::String), "Addresses or users to mail."),
                Attribute::optional(
                    "mail_notification",
                    Type::String,
                    "`always` or `failure`. Legacy: it applies with `notification_mode = \"legacy-sendmail\"` (or `auto` with `mail_to`).",
                )
                .validate(Validator::OneOf(&["always", "failure"])),
                Attribute::optional_computed(
                    "notification_mode",
                    Type::String,
                    "`auto` (default: PVE's notification system, or sendmail when `mail_to` is set), `notification-system` or `legacy-sendmail`.",
                )
                .validate(Validator::OneOf(&["auto", "legacy-sendmail", "notification-system"]))
                .default("auto"),
                Attribute::optional_computed(
                    "repeat_missed",
                    Type::Bool,
                    "Run once a run was missed (the node was off at its time), as soon as it can. Default false.",
                )
                .default(false),
            ],
        )
        .with_block("retention", Nesting::Single, retention_block())
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let selection = ["vmids", "all", "pool"];
        let chosen: Vec<&str> = selection
            .into_iter()
            .filter(|k| match config.get(k) {
                Value::Null | Value::Unknown => false,
                Value::Bool(b) => *b,
                Value::List(l) => !l.is_empty(),
                _ => true,
            })
            .collect();
        // Unknown until plan (a module variable, another resource): decided then, not now.
        let undecided = selection.iter().any(|k| config.get(k).is_unknown());
        if chosen.len() > 1 {
            diags.push(
                Diagnostic::error(
                    "Conflicting selection",
                    format!("{} and {} cannot be combined: choose vmids, all or pool", chosen[0], chosen[1]),
                )
                .at(attr(chosen[1])),
            );
        }
        if chosen.is_empty() && !undecided {
            diags.push(Diagnostic::error("Nothing to back up", "set vmids, all = true, or pool").at(attr("vmids")));
        }
        if config.get("exclude").is_set() && chosen != ["all"] && !undecided {
            diags.push(Diagnostic::error("exclude needs all", "exclude only applies together with all = true").at(attr("exclude")));
        }
        let retention = config.get("retention");
        if !retention.is_null()
            && !retention.is_unknown()
            && retention.get("keep_all").is_null()
            && RETENTION.iter().all(|(k, _)| retention.get(k).is_null())
        {
            diags.push(Diagnostic::error("Empty retention", "set at least one keep_* count, or keep_all = true").at(attr("retention")));
        }
        if retention.get("keep_all").as_bool() == Some(true) && RETENTION.iter().any(|(k, _)| !retention.get(k).is_null()) {
            diags.push(
                Diagnostic::error("Conflicting retention", "keep_all keeps everything; drop the keep_* counts or keep_all")
                    .at(vec![Step::Attr("retention".into()), Step::Attr("keep_all".into())]),
            );
        }
        diags
    }

    fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a Context>,
        prior: &'a Value,
        _config: &'a Value,
        planned: &'a mut Value,
        _replace: &'a mut Vec<crate::plugin::diag::Path>,
    ) -> BoxFuture<'a, Diagnostics> {
        Box::pin(async move {
            // The next run moves whenever the schedule or the enabled flag does.
            let changed =
                prior.is_null() || planned.get("schedule") != prior.get("schedule") || planned.get("enabled") != prior.get("enabled");
            if changed && let Value::Map(p) = planned {
                p.insert("next_run".into(), Value::Unknown);
            }
            let mut diags = Diagnostics::default();
            if let (Some(ctx), Some(storage)) = (ctx, planned.get("storage").as_str())
                && prior.get("storage").as_str() != Some(storage)
            {
                // From the cluster's listing, which needs only Datastore.Audit on the storage
                // (GET /storage/ID needs Datastore.Allocate, more than a backup job should).
                match ctx.resources().await {
                    Ok(rows) => {
                        let rows: Vec<_> =
                            rows.iter().filter(|r| r.resource_type == "storage" && r.storage.as_deref() == Some(storage)).collect();
                        let holds_backups = rows.iter().any(|r| r.content.as_deref().is_some_and(|c| c.split(',').any(|c| c == "backup")));
                        if rows.is_empty() {
                            diags.push(
                                Diagnostic::error(
                                    "Unknown storage",
                                    format!(
                                        "storage '{storage}' does not exist, or this API user lacks Datastore.Audit on /storage/{storage}"
                                    ),
                                )
                                .at(attr("storage")),
                            );
                        } else if !holds_backups {
                            let content = rows.first().and_then(|r| r.content.as_deref()).filter(|c| !c.is_empty()).unwrap_or("nothing");
                            diags.push(
                                Diagnostic::error(
                                    "Storage cannot hold backups",
                                    format!("storage '{storage}' holds {content}, not backup"),
                                )
                                .at(attr("storage")),
                            );
                        }
                    }
                    Err(e) => diags.push(api_error("Checking the storage failed", &e).at(attr("storage"))),
                }
            }
            diags
        })
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let (mut params, _) = params_for(&planned, &Value::Null);
            // Without an ID PVE makes one up and does not say which: choose it here instead.
            let id = planned.get("id").as_str().map(str::to_string).unwrap_or_else(|| format!("backup-{:012x}", rand_suffix()));
            params.insert("id", &id);
            ctx.client.create_backup_job(&params).await.map_err(|e| api_failure("Creating the backup job", e))?;
            let actual = fetch(ctx, &id)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Backup job vanished", format!("job {id} was created but is gone"))))?;
            let mut planned = planned;
            if let Value::Map(p) = &mut planned {
                p.insert("id".into(), id.into());
            }
            Ok(settle(&planned, actual))
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move {
            let Some(id) = state.get("id").as_str() else { return Ok(None) };
            Ok(fetch(ctx, id).await?.map(|actual| settle(&state, actual)))
        })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let id = prior.get("id").as_str().unwrap_or_default().to_string();
            let (mut params, deletes) = params_for(&planned, &prior);
            if !deletes.is_empty() {
                params.insert("delete", deletes.join(","));
            }
            if !params.is_empty() {
                ctx.client.update_backup_job(&id, &params).await.map_err(|e| api_failure("Updating the backup job", e))?;
            }
            let actual = fetch(ctx, &id)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Backup job vanished", format!("job {id} is gone"))))?;
            Ok(settle(&planned, actual))
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let id = prior.get("id").as_str().unwrap_or_default();
            match ctx.client.delete_backup_job(id).await {
                Ok(()) => Ok(()),
                Err(e) if e.message().contains("does not exist") => Ok(()),
                Err(e) => Err(api_failure("Deleting the backup job", e)),
            }
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            fetch(ctx, &id).await?.ok_or_else(|| Diagnostic::error("Backup job not found", format!("no backup job with ID '{id}'")).into())
        })
    }
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    (nanos as u64 ^ (std::process::id() as u64).rotate_left(32)) & 0xffff_ffff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summaries(config: Value) -> Vec<String> {
        PveBackupJob.validate(&config).0.into_iter().map(|d| d.summary).collect()
    }

    #[test]
    fn unknown_selection_is_decided_at_plan_not_at_validate() {
        // `terraform validate` of a module: vmids comes from a variable, still unknown.
        let from_module = Value::object([("vmids", Value::Unknown), ("pool", Value::Null), ("all", Value::Null), ("exclude", Value::Null)]);
        assert!(summaries(from_module).is_empty());
        let exclude_pending = Value::object([("all", Value::Unknown), ("exclude", Value::List(vec![Value::from(100i64)]))]);
        assert!(summaries(exclude_pending).is_empty());
        // Known conflicts still fail.
        let both = Value::object([("vmids", Value::List(vec![Value::from(100i64)])), ("all", Value::Bool(true))]);
        assert_eq!(summaries(both), ["Conflicting selection"]);
        let exclude_without_all =
            Value::object([("vmids", Value::List(vec![Value::from(100i64)])), ("exclude", Value::List(vec![Value::from(101i64)]))]);
        assert_eq!(summaries(exclude_without_all), ["exclude needs all"]);
    }
}
