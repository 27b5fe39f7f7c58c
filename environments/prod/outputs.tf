# No current_node in root outputs: it follows every HA migration, so each plan would show an
# output change. `node` is where a guest was created.

output "vms" {
  description = "Prod VMs by name: vmid, node (where it was created), ip and sizes."
  value       = { for name, vm in module.vms.vms : name => { for k, v in vm : k => v if k != "current_node" } }
}

output "containers" {
  description = "Prod containers by hostname: vmid, node (where it was created), ip and sizes."
  value       = { for name, ct in merge(module.containers[*].containers...) : name => { for k, v in ct : k => v if k != "current_node" } }
}

output "addresses" {
  description = "Static address of every prod guest, VMs and containers together (e.g. for DNS records)."
  value       = merge(module.vms.ips, merge(module.containers[*].ips...))
}

output "backup_job" {
  description = "The daily prod backup job: ID, schedule, retention and the VMIDs it covers."
  value = {
    id        = module.backup.id
    schedule  = module.backup.schedule
    retention = module.backup.retention
    vmids     = module.backup.selection.vmids
  }
}
