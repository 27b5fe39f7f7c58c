//! The privilege checks PVE makes inside guest handlers, beyond each method's schema check:
//! which `VM.Config.*` an option needs, `Datastore.AllocateSpace` for new disks, `SDN.Use` for
//! bridges, pools, and access to existing volumes. Handlers call these before they change
//! anything, as PVE checks before it forks the task. Every check goes through
//! `ApiRequest::check`, which other handlers use directly for one path.
//!
//! Sources: qemu-server `src/PVE/API2/Qemu.pm` (`check_vm_modify_config_perm`,
//! `check_storage_access`, `check_storage_access_clone`, create_vm), pve-container
//! `src/PVE/LXC.pm` (`check_ct_modify_config_perm`), pve-guest-common `GuestHelpers.pm`
//! (`check_vnet_access`), pve-storage `PVE/Storage.pm` (`check_volume_access`).

use pve_api::{GuestKind, PropertyString};

use super::ApiRequest;
use crate::error::PveError;
use crate::model::access::{ROOT, denied};
use crate::model::{Config, is_disk_key, storage_of, volume_key};

const QEMU_CPU: &[&str] = &["cores", "cpu", "runningcpu", "cpulimit", "cpuunits", "numa", "smp", "sockets", "vcpus"];
const QEMU_MEMORY: &[&str] = &["memory", "balloon", "shares", "allow-ksm"];
const QEMU_HWTYPE: &[&str] =
    &["acpi", "hotplug", "kvm", "machine", "runningmachine", "scsihw", "smbios1", "tablet", "vga", "watchdog", "audio0", "rng0"];
const QEMU_OPTIONS: &[&str] = &[
    "agent",
    "autostart",
    "bios",
    "description",
    "keyboard",
    "localtime",
    "migrate_downtime",
    "migrate_speed",
    "name",
    "onboot",
    "ostype",
    "protection",
    "reboot",
    "startdate",
    "startup",
    "tdf",
    "template",
];
const QEMU_DISK_OPTIONS: &[&str] = &["boot", "bootdisk", "vmstatestorage"];
const QEMU_CLOUDINIT: &[&str] = &["cicustom", "cipassword", "citype", "ciuser", "ciupgrade", "nameserver", "searchdomain", "sshkeys"];

