output "proxmox_version" {
  description = "Proxmox VE version of the cluster."
  value       = data.pve_version.cluster.version
}

output "nodes" {
  description = "Online state of every node."
  value       = { for n in data.pve_nodes.all.nodes : n.name => n.status }
}

output "vm_disk_storages" {
  description = "Storages that can hold VM disks."
  value       = [for s in data.pve_storages.vm_disks.storages : s.name]
}

output "template" {
  description = "The template lab VMs are cloned from."
  value       = { vmid = data.pve_template.ubuntu.vmid, node = data.pve_template.ubuntu.node }
}

output "next_free_vmid" {
  description = "First free VMID in the lab range."
  value       = data.pve_next_vmid.lab.vmid
}

output "sandbox" {
  description = "The lab sandbox VM and when it expires."
  value = {
    vmid    = module.vms.vms["lab-sandbox"].vmid
    node    = module.vms.vms["lab-sandbox"].current_node
    expires = module.vms.vms["lab-sandbox"].expires
  }
}

output "vms" {
  description = "Every lab VM by name (vmid, node, ip, expires, ...)."
  value       = module.vms.vms
}

output "containers" {
  description = "Every lab container by hostname (empty when there are none)."
  value       = merge(module.containers[*].containers...)
}

output "backup_job" {
  description = "The weekly lab backup job: ID, schedule and retention."
  value       = { id = module.backup.id, schedule = module.backup.schedule, retention = module.backup.retention }
}
