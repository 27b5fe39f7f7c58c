//! Plan-time checks of a guest against the cluster: every mistake a read can catch is refused in
//! PlanResourceChange, on the attribute at fault, before anything is written.
//!
//! `pve_vm` and `pve_lxc` gather what their plan asks of the cluster into [`Wants`] (only what is
//! new or changed, only values already known), and [`check`] holds it against PVE's own answers:
//! the node's storages (`/nodes/{node}/storage`), its bridges (`/nodes/{node}/network`), its CPUs
//! (`/cluster/resources`), a storage's templates, the clone source. Every answer comes through a
//! cache in [`Context`], so a plan of hundreds of guests costs a few requests per node, not per
//! guest. What was unknown at plan time is checked the same way in create and update, before the
//! first request that writes. A listing that fails is reported, never skipped: a plan that could
//! not check must not pass.
//!
//! The VMID checks ([`claim_vmid_in_plan`], [`check_vmid_free`]) work on the registry of planned
//! VMIDs in [`Context`]: the provider sees every PlanResourceChange of a plan in one process.

use std::collections::BTreeSet;
use std::time::Instant;

use pve_api::{ApiError, ClusterResource, GuestConfig, GuestKind, NetworkInterface, PropertyString, StorageInfo};

use super::json_text;
use crate::plugin::diag::{Diagnostic, Diagnostics, Path, Step, api_error};
use crate::plugin::value::Value;
use crate::provider::{Claimant, CloneSource, Context};

/// The content type a VM disk needs on its storage.
pub const IMAGES: &str = "images";
/// The content type a container's root filesystem and mount points need.
pub const ROOTDIR: &str = "rootdir";
/// The content type of cloud-init snippets and hookscripts.
pub const SNIPPETS: &str = "snippets";
/// The content type of container OS templates.
pub const VZTMPL: &str = "vztmpl";
/// The content type of disk images VM disks are imported from (`import_from`).
pub const IMPORT: &str = "import";
/// The content type of ISO images.
pub const ISO: &str = "iso";

/// A volume the plan allocates, or a snippet it writes, on a storage of the guest's node.
pub struct VolumeWant {
    pub at: Path,
    pub storage: String,
    /// [`IMAGES`], [`ROOTDIR`] or [`SNIPPETS`].
    pub content: &'static str,
}

/// A NIC the plan attaches to a bridge of the guest's node.
pub struct NicWant {
    pub at: Path,
    pub bridge: String,
}

/// The vCPUs the plan gives the guest.
pub struct VcpuWant {
    pub at: Path,
    pub count: u64,
    /// How the count is made up, for the message: `cores × sockets = 8 × 4 = 32 vCPUs`.
    pub made_of: String,
}

/// A clone the plan makes.
/// A clone source the listing lacks: it does not exist, or PVE hides it from this user (listings
/// show only guests with VM.Audit).
pub fn clone_source_missing(kind: GuestKind, vmid: u64) -> String {
    let what = if kind == GuestKind::Lxc { "container" } else { "VM or template" };
    format!("no {what} with VMID {vmid}, or this API user lacks VM.Audit on /vms/{vmid}")
}

pub struct CloneWant {
    /// The attribute naming the source (`clone_vmid`).
    pub at: Path,
    pub vmid: u64,
    /// The storage the clone request names (`storage=`: a full clone's copies go there); None
    /// leaves every volume on the source's storage.
    pub storage: Option<String>,
    /// Whether the request names a storage not known yet: a container clone's move across nodes
    /// is then judged at apply (pve-container takes that storage's word for every volume).
    pub storage_unknown: bool,
    /// A linked VM clone's disk storage, which must be the template's (PVE cannot move it).
    pub linked: Option<(Path, String)>,
}

/// The bridges of a guest's `network` blocks that are new (all of them on create) or changed.
pub fn bridge_wants(prior: &Value, planned: &Value, creating: bool) -> Vec<NicWant> {
    let prior_nics = prior.get("network").as_list().unwrap_or_default();
    let planned_nics = planned.get("network").as_list().unwrap_or_default();
    planned_nics
        .iter()
        .enumerate()
        .filter_map(|(i, nic)| {
            let bridge = nic.get("bridge").as_str()?;
            let changed = creating || prior_nics.get(i).is_none_or(|p| p.get("bridge") != nic.get("bridge"));
            let at = vec![Step::Attr("network".into()), Step::Index(i as i64), Step::Attr("bridge".into())];
            changed.then(|| NicWant { at, bridge: bridge.into() })
        })
        .collect()
}

/// An OS template volume (`STORAGE:vztmpl/NAME`) a container is created from.
pub struct TemplateWant {
    pub at: Path,
    pub volume: String,
}

