# No output carries a secret: the secret inputs are ephemeral (Terraform refuses an output built
# from them) and the user-data goes only into the write-only user_data_wo of module.vm.

output "vmid" {
  description = "VMID of the monitoring VM."
  value       = module.vm.vms["monitoring"].vmid
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

output "vm" {
  description = "The VM as modules/vm reports it (vmid, node, current_node, ip, tags, sizes, environment, no_expire, ...): no secrets."
  value       = module.vm.vms["monitoring"]
}
