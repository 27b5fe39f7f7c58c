//! Helpers every guest resource shares: tag and address checks, the settle step after apply.

use std::time::Duration;

use pve_api::{ApiError, GuestConfig, GuestKind};
use serde_json::Value as Json;

use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::value::Type;
use crate::provider::Context;

use crate::plugin::diag::{Diagnostic, Diagnostics};
use crate::plugin::value::Value;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

pub fn lowercase_sorted(value: &Value) -> Value {
    let set: BTreeSet<String> = value.as_list().unwrap_or_default().iter().filter_map(Value::as_str).map(str::to_lowercase).collect();
    Value::List(set.into_iter().map(Value::from).collect())
}

pub fn check_tags(value: &Value) -> Result<(), String> {
    for tag in value.as_list().unwrap_or_default().iter().filter_map(Value::as_str) {
        if !pve_api::tags::is_valid_tag(tag) {
            return Err(format!("\"{tag}\" is not a valid tag: use letters, digits and _ - + . (not starting with - + .)"));
        }
    }
    Ok(())
}

pub fn check_ipv4_config(value: &Value) -> Result<(), String> {
    match value.as_str() {
        None | Some("dhcp") => Ok(()),
        Some(cidr) => {
            let (ip, prefix) = cidr
                .split_once('/')
                .ok_or(format!("\"{cidr}\" must be \"dhcp\" or an IPv4 address with prefix length, e.g. 10.10.10.101/24"))?;
            match (ip.parse::<Ipv4Addr>(), prefix.parse::<u8>()) {
                (Ok(_), Ok(p)) if p <= 32 => Ok(()),
                _ => Err(format!("\"{cidr}\" must be \"dhcp\" or an IPv4 address with prefix length, e.g. 10.10.10.101/24")),
            }
        }
    }
}

pub fn check_ip(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some(ip) if ip.parse::<IpAddr>().is_err() => Err(format!("\"{ip}\" is not an IP address")),
        _ => Ok(()),
    }
}

/// Fills the unknowns of `planned` from `actual`; known planned values stand (they were written).
pub fn settle(planned: &Value, actual: &Value) -> Value {
    match (planned, actual) {
        (Value::Unknown, actual) => actual.clone(),
        (Value::Map(p), Value::Map(a)) => {
            Value::Map(p.iter().map(|(k, v)| (k.clone(), settle(v, a.get(k).unwrap_or(&Value::Null)))).collect())
        }
        (Value::List(p), Value::List(a)) if p.len() == a.len() => Value::List(p.iter().zip(a).map(|(p, a)| settle(p, a)).collect()),
        (Value::List(p), _) => Value::List(p.iter().map(|p| settle(p, &Value::Null)).collect()),
        (planned, _) => planned.clone(),
    }
}

pub fn flag(value: &str) -> bool {
    matches!(value, "1" | "on" | "yes" | "true")
}

pub fn fail(summary: &str, error: ApiError) -> Diagnostics {
    Diagnostic::error(summary, error.to_string()).into()
}

pub fn check_duration(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some(text) => parse_duration(text).map(|_| ()),
        None => Ok(()),
    }
}

/// `90s`, `10m`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("\"{text}\" is not a duration like 90s, 10m or 1h30m");
    let mut total = 0u64;
    let mut number = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| invalid())?;
        number.clear();
        total += n * match ch {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
    }
    if !number.is_empty() || total == 0 {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

pub fn timeouts_block() -> Block {
    Block::new(
        "How long each operation may take before it fails (e.g. `30m`).",
        vec![
            Attribute::optional("create", Type::String, "Default 30m.").validate(Validator::custom(check_duration)),
            Attribute::optional("update", Type::String, "Default 30m.").validate(Validator::custom(check_duration)),
            Attribute::optional("delete", Type::String, "Default 10m.").validate(Validator::custom(check_duration)),
        ],
    )
}

pub fn timeout(state: &Value, operation: &str, default_minutes: u64) -> Duration {
    state.get("timeouts").get(operation).as_str().and_then(|t| parse_duration(t).ok()).unwrap_or(Duration::from_secs(default_minutes * 60))
}

/// A config value as text (PVE returns numbers for integer keys).
pub fn text(config: &GuestConfig, key: &str) -> Option<String> {
    config.get_str(key)
}

pub fn indexed<'a>(config: &'a GuestConfig, prefix: &str) -> Vec<(u32, &'a Json)> {
    let mut items: Vec<(u32, &Json)> =
        config.values.iter().filter_map(|(k, v)| k.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok()).map(|n| (n, v))).collect();
    items.sort_by_key(|(n, _)| *n);
    items
}

pub fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where a guest is now, from the shared resource listing.
pub struct Located {
    pub node: String,
    pub running: bool,
    pub pool: Option<String>,
}

/// Finds a guest of `kind`; a VMID now used by the other kind is an error, never adopted.
pub async fn locate(ctx: &Context, vmid: u64, kind: GuestKind) -> Result<Option<Located>, Diagnostics> {
    let resources = ctx.resources().await.map_err(|e| fail("Listing cluster resources", e))?;
    let Some(row) = resources.iter().find(|r| r.vmid == Some(vmid)) else { return Ok(None) };
    if row.guest_kind() != Some(kind) {
        let detail = format!("VMID {vmid} is a {} guest now; refusing to manage it as {kind}", row.resource_type);
        return Err(Diagnostic::error("VMID belongs to another guest", detail).into());
    }
    Ok(Some(Located {
        node: row.node.clone().unwrap_or_default(),
        running: row.status.as_deref() == Some("running"),
        pool: row.pool.clone(),
    }))
}

/// A guest's config. On "not found" it looks again with a fresh listing before concluding the
/// guest is gone: the listing may predate a migration, and dropping a live guest from state
/// would lead to a duplicate.
pub async fn read_config(ctx: &Context, vmid: u64, kind: GuestKind) -> Result<Option<(Located, GuestConfig)>, Diagnostics> {
    for fresh in [false, true] {
        if fresh {
            ctx.invalidate_resources().await;
        }
        let Some(located) = locate(ctx, vmid, kind).await? else { return Ok(None) };
        match ctx.client.guest_config(kind, &located.node, vmid).await {
            Ok(config) => return Ok(Some((located, config))),
            Err(e) if e.is_not_found() && !fresh => continue,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(fail("Reading the guest config", e)),
        }
    }
    Ok(None)
}
