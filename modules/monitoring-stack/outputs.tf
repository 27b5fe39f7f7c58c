output "vmid" {
  description = "VMID of the monitoring VM."
  value       = pve_vm.this.vmid
}

output "ip" {
  description = "IPv4 address of the monitoring VM (without the prefix length)."
  value       = local.address
}

output "urls" {
  description = "URLs of Prometheus, Alertmanager and Grafana (plain HTTP on the VM's address)."
  value       = local.urls
}
