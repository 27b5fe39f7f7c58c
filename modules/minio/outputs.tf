# No output carries a secret: the rendered user-data (root password, TLS key, the environment
# users' keys) goes only into module.vm (user_data_wo), which is write-only (never in state or
# plan), and the secret inputs are ephemeral, so Terraform refuses any output built from them.

output "vmid" {
  description = "VMID of the MinIO VM."
  value       = module.vm.vms["minio"].vmid
}

output "node" {
  description = "Node the MinIO VM was created on."
  value       = module.vm.vms["minio"].node
}

output "ip" {
  description = "IPv4 address of the MinIO VM (without prefix length)."
  value       = local.ip
}

output "endpoint" {
  description = "S3 endpoint URL, e.g. https://minio.lan:9000 (http:// without TLS)."
  value       = local.endpoint
}

output "console_url" {
  description = "URL of the MinIO web console, or null when it is turned off."
  value       = local.console_url
}

output "tls_enabled" {
  description = "Whether MinIO serves HTTPS."
  value       = local.tls
}

output "bucket_names" {
  description = "Names of the state buckets (one, or one per environment)."
  value       = local.bucket_names
}

output "buckets" {
  description = "Bucket of each environment."
  value       = local.buckets
}

output "backend_config" {
  description = "Per environment, the settings of its S3 backend (for a backend.hcl; credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)."
  value = {
    for env in var.environments : env => {
      bucket         = local.buckets[env]
      key            = local.state_keys[env]
      endpoints      = { s3 = local.endpoint }
      use_path_style = true
      use_lockfile   = true
    }
  }
}

output "user_data_version" {
  description = "The VM's user_data_wo_version: <secrets_version>:<sha256 of the user-data with every secret replaced by a stand-in>. It changes with every non-secret input that changes the user-data, and with secrets_version; it reveals no secret."
  value       = local.user_data_version
}

output "vm" {
  description = "The VM as modules/vm reports it (vmid, node, current_node, ip, tags, sizes, environment, no_expire, ...): no secrets."
  value       = module.vm.vms["minio"]
}
