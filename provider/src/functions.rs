//! Provider functions: `provider::pve::parse_upid(upid)` and `provider::pve::vmid_from_id(id)`.

use std::sync::Arc;

use pve_api::Upid;

use crate::plugin::service::Function;
use crate::plugin::value::{Type, Value};

pub fn all() -> Vec<Arc<dyn Function>> {
    vec![Arc::new(ParseUpid), Arc::new(VmidFromId)]
}

struct ParseUpid;

impl Function for ParseUpid {
    fn name(&self) -> &'static str {
        "parse_upid"
    }
    fn summary(&self) -> &'static str {
        "Splits a Proxmox task ID (UPID) into its fields"
    }
    fn description(&self) -> &'static str {
        "Returns `node`, `pid`, `pstart`, `starttime` (Unix seconds), `type`, `id` and `user` of a UPID such as `UPID:pve1:0002A3F1:01B2C3D4:6740A1B2:qmclone:9000:root@pam:`."
    }
    fn parameters(&self) -> Vec<(&'static str, Type, &'static str)> {
        vec![("upid", Type::String, "The task ID.")]
    }
    fn return_type(&self) -> Type {
        Type::object([
            ("node", Type::String),
            ("pid", Type::Number),
            ("pstart", Type::Number),
            ("starttime", Type::Number),
            ("type", Type::String),
            ("id", Type::String),
            ("user", Type::String),
        ])
    }
    fn call(&self, arguments: &[Value]) -> Result<Value, (String, Option<i64>)> {
        let text = arguments.first().and_then(Value::as_str).ok_or(("upid must be a string".to_string(), Some(0)))?;
        let upid: Upid = text.parse().map_err(|e: pve_api::upid::InvalidUpid| (e.to_string(), Some(0)))?;
        Ok(Value::object([
            ("node", upid.node.into()),
            ("pid", u64::from(upid.pid).into()),
            ("pstart", upid.pstart.into()),
            ("starttime", upid.starttime.into()),
            ("type", upid.task_type.into()),
            ("id", upid.id.into()),
            ("user", upid.user.into()),
        ]))
    }
}

struct VmidFromId;

/// `100`, `qemu/100`, `pve1/100`, `pve1/qemu/100` → 100.
pub fn vmid_from_id(id: &str) -> Option<u64> {
    let last = id.trim().rsplit('/').next()?;
    let vmid: u64 = last.parse().ok()?;
    (100..=999_999_999).contains(&vmid).then_some(vmid)
}

impl Function for VmidFromId {
    fn name(&self) -> &'static str {
        "vmid_from_id"
    }
    fn summary(&self) -> &'static str {
        "Extracts the VMID from a guest ID"
    }
    fn description(&self) -> &'static str {
        "Accepts `100`, `qemu/100`, `pve1/100` or `pve1/qemu/100` (the forms resource IDs and imports use) and returns 100."
    }
    fn parameters(&self) -> Vec<(&'static str, Type, &'static str)> {
        vec![("id", Type::String, "A guest ID.")]
    }
    fn return_type(&self) -> Type {
        Type::Number
    }
    fn call(&self, arguments: &[Value]) -> Result<Value, (String, Option<i64>)> {
        let id = arguments.first().and_then(Value::as_str).ok_or(("id must be a string".to_string(), Some(0)))?;
        vmid_from_id(id).map(Value::from).ok_or((format!("'{id}' does not end in a VMID (100-999999999)"), Some(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmid_forms() {
        assert_eq!(vmid_from_id("pve1/qemu/101"), Some(101));
        assert_eq!(vmid_from_id("qemu/101"), Some(101));
        assert_eq!(vmid_from_id("101"), Some(101));
        assert_eq!(vmid_from_id("pve1/qemu/99"), None);
        assert_eq!(vmid_from_id("pve1/qemu/"), None);
    }

    #[test]
    fn parse_upid_fields() {
        let value = ParseUpid.call(&["UPID:pve1:0002A3F1:01B2C3D4:6740A1B2:qmclone:9000:root@pam:".into()]).unwrap();
        assert_eq!(value.get("type"), &Value::from("qmclone"));
        assert_eq!(value.get("pid").as_i64(), Some(0x2A3F1));
        assert_eq!(ParseUpid.call(&["nope".into()]).unwrap_err().1, Some(0));
    }
}