/// A disk image a new VM disk is made from (`import_from`).
pub struct ImageWant {
    pub at: Path,
    pub volume: String,
}

/// What one guest's plan asks of the cluster.
pub struct Wants {
    pub kind: GuestKind,
    /// The node the guest is (or will be) on, and the attribute that names it.
    pub node: String,
    pub node_at: Path,
    pub volumes: Vec<VolumeWant>,
    pub nics: Vec<NicWant>,
    pub vcpus: Option<VcpuWant>,
    pub clone: Option<CloneWant>,
    pub template: Option<TemplateWant>,
    pub images: Vec<ImageWant>,
}

impl Wants {
    pub fn new(kind: GuestKind, node: &str, node_at: Path) -> Self {
        Self {
            kind,
            node: node.to_string(),
            node_at,
            volumes: Vec::new(),
            nics: Vec::new(),
            vcpus: None,
            clone: None,
            template: None,
            images: Vec::new(),
        }
    }

    /// Nothing new to ask: an update that keeps node, storages and bridges costs no request.
    pub fn is_empty(&self) -> bool {
        self.volumes.is_empty()
            && self.nics.is_empty()
            && self.vcpus.is_none()
            && self.clone.is_none()
            && self.template.is_none()
            && self.images.is_empty()
    }
}

/// "VM" or "CT", as PVE's messages name a guest.
fn word(kind: GuestKind) -> &'static str {
    if kind == GuestKind::Qemu { "VM" } else { "CT" }
}

/// The resource type that creates guests of `kind`.
fn resource_type(kind: GuestKind) -> &'static str {
    if kind == GuestKind::Qemu { "pve_vm" } else { "pve_lxc" }
}

/// Holds `wants` against the cluster; the diagnostics are on the attributes at fault.
pub async fn check(ctx: &Context, wants: &Wants) -> Diagnostics {
    let mut diags = Diagnostics::default();
    if wants.is_empty() {
        return diags;
    }
    let resources = match ctx.resources().await {
        Ok(resources) => resources,
        Err(e) => {
            diags.push(api_error("Listing cluster resources", &e).at(wants.node_at.clone()));
            return diags;
        }
    };
    // A node the cluster does not have is check_node's to report; nothing can be checked there.
    let Some(node) = resources.iter().find(|r| r.resource_type == "node" && r.node.as_deref() == Some(wants.node.as_str())) else {
        return diags;
    };
    if let Some(vcpus) = &wants.vcpus
        && let Some(problem) = vcpu_problem(wants.kind, &wants.node, node.maxcpu, vcpus)
    {
        diags.push(problem.at(vcpus.at.clone()));
    }
    if let Some(first) = wants.volumes.first()
        && let Some(storages) = storages_of(ctx, &wants.node, &first.at, &mut diags).await
    {
        for volume in &wants.volumes {
            if let Some((summary, detail)) = storage_problem(&storages, &wants.node, &volume.storage, volume.content) {
                diags.push(Diagnostic::error(summary, detail).at(volume.at.clone()));
            }
        }
    }
    if let Some(template) = &wants.template {
        check_template(ctx, &wants.node, template, &mut diags).await;
    }
    for image in &wants.images {
        check_image(ctx, &wants.node, image, &mut diags).await;
    }
    if let Some(first) = wants.nics.first() {
        match ctx.node_bridges(&wants.node).await {
            Ok(interfaces) => {
                for nic in &wants.nics {
                    if let Some(problem) = bridge_problem(&interfaces, &wants.node, &nic.bridge) {
                        diags.push(problem.at(nic.at.clone()));
                    }
                }
            }
            Err(e) => diags.push(api_error(format!("Listing the network of node {}", wants.node), &e).at(first.at.clone())),
        }
    }
    if let Some(clone) = &wants.clone {
        check_clone(ctx, wants, clone, &resources, &mut diags).await;
    }
    diags
}

/// [`check`] in create and update, for what was unknown at plan time (and is known now): an
/// error stops the operation before its first write.
pub async fn check_before_writing(ctx: &Context, wants: Option<Wants>) -> Result<(), Diagnostics> {
    let Some(wants) = wants else { return Ok(()) };
    let diags = check(ctx, &wants).await;
    if diags.has_errors() { Err(diags) } else { Ok(()) }
}

/// The storages of `node`, or the listing's failure reported at `at`.
async fn storages_of(ctx: &Context, node: &str, at: &Path, diags: &mut Diagnostics) -> Option<std::sync::Arc<Vec<StorageInfo>>> {
    match ctx.node_storages(node).await {
        Ok(storages) => Some(storages),
        Err(e) => {
            diags.push(api_error(format!("Listing the storages of node {node}"), &e).at(at.clone()));
            None
        }
    }
}

