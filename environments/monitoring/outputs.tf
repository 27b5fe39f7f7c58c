output "minio_endpoint" {
  description = "S3 endpoint of the state server."
  value       = module.minio.endpoint
}

output "minio_console_url" {
  description = "MinIO web console."
  value       = module.minio.console_url
}

output "minio_backend_config" {
  description = "Per environment, the settings of its S3 backend (bucket, key, endpoints.s3, use_path_style, use_lockfile): the source of each environment's backend.hcl."
  value       = module.minio.backend_config
}

output "minio" {
  description = "The MinIO VM: vmid, address, buckets and the user_data_wo_version of its user-data (<secrets_version>:<sha256>, no secret)."
  value = {
    vmid              = module.minio.vmid
    ip                = module.minio.ip
    buckets           = module.minio.bucket_names
    user_data_version = module.minio.user_data_version
  }
}

output "monitoring" {
  description = "The monitoring VM: vmid, address, the URLs of Prometheus, Alertmanager and Grafana, and the user_data_wo_version of its user-data (<secrets_version>:<sha256>, no secret)."
  value = {
    vmid              = module.monitoring.vmid
    ip                = module.monitoring.ip
    urls              = module.monitoring.urls
    user_data_version = module.monitoring.user_data_version
  }
}

output "backup_job" {
  description = "The daily monitoring backup job: ID, schedule, retention and the VMIDs it covers."
  value = {
    id        = module.backup.id
    schedule  = module.backup.schedule
    retention = module.backup.retention
    vmids     = module.backup.selection.vmids
  }
}
