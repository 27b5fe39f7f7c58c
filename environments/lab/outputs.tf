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

output "lab_guests" {
  description = "Guests tagged lab."
  value       = [for g in data.pve_guests.lab.guests : "${g.vmid} ${g.name} (${g.status})"]
}

output "next_free_vmid" {
  description = "First free VMID in the lab range."
  value       = data.pve_next_vmid.lab.vmid
}