fn content_words(content: &str) -> &str {
    match content {
        IMAGES => "VM disks",
        ROOTDIR => "container volumes",
        SNIPPETS => "snippets",
        VZTMPL => "container templates",
        ISO => "ISO images",
        IMPORT => "disk images to import",
        other => other,
    }
}

/// Why `storage` on `node` cannot take `content`, as (summary, detail); None when it can.
pub(crate) fn storage_problem(storages: &[StorageInfo], node: &str, storage: &str, content: &str) -> Option<(&'static str, String)> {
    let mut fit: Vec<&str> = storages.iter().filter(|s| s.enabled && s.active && s.supports(content)).map(|s| s.storage.as_str()).collect();
    fit.sort_unstable();
    let words = content_words(content);
    let alternatives = if fit.is_empty() {
        format!("node {node} has no storage for {words}")
    } else {
        format!("storages for {words} on {node}: {}", fit.join(", "))
    };
    let Some(found) = storages.iter().find(|s| s.storage == storage) else {
        // PVE lists only the storages the API user may use: a missing one may be a permission.
        let detail = format!(
            "storage '{storage}' does not exist on node {node}, or this API user lacks Datastore.Audit on /storage/{storage}; {alternatives}"
        );
        return Some(("Unknown storage", detail));
    };
    if !found.enabled {
        // PVE reports a storage limited to other nodes (`nodes` in storage.cfg) as not enabled too.
        let detail = format!("storage '{storage}' is not enabled on node {node} (disabled, or limited to other nodes); {alternatives}");
        return Some(("Storage unavailable", detail));
    }
    if !found.active {
        return Some((
            "Storage unavailable",
            format!("storage '{storage}' is not active on node {node}: PVE cannot reach it now; {alternatives}"),
        ));
    }
    if !found.supports(content) {
        let summary = match content {
            IMAGES => "Storage cannot hold VM disks",
            ROOTDIR => "Storage cannot hold container volumes",
            SNIPPETS => "Storage cannot hold snippets",
            ISO => "Storage cannot hold ISO images",
            IMPORT => "Storage cannot hold import images",
            _ => "Storage cannot hold templates",
        };
        let holds = found.content.as_deref().filter(|c| !c.is_empty()).unwrap_or("nothing");
        let detail = format!("storage '{storage}' does not hold content type '{content}' (it holds: {holds}); {alternatives}");
        return Some((summary, detail));
    }
    None
}

/// Why a NIC cannot attach to `bridge` on `node`; None when it can. Linux bridges, Open vSwitch
/// bridges and SDN vnets count: `type=any_bridge` lists all three.
pub(crate) fn bridge_problem(interfaces: &[NetworkInterface], node: &str, bridge: &str) -> Option<Diagnostic> {
    let mut bridges: Vec<&str> = interfaces.iter().filter(|i| i.is_bridge() || i.iface_type == "vnet").map(|i| i.iface.as_str()).collect();
    if bridges.contains(&bridge) {
        return None;
    }
    bridges.sort_unstable();
    let there = if bridges.is_empty() { "it has none".to_string() } else { format!("bridges there: {}", bridges.join(", ")) };
    Some(Diagnostic::error("Unknown bridge", format!("bridge '{bridge}' does not exist on node {node}; {there}")))
}

/// Why `node` (with `maxcpu` CPUs) cannot run the guest's vCPUs; None when it can, or when PVE
/// did not say how many CPUs the node has.
pub(crate) fn vcpu_problem(kind: GuestKind, node: &str, maxcpu: Option<f64>, want: &VcpuWant) -> Option<Diagnostic> {
    let cpus = maxcpu.filter(|c| *c >= 1.0)? as u64;
    if want.count <= cpus {
        return None;
    }
    let refusal = if kind == GuestKind::Qemu {
        format!(": PVE refuses to start the VM (\"MAX {cpus} vcpus allowed per VM on this node\")")
    } else {
        String::new()
    };
    Some(Diagnostic::error("Too many vCPUs", format!("{}, but node {node} has {cpus} CPUs{refusal}", want.made_of)))
}

