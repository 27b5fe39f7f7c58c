# Only identifiers, addresses and sizes: root_password and ssh_public_keys are write-only and
# never reach an output.

output "containers" {
  description = <<-EOT
    Every container by hostname: vmid, node, current_node (where it runs now; it changes with
    every HA migration, so a root output should not re-export it), ip (address without prefix,
    null for DHCP), cidr, gateway, tags, cores, memory (MiB), disk (rootfs GiB), storage,
    mount_points (path => GiB), unprivileged, nesting, keyctl, security_updates, on_boot,
    protection, environment, expiration_days, no_expire and expires (null outside the lab).
  EOT
  value = {
    for name, ct in pve_lxc.this : name => {
      vmid             = ct.vmid
      node             = ct.node
      current_node     = ct.current_node
      ip               = local.containers[name].address
      cidr             = var.containers[name].ip
      gateway          = local.containers[name].gateway
      tags             = ct.tags
      cores            = ct.cores
      memory           = ct.memory
      disk             = ct.rootfs.size
      storage          = ct.rootfs.storage
      mount_points     = { for m in ct.mount_point : m.path => m.size }
      unprivileged     = ct.unprivileged
      nesting          = ct.nesting
      keyctl           = ct.keyctl
      security_updates = ct.security_updates
      on_boot          = ct.on_boot
      protection       = ct.protection
      environment      = pve_lifecycle_tag.this[name].environment
      expiration_days  = pve_lifecycle_tag.this[name].expiration_days
      no_expire        = pve_lifecycle_tag.this[name].no_expire
      expires          = pve_lifecycle_tag.this[name].expires
    }
  }
}

output "vmids" {
  description = "VMIDs of all containers in hostname order (e.g. for a backup job's vmids)."
  value       = [for ct in pve_lxc.this : ct.vmid]
}

output "ips" {
  description = "Static IPv4 address (without prefix) of each container that has one."
  value       = { for name, ct in local.containers : name => ct.address if ct.static }
}
