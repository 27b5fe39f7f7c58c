# VMs cloned from a cloud-init template, one pve_vm per entry of var.vms, each with a
# pve_lifecycle_tag carrying its environment (and, in the lab, its expiry).

locals {
  # The template is looked up by name only when some VM has no explicit template VMID.
  lookup_template = var.template_vmid == null && anytrue([for v in values(var.vms) : v.template_vmid == null])
}

data "pve_template" "this" {
  count = local.lookup_template ? 1 : 0

  name = var.template_name
}

locals {
  template_vmid = var.template_vmid != null ? var.template_vmid : one(data.pve_template.this[*].vmid)
  template_node = one(data.pve_template.this[*].node)

  vms = {
    for name, v in var.vms : name => {
      # Placement depends only on node inputs and the template, never on cloud-init inputs,
      # so editing an address or a key updates the VM in place instead of replacing it.
      node          = coalesce(v.node, var.node, local.template_node)
      template_vmid = v.template_vmid != null ? v.template_vmid : local.template_vmid
      static        = v.ip != "dhcp"
      address       = v.ip == "dhcp" ? null : split("/", v.ip)[0]
      gateway       = v.ip == "dhcp" ? null : try(coalesce(v.gateway, var.gateway), null)
      # PVE stores tags lowercased and de-duplicated; handing it the same form keeps plans quiet.
      tags = length(v.tags) > 0 ? toset([for t in v.tags : lower(t)]) : null
      # A VM with its own user-data has none generated: the module-wide default does not apply.
      own_user_data    = v.user_data_version != null
      security_updates = v.user_data_version != null ? false : (v.security_updates != null ? v.security_updates : var.security_updates)
      expiration_days  = var.environment == "lab" && !v.no_expire ? (v.expiration_days != null ? v.expiration_days : var.expiration_days) : null
      # Slots in numeric order (scsi2 before scsi10), not the map's lexical one.
      data_disk_slots = [for k in sort([for slot in keys(v.data_disks) : format("%02d|%s", try(tonumber(trimprefix(slot, "scsi")), 99), slot)]) : split("|", k)[1]]
    }
  }
}

resource "pve_vm" "this" {
  for_each = var.vms

  name        = coalesce(each.value.name, each.key)
  node        = local.vms[each.key].node
  vmid        = each.value.vmid
  description = each.value.description
  # Lifecycle tags (environment-, expires-, no-expire) are not listed here: pve_lifecycle_tag
  # owns them and pve_vm keeps them when it rewrites its own tags.
  tags       = local.vms[each.key].tags
  pool       = each.value.pool != null ? each.value.pool : var.pool
  on_boot    = each.value.on_boot != null ? each.value.on_boot : var.on_boot
  started    = each.value.started
  protection = each.value.protection != null ? each.value.protection : var.protection
  startup    = each.value.startup

  clone_vmid = local.vms[each.key].template_vmid
  clone_full = var.clone_full

  cores    = each.value.cores
  sockets  = each.value.sockets
  memory   = each.value.memory
  balloon  = each.value.balloon
  cpu_type = each.value.cpu_type != null ? each.value.cpu_type : var.cpu_type
  scsihw   = var.scsihw
  agent    = each.value.agent

  # PVE's user, keys and password are part of the cloud-init user section, which a VM's own
  # user-data replaces (qemu-server src/PVE/QemuServer/Cloudinit.pm, generate_nocloud: the
  # cicustom user file from get_custom_cloudinit_files is used, and cloudinit_userdata, which
  # writes ciuser, cipassword and sshkeys, only runs without one), so they are left unset there.
  ci_user     = local.vms[each.key].own_user_data ? null : var.ci_user
  ci_password = local.vms[each.key].own_user_data ? null : var.ci_password
  # Trimmed: file("~/.ssh/id_ed25519.pub") keeps the trailing newline.
  ci_ssh_keys      = !local.vms[each.key].own_user_data && length(var.ssh_public_keys) > 0 ? [for k in var.ssh_public_keys : trimspace(k)] : null
  ci_dns_servers   = length(var.dns_servers) > 0 ? var.dns_servers : null
  ci_search_domain = local.vms[each.key].own_user_data ? null : var.search_domain

  # Write-only: the secrets a VM's own user-data carries never reach the state or the plan;
  # the snippet is rewritten when user_data_version changes.
  user_data_wo         = lookup(var.user_data, each.key, null)
  user_data_wo_version = each.value.user_data_version

  install_docker        = each.value.docker
  install_node_exporter = each.value.node_exporter
  security_updates      = local.vms[each.key].security_updates
  snippet_storage       = var.snippet_storage

  disk {
    slot     = "scsi0"
    storage  = each.value.storage != null ? each.value.storage : var.storage
    size     = each.value.disk
    iothread = var.disk_iothread
    discard  = var.disk_discard
    ssd      = var.disk_ssd
    backup   = var.disk_backup
  }

  # Data disks are keyed by their slot, so removing one never moves another into its place
  # (which would resize or destroy the wrong volume). Blocks go in slot-number order.
  dynamic "disk" {
    for_each = local.vms[each.key].data_disk_slots
    content {
      slot     = disk.value
      storage  = each.value.storage != null ? each.value.storage : var.storage
      size     = each.value.data_disks[disk.value]
      iothread = var.disk_iothread
      discard  = var.disk_discard
      ssd      = var.disk_ssd
      backup   = var.disk_backup
    }
  }

  network {
    bridge = each.value.bridge != null ? each.value.bridge : var.bridge
    vlan   = each.value.vlan != null ? each.value.vlan : var.vlan
  }

  ip_config {
    ipv4    = each.value.ip
    gateway = local.vms[each.key].gateway
  }

  lifecycle {
    # `started` (default true) is the power state at creation only. Afterwards it belongs to
    # operations: pve-ops expire-lab stops expired lab guests on purpose, and an operator may
    # stop a VM for maintenance; a later `terraform apply` must not start them again.
    ignore_changes = [started]
  }
}

resource "pve_lifecycle_tag" "this" {
  for_each = var.vms

  vmid            = pve_vm.this[each.key].vmid
  environment     = var.environment
  expiration_days = local.vms[each.key].expiration_days
  no_expire       = each.value.no_expire
}

# HA (PVE 9): the VMs named in var.ha.vms (every VM when unset) are HA-managed, and with
# keep_apart a negative resource-affinity rule keeps any two of them off the same node, so one
# node's failure takes at most one (what a cluster's control planes need).
locals {
  ha_vms = var.ha == null ? toset([]) : (var.ha.vms != null ? var.ha.vms : toset(keys(var.vms)))
}

resource "pve_ha_resource" "this" {
  for_each = local.ha_vms

  vmid         = pve_vm.this[each.key].vmid
  max_restart  = var.ha.max_restart
  max_relocate = var.ha.max_relocate
  comment      = "${var.environment}: ${each.key} (managed by Terraform)"
}

resource "pve_ha_rule" "apart" {
  count = var.ha != null && try(var.ha.keep_apart, false) ? 1 : 0

  rule      = coalesce(var.ha.rule, "${var.environment}-${join("-", sort(local.ha_vms))}-apart")
  type      = "resource-affinity"
  affinity  = "negative"
  resources = [for name in sort(local.ha_vms) : pve_ha_resource.this[name].sid]
  comment   = "${var.environment}: keep ${join(", ", sort(local.ha_vms))} on different nodes (managed by Terraform)"
}