/// The storages a guest config's volumes are on: disks, EFI and TPM state for a VM (CD-ROMs
/// too with `with_cdroms`, as PVE counts them for a clone), root filesystem and volume mount
/// points for a container. Bind mounts, passed-through devices and empty drives have none.
pub(crate) fn volume_storages(kind: GuestKind, config: &GuestConfig, with_cdroms: bool) -> BTreeSet<String> {
    let numbered = |key: &str, prefixes: &[&str]| {
        prefixes.iter().any(|p| key.strip_prefix(p).is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())))
    };
    config
        .values
        .iter()
        .filter_map(|(key, value)| {
            let default = match kind {
                GuestKind::Qemu if numbered(key, &["ide", "sata", "scsi", "virtio"]) || key == "efidisk0" || key == "tpmstate0" => "file",
                GuestKind::Lxc if key == "rootfs" || numbered(key, &["mp"]) => "volume",
                _ => return None,
            };
            let drive = PropertyString::parse(&json_text(value), Some(default)).ok()?;
            if !with_cdroms && drive.get("media") == Some("cdrom") {
                return None;
            }
            let volume = drive.get(default)?;
            if matches!(volume, "none" | "cdrom") || volume.starts_with('/') {
                return None;
            }
            volume.split_once(':').map(|(storage, _)| storage.to_string())
        })
        .collect()
}

/// Why a linked clone of a source with `config` cannot have its disk on `storage`: it stays on
/// its template's storage, beside the base volume it refers to.
pub(crate) fn linked_storage_problem(kind: GuestKind, config: &GuestConfig, storage: &str) -> Option<Diagnostic> {
    let storages = volume_storages(kind, config, false);
    (!storages.contains(storage)).then(|| {
        let detail = format!(
            "a linked clone stays on its template's storage ({}); use that storage or clone_full = true",
            storages.into_iter().collect::<Vec<_>>().join(", ")
        );
        Diagnostic::error("Linked clone on another storage", detail)
    })
}

/// Why PVE would refuse to clone `source` (VMID `vmid`, of `kind`) to `target`, another node;
/// None when it would not. qemu-server looks at the source's volumes and also refuses a target
/// `storage` that is not shared; pve-container takes `storage` (when given) for every volume.
pub(crate) fn cross_node_problem(
    kind: GuestKind,
    vmid: u64,
    source: &CloneSource,
    target: &str,
    storage: Option<&str>,
    shared: impl Fn(&str) -> bool,
) -> Option<Diagnostic> {
    let what = match (source.config.flag("template"), kind) {
        (true, _) => "template",
        (false, GuestKind::Qemu) => "VM",
        (false, GuestKind::Lxc) => "container",
    };
    let local_source: Vec<String> = if kind == GuestKind::Lxc && storage.is_some() {
        Vec::new()
    } else {
        volume_storages(kind, &source.config, true).into_iter().filter(|s| !shared(s)).collect()
    };
    let local_target = storage.filter(|s| !shared(s));
    if local_source.is_empty() && local_target.is_none() {
        return None;
    }
    let (mut why, mut refusals) = (Vec::new(), Vec::new());
    if !local_source.is_empty() {
        why.push(format!("{what} {vmid} is on {} and its volumes are on local storage ({})", source.node, local_source.join(", ")));
        refusals.push(format!("can't clone {w} to node '{target}' ({w} uses local storage)", w = word(kind)));
    }
    if let Some(storage) = local_target {
        why.push(format!("the clone's volumes would go to storage '{storage}', which is not shared"));
        refusals.push(format!("can't clone to non-shared storage '{storage}'"));
    }
    let detail = format!(
        "{}. PVE clones to another node only from and to shared storage, so it would refuse this at apply (\"{}\"). \
         Clone a {what} that is on {target} (keep a template on each node), or keep the source and the clone on shared storage.",
        why.join(", and "),
        refusals.join("\"; \"")
    );
    Some(Diagnostic::error("Clone to another node needs shared storage", detail))
}

/// An OS template volume must be on a storage of the node that holds templates, and be there.
async fn check_template(ctx: &Context, node: &str, template: &TemplateWant, diags: &mut Diagnostics) {
    let not_found = |detail: String| Diagnostic::error("Template volume not found", detail).at(template.at.clone());
    let Some((storage, _)) = template.volume.split_once(':') else { return };
    let Some(storages) = storages_of(ctx, node, &template.at, diags).await else { return };
    if let Some((_, detail)) = storage_problem(&storages, node, storage, VZTMPL) {
        diags.push(not_found(format!("{}: {detail}", template.volume)));
        return;
    }
    match ctx.has_volume(node, storage, VZTMPL, &template.volume).await {
        Ok((found, volumes)) => {
            if !found {
                let mut there: Vec<&str> = volumes.iter().map(|v| v.volid.as_str()).collect();
                there.sort_unstable();
                let listed = if there.is_empty() {
                    "it holds no templates there".to_string()
                } else {
                    format!("templates there: {}", there.join(", "))
                };
                diags.push(not_found(format!("storage '{storage}' on node {node} has no volume '{}'; {listed}", template.volume)));
            }
        }
        Err(e) => diags.push(api_error(format!("Listing the templates on storage '{storage}' of node {node}"), &e).at(template.at.clone())),
    }
}

