//! `resource "pve_ha_resource"`: HA management of a guest (`/cluster/ha/resources`).
//!
//! Refused at plan time: a `vmid` no guest has and no `pve_vm` or `pve_lxc` of the plan creates.
//! A VMID unknown at plan time is checked at apply, before the HA resource is added.

use crate::plugin::diag::api_failure;

use futures::future::BoxFuture;
use pve_api::Params;

use crate::plugin::diag::{Diagnostic, Diagnostics, Path, attr};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

pub struct PveHaResource;

/// Attribute, PVE key, numeric (what a plan writes).
const OPTIONS: [(&str, &str, bool); 6] = [
    ("state", "state", false),
    ("group", "group", false),
    ("max_restart", "max_restart", true),
    ("max_relocate", "max_relocate", true),
    ("comment", "comment", false),
    ("failback", "failback", false),
];

/// The state of an HA resource as PVE has it; unset options read as PVE's defaults.
fn state_from(vmid: u64, row: &pve_api::HaResource) -> Value {
    let text = |v: &Option<String>| v.clone().map(Value::from).unwrap_or(Value::Null);
    Value::object([
        ("vmid", vmid.into()),
        ("sid", row.sid.clone().into()),
        ("state", row.state.clone().unwrap_or_else(|| "started".into()).into()),
        ("group", text(&row.group)),
        ("max_restart", (row.max_restart.unwrap_or(1) as i64).into()),
        ("max_relocate", (row.max_relocate.unwrap_or(1) as i64).into()),
        ("comment", text(&row.comment)),
        ("failback", row.failback.unwrap_or(true).into()),
    ])
}

async fn fetch(ctx: &Context, vmid: u64) -> Result<Option<Value>, Diagnostics> {
    let rows = ctx.client.list_ha_resources().await.map_err(|e| api_failure("Listing HA resources", e))?;
    Ok(rows.iter().find(|r| r.vmid() == Some(vmid)).map(|row| state_from(vmid, row)))
}

fn params(planned: &Value, prior: &Value) -> (Params, Vec<String>) {
    let mut params = Params::new();
    let mut deletes = Vec::new();
    for (attribute, key, _) in OPTIONS {
        let (after, before) = (planned.get(attribute), prior.get(attribute));
        if !prior.is_null() && after == before {
            continue;
        }
        match after {
            Value::String(s) => params.insert(key, s),
            Value::Number(n) => params.insert(key, (*n as i64).to_string()),
            Value::Bool(b) => params.insert(key, u8::from(*b)),
            Value::Null if !before.is_null() => deletes.push(key.to_string()),
            _ => {}
        }
    }
    (params, deletes)
}

/// The guest must exist, or be created by this plan.
async fn check_guest(ctx: &Context, prior: &Value, planned: &Value) -> Diagnostics {
    let Some(vmid) = planned.get("vmid").as_i64() else { return Diagnostics::default() };
    if prior.get("vmid").as_i64() == Some(vmid) {
        return Diagnostics::default();
    }
    let vmid = vmid.max(0) as u64;
    // A guest this plan creates with that VMID does not exist yet: Terraform plans (and
    // applies) it first when the HA resource refers to it, and create checks it again.
    if ctx.planned_guest(vmid).is_some() {
        return Diagnostics::default();
    }
    match super::guest::find_guest(ctx, vmid).await {
        Ok(Some(_)) => Diagnostics::default(),
        Ok(None) => Diagnostic::error(
            "Guest not found",
            format!(
                "no VM or container with VMID {vmid}, and no pve_vm or pve_lxc planned so far creates one; if a resource of \
                 this configuration creates it, refer to it (vmid = pve_vm.NAME.vmid) so that Terraform plans and creates it first"
            ),
        )
        .at(attr("vmid"))
        .into(),
        Err(mut diags) => {
            for d in &mut diags.0 {
                d.path.get_or_insert_with(|| attr("vmid"));
            }
            diags
        }
    }
}

/// PVE 9 refuses groups once it has migrated them to rules; PVE 8 needs the group to exist.
async fn check_group(ctx: &Context, prior: &Value, planned: &Value) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let Some(group) = planned.get("group").as_str() else { return diags };
    if prior.get("group").as_str() == Some(group) {
        return diags;
    }
    match ctx.client.list_ha_groups().await {
        Ok(groups) if groups.iter().any(|g| g.get("group").and_then(|v| v.as_str()) == Some(group)) => {}
        Ok(groups) => {
            let names: Vec<&str> = groups.iter().filter_map(|g| g.get("group").and_then(|v| v.as_str())).collect();
            let detail = format!(
                "HA group '{group}' does not exist; groups are: {}",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            );
            diags.push(Diagnostic::error("Unknown HA group", detail).at(attr("group")));
        }
        Err(e) => {
            let detail =
                format!("{}; on PVE 9 put the guest under a pve_ha_rule (node-affinity) instead of a group", e.message().trim_end());
            diags.push(Diagnostic::error("HA groups are not available", detail).at(attr("group")));
        }
    }
    diags
}

