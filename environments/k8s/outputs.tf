output "control_planes" {
  description = "Control-plane VMs by name: vmid, node and ip."
  value       = { for name in keys(local.control_planes) : name => { vmid = module.vms.vms[name].vmid, node = module.vms.vms[name].node, ip = module.vms.vms[name].ip } }
}

output "workers" {
  description = "Worker VMs by name: vmid, node and ip."
  value       = { for name in keys(local.workers) : name => { vmid = module.vms.vms[name].vmid, node = module.vms.vms[name].node, ip = module.vms.vms[name].ip } }
}

output "vms" {
  description = "Every Kubernetes VM with the details from the vm module, except current_node (it follows every HA migration, so each plan would show an output change)."
  value       = { for name, vm in module.vms.vms : name => { for k, v in vm : k => v if k != "current_node" } }
}

output "api_endpoints" {
  description = "Addresses of the control planes (for the API server load balancer or kube-vip)."
  value       = [for name in keys(local.control_planes) : module.vms.vms[name].ip]
}

output "backup_job" {
  description = "The control-plane backup job."
  value       = { id = module.backup.id, schedule = module.backup.schedule, retention = module.backup.retention }
}
