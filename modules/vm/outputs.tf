# Only identifiers, addresses and sizes: ci_password is write-only and never reaches an output.

output "vms" {
  description = <<-EOT
    Every VM by name: vmid, node (where it was created), current_node (where it runs now; it
    changes with every HA migration, so a root output should not re-export it), ip (address
    without prefix, null for DHCP), cidr, gateway, tags, cores, memory (MiB), disk (boot disk
    GiB), data_disks (slot => GiB), storage, cpu_type, scsihw, iothread, balloon, docker,
    node_exporter, security_updates, on_boot, protection, environment, expiration_days,
    no_expire and expires (null outside the lab).
  EOT
  value = {
    for name, vm in pve_vm.this : name => {
      vmid             = vm.vmid
      node             = vm.node
      current_node     = vm.current_node
      ip               = local.vms[name].address
      cidr             = var.vms[name].ip
      gateway          = local.vms[name].gateway
      tags             = vm.tags
      cores            = vm.cores
      memory           = vm.memory
      disk             = vm.disk[0].size
      data_disks       = { for d in slice(vm.disk, 1, length(vm.disk)) : d.slot => d.size }
      storage          = vm.disk[0].storage
      cpu_type         = vm.cpu_type
      scsihw           = vm.scsihw
      iothread         = vm.disk[0].iothread
      balloon          = vm.balloon
      docker           = vm.install_docker
      node_exporter    = vm.install_node_exporter
      security_updates = vm.security_updates
      on_boot          = vm.on_boot
      protection       = vm.protection
      environment      = pve_lifecycle_tag.this[name].environment
      expiration_days  = pve_lifecycle_tag.this[name].expiration_days
      no_expire        = pve_lifecycle_tag.this[name].no_expire
      expires          = pve_lifecycle_tag.this[name].expires
    }
  }
}

output "vmids" {
  description = "VMIDs of all VMs in name order (e.g. for a backup job's vmids)."
  value       = [for vm in pve_vm.this : vm.vmid]
}

output "ips" {
  description = "Static IPv4 address (without prefix) of each VM that has one."
  value       = { for name, vm in local.vms : name => vm.address if vm.static }
}

output "template_vmid" {
  description = "VMID of the template the VMs were cloned from (module-wide; a VM's own template_vmid overrides it)."
  value       = local.template_vmid
}

output "ha_resources" {
  description = "The HA-managed VMs by name, with their HA resource ID (`vm:VMID`)."
  value       = { for name, ha in pve_ha_resource.this : name => ha.sid }
}

output "ha_rule" {
  description = "ID of the negative resource-affinity rule that keeps the HA VMs apart (null without ha.keep_apart)."
  value       = one(pve_ha_rule.apart[*].rule)
}

output "pve_vm" {
  description = "The pve_vm resources by VM key, whole: for the modules built on this one (minio, monitoring-stack) and their tests, which cannot read a child module's resources otherwise. Sensitive because pve_vm is (user_data); write-only values are null in it."
  value       = pve_vm.this
  sensitive   = true
}

output "pve_lifecycle_tag" {
  description = "The pve_lifecycle_tag resources by VM key (environment, expiry), for the modules built on this one and their tests."
  value       = pve_lifecycle_tag.this
}
