//! `resource "pve_lifecycle_tag"`: the lifecycle tags of an existing guest — `environment-<name>`,
//! `expires-<YYYY-MM-DD>`, `no-expire` — which `pve-ops expire-lab` acts on.
//!
//! It shares the guest's `tags` with `pve_vm` without fighting it: `pve_vm` ignores tags with these
//! prefixes, and this resource reads, changes and writes back only its own, with the config digest
//! so a concurrent edit is never lost. `expiration_days` counts from the day the tag was created
//! (`created_on`), so the date stays put across plans.

use crate::plugin::diag::api_failure;
use chrono::{Duration, NaiveDate, Utc};
use futures::future::BoxFuture;
use pve_api::tags::lifecycle::{self, ENVIRONMENT, EXPIRES, NO_EXPIRE};
use pve_api::{GuestKind, Params};

use crate::plugin::diag::{Diagnostic, Diagnostics, Path, attr};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

pub struct PveLifecycleTag;

fn date(value: &Value) -> Option<NaiveDate> {
    value.as_str().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

fn check_date(value: &Value) -> Result<(), String> {
    match value.as_str() {
        // Canonical form only: the plan must carry the configured string unchanged.
        Some(text) if date(value).is_none_or(|d| d.format("%Y-%m-%d").to_string() != text) => {
            Err(format!("\"{text}\" is not a date like 2026-12-31"))
        }
        _ => Ok(()),
    }
}

/// The tags this resource wants on the guest.
fn wanted_tags(state: &Value) -> Vec<String> {
    let mut tags = Vec::new();
    if let Some(env) = state.get("environment").as_str() {
        tags.push(format!("{ENVIRONMENT}{}", env.to_lowercase()));
    }
    if let Some(expires) = state.get("expires").as_str() {
        tags.push(format!("{EXPIRES}{expires}"));
    }
    if state.get("no_expire").as_bool() == Some(true) {
        tags.push(NO_EXPIRE.into());
    }
    tags
}

/// Where the guest is now, and its kind.
async fn locate(ctx: &Context, vmid: u64) -> Result<Option<(String, GuestKind)>, Diagnostics> {
    Ok(super::guest::find_guest(ctx, vmid).await?.map(|(at, kind)| (at.node, kind)))
}

/// Replaces the guest's lifecycle tags with `ours`, keeping every other tag; retried when someone
/// else changed the config in between (digest mismatch).
async fn write_tags(ctx: &Context, vmid: u64, ours: &[String]) -> Result<(), Diagnostics> {
    let (node, kind) = locate(ctx, vmid).await?.ok_or_else(|| {
        Diagnostics::from(Diagnostic::error("Guest not found", format!("no VM or container with VMID {vmid}")).at(attr("vmid")))
    })?;
    for attempt in 0..5 {
        let config = ctx.client.guest_config(kind, &node, vmid).await.map_err(|e| api_failure("Reading the guest config", e))?;
        let current: Vec<String> =
            config.get_str("tags").map(|t| pve_api::tags::split_tag_list(&t).map(str::to_string).collect()).unwrap_or_default();
        let mut tags: Vec<String> = current.iter().filter(|t| !lifecycle::is_lifecycle_tag(t)).cloned().collect();
        tags.extend(ours.iter().cloned());
        let tags = pve_api::tags::normalize(&tags).map_err(|e| Diagnostics::from(Diagnostic::error("Invalid tag", e.to_string())))?;
        let params = if tags.is_empty() { Params::new().set("delete", "tags") } else { Params::new().set("tags", tags.join(";")) };
        match ctx.client.update_config(kind, &node, vmid, &params.set("digest", &config.digest)).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_digest_mismatch() && attempt < 4 => continue,
            Err(e) => return Err(api_failure("Writing the guest's tags", e)),
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// The lifecycle state the guest's tags describe, or None if the guest is gone.
async fn fetch(ctx: &Context, vmid: u64, prior: &Value) -> Result<Option<Value>, Diagnostics> {
    let mut config = None;
    // On "not found", look again with a fresh listing: the guest may have just moved.
    for fresh in [false, true] {
        if fresh {
            ctx.invalidate_resources().await;
        }
        let Some((node, kind)) = locate(ctx, vmid).await? else { return Ok(None) };
        match ctx.client.guest_config(kind, &node, vmid).await {
            Ok(c) => {
                config = Some(c);
                break;
            }
            Err(e) if e.is_not_found() && !fresh => continue,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(api_failure("Reading the guest config", e)),
        }
    }
    let Some(config) = config else { return Ok(None) };
    let tags: Vec<String> =
        config.get_str("tags").map(|t| pve_api::tags::split_tag_list(&t).map(str::to_string).collect()).unwrap_or_default();
    let environment = lifecycle::environment(&tags);
    // Keep the user's spelling of the environment when it is the same tag.
    let environment = match (environment, prior.get("environment").as_str()) {
        (Some(found), Some(wanted)) if found == wanted.to_lowercase() => Value::from(wanted.to_string()),
        (found, _) => found.into(),
    };
    let expires = lifecycle::expires(&tags).map(|d| d.format("%Y-%m-%d").to_string());
    Ok(Some(Value::object([
        ("id", vmid.to_string().into()),
        ("vmid", vmid.into()),
        ("environment", environment),
        ("expires", expires.into()),
        ("expiration_days", prior.get("expiration_days").clone()),
        ("no_expire", lifecycle::no_expire(&tags).into()),
        (
            "created_on",
            prior
                .get("created_on")
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| Utc::now().date_naive().format("%Y-%m-%d").to_string())
                .into(),
        ),
        ("tags", Value::List(tags.into_iter().filter(|t| lifecycle::is_lifecycle_tag(t)).map(Value::from).collect())),
    ])))
}

impl Resource<Context> for PveLifecycleTag {
    fn type_name(&self) -> &'static str {
        "pve_lifecycle_tag"
    }

    fn schema(&self) -> Block {
        Block::new(
            "Lifecycle tags of a guest (`environment-<name>`, `expires-<date>`, `no-expire`), merged with its other tags. \
             Import with `terraform import pve_lifecycle_tag.NAME VMID`.",
            vec![
                Attribute::computed("id", Type::String, "The VMID as a string.").use_state_for_unknown(),
                Attribute::required("vmid", Type::Number, "The VM or container.")
                    .validate(Validator::Range(100, 999_999_999))
                    .requires_replace(),
                Attribute::optional(
                    "environment",
                    Type::String,
                    "Environment, e.g. `prod`, `lab`, `monitoring` (tag `environment-<name>`).",
                )
                .validate(Validator::regex(r"[a-zA-Z0-9_][a-zA-Z0-9_\-+.]*", "is not usable in a tag (letters, digits, _ - + .)")),
                Attribute::optional("expiration_days", Type::Number, "Expire this many days after `created_on`.")
                    .validate(Validator::Range(1, 3650)),
                Attribute::optional_computed(
                    "expires",
                    Type::String,
                    "Expiry date (`YYYY-MM-DD`); derived from `expiration_days` when that is set.",
                )
                .validate(Validator::custom(check_date))
                .use_state_for_unknown(),
                Attribute::optional_computed("no_expire", Type::Bool, "Never expire (tag `no-expire`). Default false.").default(false),
                Attribute::computed("created_on", Type::String, "Day the tags were first written; `expiration_days` counts from it.")
                    .use_state_for_unknown(),
                Attribute::computed("tags", Type::list(Type::String), "The lifecycle tags on the guest."),
            ],
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        if config.get("expires").is_set() && config.get("expiration_days").is_set() {
            diags.push(Diagnostic::error("Conflicting expiry", "set expires or expiration_days, not both").at(attr("expires")));
        }
        if config.get("no_expire").as_bool() == Some(true) && (config.get("expires").is_set() || config.get("expiration_days").is_set()) {
            diags.push(
                Diagnostic::error("Conflicting expiry", "no_expire cannot be combined with expires or expiration_days")
                    .at(attr("no_expire")),
            );
        }
        diags
    }

    fn modify_plan<'a>(
        &'a self,
        _ctx: Option<&'a Context>,
        prior: &'a Value,
        config: &'a Value,
        planned: &'a mut Value,
        _replace: &'a mut Vec<Path>,
    ) -> BoxFuture<'a, Diagnostics> {
        Box::pin(async move {
            let mut diags = Diagnostics::default();
            let today = Utc::now().date_naive();
            let created_on = date(prior.get("created_on")).unwrap_or(today);
            let Value::Map(p) = planned else { return diags };
            p.insert("created_on".into(), created_on.format("%Y-%m-%d").to_string().into());
            let expires = match (config.get("expiration_days").as_i64(), date(config.get("expires"))) {
                (Some(days), _) => Some(created_on + Duration::days(days)),
                (None, Some(explicit)) => Some(explicit),
                (None, None) => None,
            };
            p.insert("expires".into(), expires.map(|d| d.format("%Y-%m-%d").to_string()).into());
            if let Some(expires) = expires
                && expires < today
                && prior.get("expires") != p.get("expires").unwrap_or(&Value::Null)
            {
                diags.push(
                    Diagnostic::error("Expiry in the past", format!("{expires} has already passed (today is {today})")).at(attr("expires")),
                );
            }
            let wanted = wanted_tags(&Value::Map(p.clone()));
            p.insert("tags".into(), Value::List(wanted.into_iter().map(Value::from).collect()));
            diags
        })
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let vmid = planned.get("vmid").as_i64().unwrap_or_default() as u64;
            write_tags(ctx, vmid, &wanted_tags(&planned)).await?;
            Ok(fetch(ctx, vmid, &planned)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Guest vanished", format!("guest {vmid} is gone"))))?)
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move { fetch(ctx, state.get("vmid").as_i64().unwrap_or_default() as u64, &state).await })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let vmid = prior.get("vmid").as_i64().unwrap_or_default() as u64;
            write_tags(ctx, vmid, &wanted_tags(&planned)).await?;
            fetch(ctx, vmid, &planned).await?.ok_or_else(|| Diagnostic::error("Guest vanished", format!("guest {vmid} is gone")).into())
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let vmid = prior.get("vmid").as_i64().unwrap_or_default() as u64;
            if locate(ctx, vmid).await?.is_none() {
                return Ok(());
            }
            write_tags(ctx, vmid, &[]).await
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let vmid = crate::functions::vmid_from_id(&id)
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Invalid import ID", format!("'{id}' is not a VMID"))))?;
            fetch(ctx, vmid, &Value::Null).await?.ok_or_else(|| Diagnostic::error("Guest not found", format!("no guest {vmid}")).into())
        })
    }
}