/// An `import_from` volume must be a disk image on the guest's node: a file with content
/// `import` (qemu-server refuses other types: "needs to be 'images' or 'import'") or a VM disk.
async fn check_image(ctx: &Context, node: &str, image: &ImageWant, diags: &mut Diagnostics) {
    let Some((storage, name)) = image.volume.split_once(':') else { return };
    // pve-storage `parse_volname`: the directory names the content type; a bare name is an image.
    let vtype = match name.split_once('/').map(|(dir, _)| dir) {
        Some(dir @ (IMPORT | ISO | VZTMPL | "backup" | SNIPPETS)) => dir,
        _ => IMAGES,
    };
    if vtype != IMPORT && vtype != IMAGES {
        let detail = format!(
            "{} has content type '{vtype}'; import_from takes a disk image (content 'import', e.g. a pve_download_file with content = \"import\") or a VM disk",
            image.volume
        );
        diags.push(Diagnostic::error("Not a disk image", detail).at(image.at.clone()));
        return;
    }
    let Some(storages) = storages_of(ctx, node, &image.at, diags).await else { return };
    if let Some((_, detail)) = storage_problem(&storages, node, storage, vtype) {
        diags.push(Diagnostic::error("Disk image not found", format!("{}: {detail}", image.volume)).at(image.at.clone()));
        return;
    }
    match ctx.has_volume(node, storage, vtype, &image.volume).await {
        Ok((true, _)) => {}
        Ok((false, volumes)) => {
            let mut there: Vec<&str> = volumes.iter().map(|v| v.volid.as_str()).collect();
            there.sort_unstable();
            let listed = if there.is_empty() { "none are there".to_string() } else { format!("there: {}", there.join(", ")) };
            let detail = format!("storage '{storage}' on node {node} has no volume '{}'; {listed}", image.volume);
            diags.push(Diagnostic::error("Disk image not found", detail).at(image.at.clone()));
        }
        Err(e) => diags.push(api_error(format!("Listing storage '{storage}' of node {node}"), &e).at(image.at.clone())),
    }
}

/// The clone source must be a guest of the resource's kind; a linked VM clone stays on the
/// template's storage; a clone to another node needs shared storage.
async fn check_clone(ctx: &Context, wants: &Wants, clone: &CloneWant, resources: &[ClusterResource], diags: &mut Diagnostics) {
    // A source this plan creates (a template with a fixed VMID, say) cannot be read yet: the
    // clone is planned after it, and checked again at apply, once it exists.
    if ctx.planned_guest(clone.vmid).is_some_and(|c| c.resource_type == resource_type(wants.kind)) {
        return;
    }
    let source = match ctx.clone_source(clone.vmid, wants.kind).await {
        Ok(Some(source)) => source,
        Ok(None) => {
            let other = resources.iter().find(|r| r.vmid == Some(clone.vmid)).and_then(ClusterResource::guest_kind);
            let detail = match (wants.kind, other) {
                (GuestKind::Qemu, Some(GuestKind::Lxc)) => {
                    format!("VMID {} is a container; a VM clones from a VM or template (a container clones with pve_lxc)", clone.vmid)
                }
                (GuestKind::Lxc, Some(GuestKind::Qemu)) => {
                    format!("VMID {} is a VM; a container clones from a container (a VM clones with pve_vm)", clone.vmid)
                }
                (kind, _) => clone_source_missing(kind, clone.vmid),
            };
            diags.push(Diagnostic::error("Clone source not found", detail).at(clone.at.clone()));
            return;
        }
        Err(e) => {
            diags.push(api_error("Reading the clone source", &e).at(clone.at.clone()));
            return;
        }
    };
    if let Some((at, storage)) = &clone.linked
        && let Some(problem) = linked_storage_problem(wants.kind, &source.config, storage)
    {
        diags.push(problem.at(at.clone()));
    }
    if source.node == wants.node || (clone.storage_unknown && wants.kind == GuestKind::Lxc) {
        return;
    }
    let Some(at_source) = storages_of(ctx, &source.node, &wants.node_at, diags).await else { return };
    let Some(at_target) = storages_of(ctx, &wants.node, &wants.node_at, diags).await else { return };
    // `shared` is a property of the storage's definition, the same on every node.
    let shared = |id: &str| at_source.iter().chain(at_target.iter()).any(|s| s.storage == id && s.shared);
    // What PVE cannot clone across nodes the provider clones on the source's node and then
    // migrates (offline, local volumes copied): only a linked clone, which must stay beside its
    // template's base volume, cannot go.
    if cross_node_problem(wants.kind, clone.vmid, &source, &wants.node, clone.storage.as_deref(), shared).is_some()
        && let Some((at, _)) = &clone.linked
    {
        let detail = format!(
            "a linked clone stays on its template's node ({}) and storage, and the template's volumes are local: \
             set clone_full = true (the provider clones on {} and migrates the VM to {}), or keep a template on {}",
            source.node, source.node, wants.node, wants.node
        );
        diags.push(Diagnostic::error("Linked clone on another node", detail).at(at.clone()));
    }
}