impl Resource<Context> for PveHaResource {
    fn type_name(&self) -> &'static str {
        "pve_ha_resource"
    }

    fn schema(&self) -> Block {
        Block::new(
            "Puts a guest under HA management. Import with `terraform import pve_ha_resource.NAME VMID`.",
            vec![
                Attribute::required("vmid", Type::Number, "The VM or container.")
                    .validate(Validator::Range(100, 999_999_999))
                    .requires_replace(),
                Attribute::computed("sid", Type::String, "HA resource ID, `vm:VMID` or `ct:VMID`.").use_state_for_unknown(),
                Attribute::optional_computed(
                    "state",
                    Type::String,
                    "Requested state: `started` (default), `stopped`, `ignored` or `disabled`.",
                )
                .validate(Validator::OneOf(&["started", "stopped", "ignored", "disabled"]))
                .default("started"),
                Attribute::optional(
                    "group",
                    Type::String,
                    "HA group: PVE 8's node affinity. PVE 9 migrates groups to rules and then refuses it: use `pve_ha_rule`.",
                ),
                Attribute::optional_computed(
                    "failback",
                    Type::Bool,
                    "Move back to the preferred node (of a node-affinity rule) when it returns. Default true.",
                )
                .default(true),
                Attribute::optional_computed(
                    "max_restart",
                    Type::Number,
                    "Restart attempts on the same node before relocating. Default 1.",
                )
                .validate(Validator::Range(0, 10))
                .default(1i64),
                Attribute::optional_computed("max_relocate", Type::Number, "Relocation attempts. Default 1.")
                    .validate(Validator::Range(0, 10))
                    .default(1i64),
                Attribute::optional("comment", Type::String, "Description."),
            ],
        )
    }

    fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a Context>,
        prior: &'a Value,
        _config: &'a Value,
        planned: &'a mut Value,
        _replace: &'a mut Vec<Path>,
    ) -> BoxFuture<'a, Diagnostics> {
        Box::pin(async move {
            let Some(ctx) = ctx else { return Diagnostics::default() };
            let mut diags = check_guest(ctx, prior, planned).await;
            diags.extend(check_group(ctx, prior, planned).await);
            diags
        })
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let vmid = planned.get("vmid").as_i64().unwrap_or_default() as u64;
            let Some((_, kind)) = super::guest::find_guest(ctx, vmid).await? else {
                return Err(Diagnostic::error("Guest not found", format!("no VM or container with VMID {vmid}")).at(attr("vmid")).into());
            };
            let sid = format!("{}:{vmid}", if kind == pve_api::GuestKind::Qemu { "vm" } else { "ct" });
            let (params, _) = params(&planned, &Value::Null);
            ctx.client.create_ha_resource(&params.set("sid", &sid)).await.map_err(|e| api_failure("Adding the HA resource", e))?;
            ctx.invalidate_resources().await;
            Ok(fetch(ctx, vmid)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("HA resource vanished", format!("{sid} is gone"))))?)
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move { fetch(ctx, state.get("vmid").as_i64().unwrap_or_default() as u64).await })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let sid = prior.get("sid").as_str().unwrap_or_default().to_string();
            let (mut params, deletes) = params(&planned, &prior);
            if !deletes.is_empty() {
                params.insert("delete", deletes.join(","));
            }
            ctx.client.update_ha_resource(&sid, &params).await.map_err(|e| api_failure("Updating the HA resource", e))?;
            let vmid = prior.get("vmid").as_i64().unwrap_or_default() as u64;
            fetch(ctx, vmid).await?.ok_or_else(|| Diagnostic::error("HA resource vanished", format!("{sid} is gone")).into())
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let sid = prior.get("sid").as_str().unwrap_or_default();
            match ctx.client.delete_ha_resource(sid).await {
                Ok(()) => Ok(()),
                Err(e) if e.message().contains("no such resource") => Ok(()),
                Err(e) => Err(api_failure("Removing the HA resource", e)),
            }
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let vmid = crate::functions::vmid_from_id(id.rsplit(':').next().unwrap_or(&id))
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Invalid import ID", format!("'{id}' is not a VMID or vm:VMID"))))?;
            fetch(ctx, vmid)
                .await?
                .ok_or_else(|| Diagnostic::error("HA resource not found", format!("guest {vmid} is not HA-managed")).into())
        })
    }
}
