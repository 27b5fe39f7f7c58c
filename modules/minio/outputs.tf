# No output carries a secret: the rendered user-data (root password, TLS key, the environment
# users' keys) stays in pve_vm.this.user_data, which the provider marks sensitive. A sensitive
# output would still print in `terraform output -json`.

output "vmid" {
  description = "VMID of the MinIO VM."
  value       = pve_vm.this.vmid
}

output "node" {
  description = "Node the MinIO VM was created on."
  value       = pve_vm.this.node
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