/// Whether a clone of `source` to `target` must be made on the source's node and migrated there
/// afterwards: PVE clones across nodes only from and to shared storage (qemu-server `clone_vm`,
/// pve-container `clone_vm`), and migrates offline whatever is local (`QemuMigrate`,
/// `PVE::LXC::Migrate`).
pub async fn clone_then_migrate(
    ctx: &Context,
    kind: GuestKind,
    vmid: u64,
    source: &CloneSource,
    target: &str,
    storage: Option<&str>,
) -> Result<bool, ApiError> {
    if source.node == target {
        return Ok(false);
    }
    let (at_source, at_target) = (ctx.node_storages(&source.node).await?, ctx.node_storages(target).await?);
    let shared = |id: &str| at_source.iter().chain(at_target.iter()).any(|s| s.storage == id && s.shared);
    Ok(cross_node_problem(kind, vmid, source, target, storage, shared).is_some())
}

/// Records that `claimant` plans VMID `vmid` (`existing`: its prior state has that VMID, as when
/// it is updated or replaced). Two resources creating one VMID are refused here, naming both.
/// Ok(true) when the VMID is the claimant's own guest being replaced: Terraform plans a
/// replacement's create with no prior state, after the plan that had it.
pub fn claim_vmid_in_plan(ctx: &Context, vmid: u64, claimant: Claimant, existing: bool, at: &Path) -> Result<bool, Diagnostics> {
    ctx.claim_planned_vmid(vmid, claimant.clone(), existing).map_err(|holder| {
        // Terraform tells providers neither resource addresses nor which configuration block a
        // plan is for, so the guests are named by resource type and name (or hostname). Two
        // resources of one type with the same name and VMID are indistinguishable here; PVE
        // refuses the second create at apply.
        let detail = format!("VMID {vmid} is set for two guests: {holder} and {claimant}; give each its own vmid, or leave vmid unset");
        Diagnostics::from(Diagnostic::error("Duplicate VMID", detail).at(at.clone()))
    })
}

/// The VMID checks of a guest plan: a VMID the plan sets (`vmid`, known) is claimed for the
/// resource, refused if another resource of the plan creates it too, and, for a new guest,
/// refused if a guest has it. `prior_vmid` is the prior state's: an update keeps its own guest's.
/// Without a known `name` the resource cannot be told apart from others: checked at apply.
pub async fn check_planned_vmid(
    ctx: &Context,
    resource_type: &'static str,
    name: Option<&str>,
    vmid: Option<u64>,
    prior_vmid: Option<u64>,
    at: &Path,
) -> Diagnostics {
    let (Some(name), Some(vmid)) = (name, vmid) else { return Diagnostics::default() };
    let existing = prior_vmid == Some(vmid);
    match claim_vmid_in_plan(ctx, vmid, Claimant { resource_type, name: name.to_string() }, existing, at) {
        Err(duplicate) => duplicate,
        Ok(own_guest) if existing || own_guest => Diagnostics::default(),
        Ok(_) => check_vmid_free(ctx, vmid, at).await,
    }
}

