# No output carries a secret: the secret inputs are ephemeral (Terraform refuses an output built
# from them) and the user-data goes only into the write-only pve_vm.this.user_data_wo.

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

output "user_data_version" {
  description = "The VM's user_data_wo_version: <secrets_version>:<sha256 of the user-data with every secret replaced by a stand-in>. It changes with every non-secret input that changes the user-data, and with secrets_version; it reveals no secret."
  value       = local.user_data_version
}
