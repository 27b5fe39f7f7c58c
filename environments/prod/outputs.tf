output "vms" {
  description = "Prod VMs by name: vmid, node, ip and sizes."
  value       = module.vms.vms
}

output "containers" {
  description = "Prod containers by hostname: vmid, node, ip and sizes."
  value       = merge(module.containers[*].containers...)
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
