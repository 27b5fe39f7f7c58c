# LXC containers, one pve_lxc per entry of var.containers, each with a pve_lifecycle_tag carrying
# its environment (and, in the lab, its expiry).

locals {
  containers = {
    for name, c in var.containers : name => {
      # Placement depends only on node inputs, never on network or DNS settings, so editing
      # those updates the container in place instead of replacing it.
      node    = c.node != null ? c.node : var.node
      storage = c.storage != null ? c.storage : var.storage
      static  = c.ip != "dhcp"
      address = c.ip == "dhcp" ? null : split("/", c.ip)[0]
      gateway = c.ip == "dhcp" ? null : try(coalesce(c.gateway, var.gateway), null)
      # PVE stores tags lowercased and de-duplicated; handing it the same form keeps plans quiet.
      tags             = length(c.tags) > 0 ? toset([for t in c.tags : lower(t)]) : null
      unprivileged     = c.unprivileged != null ? c.unprivileged : var.unprivileged
      nesting          = c.nesting != null ? c.nesting : var.nesting
      security_updates = c.security_updates != null ? c.security_updates : var.security_updates
      expiration_days  = var.environment == "lab" && !c.no_expire ? (c.expiration_days != null ? c.expiration_days : var.expiration_days) : null
      # Mount points with their id as slot, in numeric order (mp2 before mp10), not the map's
      # lexical one.
      mount_points = [
        for k in sort([for id in keys(c.mount_points) : format("%03d|%s", try(tonumber(trimprefix(id, "mp")), 999), id)]) :
        merge(c.mount_points[split("|", k)[1]], { slot = split("|", k)[1] })
      ]
    }
  }
}

resource "pve_lxc" "this" {
  for_each = var.containers

  hostname    = each.key
  node        = local.containers[each.key].node
  vmid        = each.value.vmid
  description = each.value.description
  # Lifecycle tags are not listed here: pve_lifecycle_tag owns them and pve_lxc keeps them.
  tags       = local.containers[each.key].tags
  pool       = each.value.pool != null ? each.value.pool : var.pool
  on_boot    = each.value.on_boot != null ? each.value.on_boot : var.on_boot
  started    = each.value.started
  protection = each.value.protection != null ? each.value.protection : var.protection
  startup    = each.value.startup

  # Write-only sources and credentials: read at creation, never stored or compared.
  # (No clone_vmid: the provider's validation sees both sources as set while for_each values are
  # still unknown, so containers are always built from a template volume.)
  template_volume = each.value.template_volume != null ? each.value.template_volume : var.template_volume
  password        = var.root_password
  # Trimmed: file("~/.ssh/id_ed25519.pub") keeps the trailing newline.
  ssh_public_keys = length(var.ssh_public_keys) > 0 ? [for k in var.ssh_public_keys : trimspace(k)] : null

  unprivileged = local.containers[each.key].unprivileged
  nesting      = local.containers[each.key].nesting
  keyctl       = each.value.keyctl
  fuse         = each.value.fuse

  cores  = each.value.cores
  memory = each.value.memory
  swap   = each.value.swap

  dns_servers       = length(var.dns_servers) > 0 ? var.dns_servers : null
  dns_search_domain = var.search_domain

  security_updates = local.containers[each.key].security_updates
  snippet_storage  = var.snippet_storage

  rootfs {
    storage = local.containers[each.key].storage
    size    = each.value.disk
  }

  # Mount points are keyed by their id (mp0, mp1, ...), so removing one never moves another
  # into its slot (which would resize or destroy the wrong volume).
  dynamic "mount_point" {
    for_each = local.containers[each.key].mount_points
    content {
      slot    = mount_point.value.slot
      storage = mount_point.value.storage != null ? mount_point.value.storage : local.containers[each.key].storage
      size    = mount_point.value.size
      path    = mount_point.value.path
      backup  = mount_point.value.backup
    }
  }

  network {
    name     = "eth0"
    bridge   = each.value.bridge != null ? each.value.bridge : var.bridge
    vlan     = each.value.vlan != null ? each.value.vlan : var.vlan
    firewall = each.value.firewall
    ipv4     = each.value.ip
    gateway  = local.containers[each.key].gateway
  }

  lifecycle {
    # `started` (default true) is the power state at creation only. Afterwards it belongs to
    # operations: pve-ops expire-lab stops expired lab containers on purpose, and an operator
    # may stop one for maintenance; a later `terraform apply` must not start them again.
    ignore_changes = [started]
  }
}

resource "pve_lifecycle_tag" "this" {
  for_each = var.containers

  vmid            = pve_lxc.this[each.key].vmid
  environment     = var.environment
  expiration_days = local.containers[each.key].expiration_days
  no_expire       = each.value.no_expire
}