fn indexed(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `STORAGE:SIZE` (or a bare size on the default storage): a disk to allocate (qemu-server
/// `NEW_DISK_RE`, pve-container's likewise). Answers the storage, if one is named.
fn new_disk_storage(volume: &str) -> Option<Option<&str>> {
    let (storage, size) = match volume.split_once(':') {
        Some((storage, size)) => (Some(storage), size),
        None => (None, volume),
    };
    let numeric = !size.is_empty() && size.split_once('.').map_or(size, |(whole, _)| whole).bytes().all(|b| b.is_ascii_digit());
    (numeric && size.bytes().all(|b| b.is_ascii_digit() || b == b'.')).then_some(storage)
}

impl ApiRequest {
    fn is_root(&self) -> bool {
        self.user == ROOT
    }

    /// RPCEnvironment.pm `check_vm_perm`: on the pool first (quietly), then on the guest.
    pub fn check_vm(&self, vmid: u64, pool: Option<&str>, privileges: &[&str], any: bool) -> Result<(), PveError> {
        if let Some(pool) = pool
            && self.may(&format!("/pool/{pool}"), privileges, any)
        {
            return Ok(());
        }
        self.check(&format!("/vms/{vmid}"), privileges, any)
    }

    /// A pool to put a new guest in must exist (`check_pool_exist`).
    pub fn check_pool_exists(&self, pool: Option<&str>) -> Result<(), PveError> {
        match pool {
            Some(pool) if !self.emulator.cluster().pools.contains_key(pool) => Err(denied(Some(&format!("pool '{pool}' does not exist")))),
            _ => Ok(()),
        }
    }

    /// `VM.Allocate` on the new guest, or on the pool it goes to (create_vm / create_vm of LXC).
    pub fn check_allocate(&self, vmid: u64, pool: Option<&str>) -> Result<(), PveError> {
        if self.may(&format!("/vms/{vmid}"), &["VM.Allocate"], false)
            || pool.is_some_and(|p| self.may(&format!("/pool/{p}"), &["VM.Allocate"], false))
        {
            return Ok(());
        }
        Err(denied(None))
    }

    /// The privilege each changed or deleted option needs (qemu-server
    /// `check_vm_modify_config_perm`, pve-container `check_ct_modify_config_perm`). Disks,
    /// bridges and storages are checked by `check_guest_volumes` and `check_bridges`. Options PVE
    /// reserves to root@pam itself are refused to everyone else, tokens of root@pam included:
    /// a hookscript, and a VM's `args` (device passthrough and container features are not
    /// modelled).
    pub fn check_options<'a>(
        &self,
        kind: GuestKind,
        vmid: u64,
        pool: Option<&str>,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), PveError> {
        if self.is_root() {
            return Ok(());
        }
        for key in keys {
            let needs: (&[&str], bool) = match kind {
                GuestKind::Qemu => {
                    if is_disk_key(kind, key)
                        || key == "cdrom"
                        || key == "tags"
                        || ["unused", "serial", "usb", "hostpci", "virtiofs"].iter().any(|p| indexed(key, p))
                    {
                        continue;
                    } else if QEMU_CPU.contains(&key) || indexed(key, "numa") {
                        (&["VM.Config.CPU"], false)
                    } else if QEMU_MEMORY.contains(&key) {
                        (&["VM.Config.Memory"], false)
                    } else if QEMU_HWTYPE.contains(&key) {
                        (&["VM.Config.HWType"], false)
                    } else if QEMU_OPTIONS.contains(&key) {
                        if key == "startup" {
                            // It changes how the host starts guests.
                            self.check("/", &["Sys.Modify"], false)?;
                        }
                        (&["VM.Config.Options"], false)
                    } else if key == "freeze" {
                        (&["VM.PowerMgmt"], false)
                    } else if QEMU_DISK_OPTIONS.contains(&key) {
                        (&["VM.Config.Disk"], false)
                    } else if indexed(key, "net") || key == "running-nets-host-mtu" {
                        (&["VM.Config.Network"], false)
                    } else if QEMU_CLOUDINIT.contains(&key) || indexed(key, "ipconfig") {
                        (&["VM.Config.Cloudinit", "VM.Config.Network"], true)
                    } else if key == "vmstate" {
                        (&["VM.Config.Disk", "VM.PowerMgmt"], false)
                    } else if key == "hookscript" || key == "args" {
                        // The catch-all branch of `check_vm_modify_config_perm`: a plain die.
                        return Err(PveError::server(format!("only root can set '{key}' config")));
                    } else {
                        continue;
                    }
                }
                GuestKind::Lxc => match key {
                    "cores" | "cpuunits" | "cpulimit" => (&["VM.Config.CPU"], false),
                    "memory" | "swap" => (&["VM.Config.Memory"], false),
                    "rootfs" => (&["VM.Config.Disk"], false),
                    _ if indexed(key, "mp") => (&["VM.Config.Disk"], false),
                    "nameserver" | "searchdomain" | "hostname" => (&["VM.Config.Network"], false),
                    _ if indexed(key, "net") => (&["VM.Config.Network"], false),
                    "hookscript" => return Err(denied(Some("changing the hookscript is only allowed for root@pam"))),
                    "features" | "tags" => continue,
                    _ if indexed(key, "dev") => continue,
                    _ => (&["VM.Config.Options"], false),
                },
            };
            self.check_vm(vmid, pool, needs.0, needs.1)?;
        }
        Ok(())
    }

    /// `SDN.Use` on each NIC's bridge, or on its VLAN tag under it (`check_vnet_access`; plain
    /// Linux bridges are in the `localnetwork` zone).
    pub fn check_bridges(&self, kind: GuestKind, settings: &Config) -> Result<(), PveError> {
        if self.is_root() {
            return Ok(());
        }
        let default_key = if kind == GuestKind::Qemu { Some("model") } else { None };
        for value in settings.iter().filter(|(k, _)| indexed(k, "net")).map(|(_, v)| v) {
            let Ok(nic) = PropertyString::parse(value, default_key) else { continue };
            let Some(bridge) = nic.get("bridge") else { continue };
            let zone = format!("/sdn/zones/localnetwork/{bridge}");
            match (nic.get("tag"), nic.get("trunks")) {
                (Some(tag), _) => self.check(&format!("{zone}/{tag}"), &["SDN.Use"], false)?,
                (None, Some(trunks)) => {
                    for tag in trunks.split(';').filter(|t| !t.is_empty()) {
                        self.check(&format!("{zone}/{tag}"), &["SDN.Use"], false)?;
                    }
                }
                (None, None) => self.check(&zone, &["SDN.Use"], false)?,
            }
        }
        Ok(())
    }

    /// The volumes a create or update names: `Datastore.AllocateSpace` on the storage of each
    /// new disk (the default storage when none is named), read access to existing volumes,
    /// `Sys.Console` for a host CD-ROM drive (qemu-server `check_storage_access`).
    pub fn check_guest_volumes(
        &self,
        kind: GuestKind,
        vmid: u64,
        settings: &Config,
        default_storage: Option<&str>,
    ) -> Result<(), PveError> {
        if self.is_root() {
            return Ok(());
        }
        for value in settings.iter().filter(|(k, _)| is_disk_key(kind, k) || indexed(k, "unused")).map(|(_, v)| v) {
            let Ok(drive) = PropertyString::parse(value, Some(volume_key(kind))) else { continue };
            let Some(volume) = drive.get(volume_key(kind)) else { continue };
            let cdrom = drive.get("media") == Some("cdrom");
            if volume == "none" || volume == "cloudinit" || volume.ends_with(":cloudinit") {
                continue;
            }
            if volume == "cdrom" {
                self.check("/", &["Sys.Console"], false)?;
            } else if let Some(storage) = new_disk_storage(volume).filter(|_| !cdrom) {
                let storage =
                    storage.or(default_storage).ok_or_else(|| PveError::server("no storage ID specified (and no default storage)"))?;
                self.check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"], false)?;
            } else {
                self.check_volume_access(Some(vmid), volume)?;
            }
            // A disk imported from another guest's disk is a copy of it: `VM.Clone` on that guest;
            // from an image, read access to the image.
            if let Some(source) = drive.get("import-from") {
                match volume_kind(source) {
                    ("images" | "rootdir", Some(owner)) => self.check(&format!("/vms/{owner}"), &["VM.Clone"], false)?,
                    _ => self.check_volume_access(Some(vmid), source)?,
                }
            }
        }
        if let Some(storage) = settings.get("vmstatestorage") {
            self.check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"], false)?;
        }
        Ok(())
    }

    /// Read access to an existing volume (pve-storage `check_volume_access`): storage
    /// administrators may use any; ISOs, templates and import images need `AllocateSpace` or
    /// `Audit` on the storage; a guest's own disks are its own; backups need `AllocateSpace`
    /// and `VM.Backup` on their guest; other guests' disks need `Datastore.Audit` and
    /// `VM.Config.Disk` on that guest.
    pub fn check_volume_access(&self, vmid: Option<u64>, volid: &str) -> Result<(), PveError> {
        if !volid.contains(':') {
            return if self.is_root() { Ok(()) } else { Err(PveError::server("Only root can pass arbitrary filesystem paths.")) };
        }
        let storage = storage_of(volid);
        let storage_path = format!("/storage/{storage}");
        if self.may(&storage_path, &["Datastore.Allocate"], false) {
            return Ok(());
        }
        let (content, owner) = volume_kind(volid);
        match content {
            "iso" | "vztmpl" | "import" => self.check(&storage_path, &["Datastore.AllocateSpace", "Datastore.Audit"], true),
            _ if owner.is_some() && owner == vmid => Ok(()),
            "backup" if owner.is_some() => {
                self.check(&storage_path, &["Datastore.AllocateSpace"], false)?;
                self.check(&format!("/vms/{}", owner.unwrap_or_default()), &["VM.Backup"], false)
            }
            "images" | "rootdir" if owner.is_some() => {
                self.check(&storage_path, &["Datastore.Audit"], false)?;
                self.check(&format!("/vms/{}", owner.unwrap_or_default()), &["VM.Config.Disk"], false)
            }
            _ => Err(PveError::server(format!("missing privileges to access {volid}"))),
        }
    }

    /// A clone's disks: `Datastore.AllocateSpace` on the target storage, or on each disk's own
    /// storage without one; `Sys.Console` for a host CD-ROM (`check_storage_access_clone`).
    pub fn check_clone_volumes(&self, kind: GuestKind, source: &Config, target_storage: Option<&str>) -> Result<(), PveError> {
        if self.is_root() {
            return Ok(());
        }
        for value in source.iter().filter(|(k, _)| is_disk_key(kind, k)).map(|(_, v)| v) {
            let Ok(drive) = PropertyString::parse(value, Some(volume_key(kind))) else { continue };
            let Some(volume) = drive.get(volume_key(kind)) else { continue };
            if volume == "none" {
                continue;
            }
            if drive.get("media") == Some("cdrom") {
                if volume == "cdrom" {
                    self.check("/", &["Sys.Console"], false)?;
                }
                continue;
            }
            let storage = target_storage.unwrap_or_else(|| storage_of(volume));
            self.check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"], false)?;
        }
        if let Some(storage) = source.get("vmstatestorage") {
            self.check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"], false)?;
        }
        Ok(())
    }
}

/// A volume's content type and owning guest, from its name as pve-storage's `parse_volname`
/// reads it (`iso/…`, `vztmpl/…`, `import/…`, `backup/vzdump-qemu-100-…`, `vm-100-disk-0`,
/// `base-100-disk-0`, `subvol-100-disk-0`).
fn volume_kind(volid: &str) -> (&'static str, Option<u64>) {
    let name = volid.split_once(':').map_or(volid, |(_, n)| n);
    let owner_after = |rest: &str| rest.split('-').next().and_then(|n| n.parse().ok());
    if name.starts_with("iso/") {
        ("iso", None)
    } else if name.starts_with("vztmpl/") {
        ("vztmpl", None)
    } else if name.starts_with("import/") {
        ("import", None)
    } else if let Some(rest) = name.strip_prefix("backup/") {
        let owner = rest.strip_prefix("vzdump-").and_then(|r| r.split_once('-')).and_then(|(_, r)| owner_after(r));
        ("backup", owner)
    } else if name.starts_with("snippets/") {
        ("snippets", None)
    } else {
        let file = name.rsplit('/').next().unwrap_or(name);
        let owner = ["vm-", "base-", "subvol-", "basevol-"].iter().find_map(|p| file.strip_prefix(p)).and_then(owner_after);
        let content = if file.starts_with("subvol-") || file.starts_with("basevol-") { "rootdir" } else { "images" };
        (content, owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names_give_content_and_owner() {
        assert_eq!(volume_kind("local-lvm:vm-100-disk-0"), ("images", Some(100)));
        assert_eq!(volume_kind("local:9000/base-9000-disk-0.qcow2"), ("images", Some(9000)));
        assert_eq!(volume_kind("local-zfs:subvol-101-disk-0"), ("rootdir", Some(101)));
        assert_eq!(volume_kind("backup:backup/vzdump-qemu-100-2025_01_01-00_00_00.vma.zst"), ("backup", Some(100)));
        assert_eq!(volume_kind("local:iso/noble.iso"), ("iso", None));
    }

    #[test]
    fn new_disks_are_storage_and_size() {
        assert_eq!(new_disk_storage("local-lvm:32"), Some(Some("local-lvm")));
        assert_eq!(new_disk_storage("8"), Some(None));
        assert_eq!(new_disk_storage("local-lvm:vm-100-disk-0"), None);
        assert_eq!(new_disk_storage("local:0.5"), Some(Some("local")));
    }
}
