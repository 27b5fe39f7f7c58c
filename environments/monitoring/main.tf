# The monitoring environment: the MinIO server that holds every environment's Terraform state
# (this one's too), the monitoring stack (Prometheus, Alertmanager, Grafana), and one daily
# backup job for both (monitoring policy: 02:00, 7 daily).

data "pve_template" "ubuntu" {
  name = var.template_name
}

module "minio" {
  source = "../../modules/minio"

  node          = var.node
  vmid          = var.minio_vmid
  template_vmid = data.pve_template.ubuntu.vmid
  storage       = var.storage

  ip              = var.minio_ip
  gateway         = var.gateway
  dns_servers     = var.dns_servers
  endpoint_host   = var.minio_endpoint_host
  ssh_public_keys = var.ssh_public_keys
  data_disk_size  = var.minio_data_disk_size

  minio_server_sha256 = var.minio_server_sha256
  minio_client_sha256 = var.minio_client_sha256
  root_user           = var.minio_root_user
  root_password       = var.minio_root_password
  tls_certificate     = var.minio_tls_certificate
  tls_private_key     = var.minio_tls_private_key
  secrets_version     = var.minio_secrets_version

  environments            = var.state_environments
  environment_credentials = var.state_credentials
}

# The state server's lifecycle tag (environment monitoring, never expiring) was set here; the
# module sets it now, through modules/vm.
moved {
  from = pve_lifecycle_tag.minio
  to   = module.minio.module.vm.pve_lifecycle_tag.this["minio"]
}

module "monitoring" {
  source = "../../modules/monitoring-stack"

  node          = var.node
  vmid          = var.monitoring_vmid
  template_name = var.template_name
  storage       = var.storage
  disk_size     = var.monitoring_disk_size

  ip              = var.monitoring_ip
  gateway         = var.gateway
  dns_servers     = var.dns_servers
  ssh_public_keys = var.ssh_public_keys

  pve_endpoints            = var.pve_endpoints
  node_exporter_targets    = var.node_exporter_targets
  pve_exporter_token_value = var.pve_exporter_token_value
  grafana_deb_sha256       = var.grafana_deb_sha256
  pve_ca_certificate       = var.pve_ca_certificate
  prometheus_retention     = var.prometheus_retention

  telegram_bot_token     = var.telegram_bot_token
  telegram_chat_id       = var.telegram_chat_id
  grafana_admin_password = var.grafana_admin_password
  secrets_version        = var.monitoring_secrets_version
}

# Both VMs, daily at 02:00, keeping 7 daily backups (the module's monitoring policy). Snapshot
# mode: MinIO keeps serving state while the backup runs (the guest agent freezes the file
# systems for the snapshot).
module "backup" {
  source = "../../modules/backup"

  environment = "monitoring"
  storage     = var.backup_storage
  vmids       = [module.minio.vmid, module.monitoring.vmid]
  comment     = "Terraform state (MinIO) and monitoring, managed by environments/monitoring."
}
