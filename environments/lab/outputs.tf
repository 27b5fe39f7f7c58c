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
  value       = { vmid = pve_vm.sandbox.vmid, node = pve_vm.sandbox.current_node, expires = pve_lifecycle_tag.sandbox.expires }
}