/// A VMID a create sets must be free: no VM or container, template or not, has it.
pub async fn check_vmid_free(ctx: &Context, vmid: u64, at: &Path) -> Diagnostics {
    let asked = Instant::now();
    let holder = |resources: &[ClusterResource]| {
        resources.iter().find(|r| r.vmid == Some(vmid) && r.guest_kind().is_some()).map(|r| {
            let kind = r.guest_kind().unwrap_or(GuestKind::Qemu);
            let template = if r.template { " (a template)" } else { "" };
            let name = r.name.as_deref().unwrap_or("");
            format!("{} '{name}'{template} on {}", word(kind), r.node.as_deref().unwrap_or("?"))
        })
    };
    let listing = match ctx.resources().await {
        Ok(listing) => listing,
        Err(e) => return api_error("Listing cluster resources", &e).at(at.clone()).into(),
    };
    if holder(&listing).is_none() {
        return Diagnostics::default();
    }
    // The shared listing may predate a destroy: a VMID is refused only on a listing from now.
    let listing = match ctx.resources_since(asked).await {
        Ok(listing) => listing,
        Err(e) => return api_error("Listing cluster resources", &e).at(at.clone()).into(),
    };
    match holder(&listing) {
        Some(guest) => Diagnostic::error(
            "VMID in use",
            format!("VMID {vmid} is already used by {guest}; choose another vmid, or leave it unset and the provider picks a free one"),
        )
        .at(at.clone())
        .into(),
        None => Diagnostics::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::diag::attr;
    use serde_json::json;

    fn storage(id: &str, content: &str, shared: bool) -> StorageInfo {
        serde_json::from_value(json!({ "storage": id, "content": content, "enabled": 1, "active": 1, "shared": u8::from(shared) })).unwrap()
    }

    fn seed_storages() -> Vec<StorageInfo> {
        vec![
            storage("local", "iso,vztmpl,backup,snippets,import", false),
            storage("local-lvm", "images,rootdir", false),
            storage("local-zfs", "images,rootdir", false),
            storage("backup", "backup", true),
            storage("ceph", "images,rootdir", true),
        ]
    }

    #[test]
    fn storages_that_fit_pass_and_others_say_why() {
        let storages = seed_storages();
        for (id, content) in [("local-lvm", IMAGES), ("local-zfs", ROOTDIR), ("ceph", IMAGES), ("local", SNIPPETS), ("local", VZTMPL)] {
            assert_eq!(storage_problem(&storages, "pve1", id, content), None, "{id} holds {content}");
        }
        let (summary, detail) = storage_problem(&storages, "pve1", "nas", IMAGES).unwrap();
        assert_eq!(summary, "Unknown storage");
        assert!(
            detail.starts_with("storage 'nas' does not exist on node pve1")
                && detail.ends_with("storages for VM disks on pve1: ceph, local-lvm, local-zfs"),
            "{detail}"
        );
        let (summary, detail) = storage_problem(&storages, "pve1", "local", IMAGES).unwrap();
        assert_eq!(summary, "Storage cannot hold VM disks");
        assert!(detail.contains("does not hold content type 'images' (it holds: iso,vztmpl,backup,snippets,import)"), "{detail}");
        assert_eq!(storage_problem(&storages, "pve1", "backup", ROOTDIR).unwrap().0, "Storage cannot hold container volumes");
        assert_eq!(storage_problem(&storages, "pve1", "local-lvm", SNIPPETS).unwrap().0, "Storage cannot hold snippets");
    }

    #[test]
    fn disabled_and_inactive_storages_are_unavailable() {
        let mut storages = seed_storages();
        storages[1].enabled = false;
        storages[2].active = false;
        let (summary, detail) = storage_problem(&storages, "pve2", "local-lvm", IMAGES).unwrap();
        assert_eq!(summary, "Storage unavailable");
        assert!(detail.contains("not enabled on node pve2") && detail.ends_with("storages for VM disks on pve2: ceph"), "{detail}");
        assert!(storage_problem(&storages, "pve2", "local-zfs", IMAGES).unwrap().1.contains("not active on node pve2"));
    }

    #[test]
    fn bridges_ovs_bridges_and_vnets_count() {
        let interfaces: Vec<NetworkInterface> = serde_json::from_value(json!([
            { "iface": "vmbr0", "type": "bridge" }, { "iface": "vmbr1", "type": "OVSBridge" },
            { "iface": "vnet10", "type": "vnet" }, { "iface": "eno1", "type": "eth" },
        ]))
        .unwrap();
        for bridge in ["vmbr0", "vmbr1", "vnet10"] {
            assert!(bridge_problem(&interfaces, "pve1", bridge).is_none(), "{bridge}");
        }
        let problem = bridge_problem(&interfaces, "pve1", "eno1").unwrap();
        assert_eq!(problem.summary, "Unknown bridge");
        assert_eq!(problem.detail, "bridge 'eno1' does not exist on node pve1; bridges there: vmbr0, vmbr1, vnet10");
    }

    #[test]
    fn vcpus_beyond_the_node_are_refused() {
        let want = |count| VcpuWant { at: attr("cores"), count, made_of: format!("cores × sockets = {count} × 1 = {count} vCPUs") };
        assert!(vcpu_problem(GuestKind::Qemu, "pve1", Some(16.0), &want(16)).is_none());
        assert!(vcpu_problem(GuestKind::Qemu, "pve1", None, &want(64)).is_none(), "no CPU count, no verdict");
        let problem = vcpu_problem(GuestKind::Qemu, "pve1", Some(16.0), &want(17)).unwrap();
        assert_eq!(problem.summary, "Too many vCPUs");
        assert!(
            problem.detail.starts_with("cores × sockets = 17 × 1 = 17 vCPUs, but node pve1 has 16 CPUs: PVE refuses"),
            "{}",
            problem.detail
        );
        assert!(!vcpu_problem(GuestKind::Lxc, "pve1", Some(4.0), &want(8)).unwrap().detail.contains("MAX"));
    }

    fn source(node: &str, pairs: &[(&str, &str)]) -> CloneSource {
        let values = pairs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        CloneSource { node: node.into(), config: GuestConfig { values, digest: String::new() } }
    }

    #[test]
    fn volumes_are_found_on_their_storages() {
        let vm = source(
            "pve1",
            &[
                ("scsi0", "local-lvm:base-9000-disk-0,size=3584M"),
                ("ide2", "local-lvm:vm-9000-cloudinit,media=cdrom"),
                ("ide0", "local:iso/debian.iso,media=cdrom"),
                ("sata1", "none,media=cdrom"),
                ("efidisk0", "ceph:vm-9000-disk-1,size=1M"),
                ("unused0", "local-zfs:vm-9000-disk-2"),
                ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
            ],
        );
        let all: Vec<String> = volume_storages(GuestKind::Qemu, &vm.config, true).into_iter().collect();
        assert_eq!(all, ["ceph", "local", "local-lvm"]);
        let disks: Vec<String> = volume_storages(GuestKind::Qemu, &vm.config, false).into_iter().collect();
        assert_eq!(disks, ["ceph", "local-lvm"]);
        let ct = source(
            "pve1",
            &[("rootfs", "local-lvm:vm-200-disk-0,size=8G"), ("mp0", "/srv/data,mp=/data"), ("mp1", "ceph:vm-200-disk-1,mp=/x")],
        );
        assert_eq!(volume_storages(GuestKind::Lxc, &ct.config, true).into_iter().collect::<Vec<_>>(), ["ceph", "local-lvm"]);
    }

    #[test]
    fn clones_to_another_node_need_shared_storage() {
        let shared = |id: &str| id == "ceph";
        let template = source(
            "pve1",
            &[("template", "1"), ("scsi0", "local-lvm:base-9000-disk-0"), ("ide2", "local-lvm:vm-9000-cloudinit,media=cdrom")],
        );
        let problem = cross_node_problem(GuestKind::Qemu, 9000, &template, "pve3", Some("ceph"), shared).unwrap();
        assert_eq!(problem.summary, "Clone to another node needs shared storage");
        assert!(
            problem.detail.starts_with("template 9000 is on pve1 and its volumes are on local storage (local-lvm)"),
            "{}",
            problem.detail
        );
        assert!(problem.detail.contains("(\"can't clone VM to node 'pve3' (VM uses local storage)\")"), "{}", problem.detail);
        assert!(problem.detail.contains("Clone a template that is on pve3 (keep a template on each node)"), "{}", problem.detail);

        let on_ceph = source("pve1", &[("template", "1"), ("scsi0", "ceph:base-9001-disk-0")]);
        assert!(cross_node_problem(GuestKind::Qemu, 9001, &on_ceph, "pve3", Some("ceph"), shared).is_none());
        assert!(cross_node_problem(GuestKind::Qemu, 9001, &on_ceph, "pve3", None, shared).is_none(), "a linked clone stays on ceph");
        let problem = cross_node_problem(GuestKind::Qemu, 9001, &on_ceph, "pve3", Some("local-lvm"), shared).unwrap();
        assert!(
            problem.detail.contains("can't clone to non-shared storage 'local-lvm'") && !problem.detail.contains("uses local storage"),
            "{}",
            problem.detail
        );

        // pve-container takes the target storage for every volume.
        let ct = source("pve1", &[("rootfs", "local-lvm:vm-300-disk-0,size=8G")]);
        assert!(cross_node_problem(GuestKind::Lxc, 300, &ct, "pve2", Some("ceph"), shared).is_none());
        let problem = cross_node_problem(GuestKind::Lxc, 300, &ct, "pve2", None, shared).unwrap();
        assert!(
            problem.detail.starts_with("container 300 is on pve1")
                && problem.detail.contains("can't clone CT to node 'pve2' (CT uses local storage)"),
            "{}",
            problem.detail
        );
        assert!(
            cross_node_problem(GuestKind::Lxc, 300, &ct, "pve2", Some("local-zfs"), shared)
                .unwrap()
                .detail
                .contains("non-shared storage 'local-zfs'")
        );
    }
}
