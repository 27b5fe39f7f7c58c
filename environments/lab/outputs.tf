# Root outputs hold only what a plan cannot change by itself: no node status, no "next free
# VMID", no current_node (it follows every HA migration). Anything volatile here would show as
# an output change on every `terraform plan`.

output "proxmox_version" {
  description = "Proxmox VE version of the cluster."
  value       = data.pve_version.cluster.version
}

output "vm_disk_storages" {
  description = "Storages that can hold VM disks."
  value       = [for s in data.pve_storages.vm_disks.storages : s.name]
}

output "template" {
  description = "The template lab VMs are cloned from."
  value       = { vmid = data.pve_template.ubuntu.vmid, node = data.pve_template.ubuntu.node }
}

output "sandbox" {
  description = "The lab sandbox VM: vmid, the node it was created on, and when it expires."
  value = {
    vmid    = module.vms.vms["lab-sandbox"].vmid
    node    = module.vms.vms["lab-sandbox"].node
    expires = module.vms.vms["lab-sandbox"].expires
  }
}

output "vms" {
  description = "Every lab VM by name (vmid, node, ip, expires, ...)."
  value       = { for name, vm in module.vms.vms : name => { for k, v in vm : k => v if k != "current_node" } }
}

output "containers" {
  description = "Every lab container by hostname (empty when there are none)."
  value       = { for name, ct in merge(module.containers[*].containers...) : name => { for k, v in ct : k => v if k != "current_node" } }
}

output "backup_job" {
  description = "The weekly lab backup job: ID, schedule and retention."
  value       = { id = module.backup.id, schedule = module.backup.schedule, retention = module.backup.retention }
}
