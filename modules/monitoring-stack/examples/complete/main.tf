# As minimal, plus a pinned node and VMID, the cluster's CA, the nodes' exporters and a retention.
terraform {
  required_version = ">= 1.11"
  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}

provider "pve" {} # endpoint and token from PVE_ENDPOINT and PVE_API_TOKEN

variable "ssh_public_keys" {
  description = "Your public key lines, e.g. [file(\"~/.ssh/id_ed25519.pub\")] (the trailing newline is trimmed)."
  type        = list(string)
}

variable "grafana_deb_sha256" {
  description = "SHA-256 of the pinned Grafana .deb (curl -fsSL <grafana_deb_url>.sha256)."
  type        = string
}

variable "pve_exporter_token_value" {
  description = "Secret of the token prometheus@pve!monitoring (pveum user token add prometheus@pve monitoring); ephemeral."
  type        = string
  ephemeral   = true
}

variable "telegram_bot_token" {
  description = "Token from BotFather (ephemeral)."
  type        = string
  ephemeral   = true
}

variable "grafana_admin_password" {
  description = "Grafana admin password (ephemeral)."
  type        = string
  ephemeral   = true
}

variable "pve_ca_certificate" {
  description = "The cluster's CA (/etc/pve/pve-root-ca.pem), e.g. file(\"pve-root-ca.pem\")."
  type        = string
}

module "monitoring" {
  source = "../.."

  node                     = "pve1"
  vmid                     = 111
  ip                       = "10.10.10.50/24"
  gateway                  = "10.10.10.1"
  dns_servers              = ["10.10.10.1"]
  ssh_public_keys          = var.ssh_public_keys
  pve_endpoints            = ["pve1.lan", "pve2.lan"]
  pve_ca_certificate       = var.pve_ca_certificate
  pve_exporter_token_value = var.pve_exporter_token_value
  grafana_deb_sha256       = var.grafana_deb_sha256
  node_exporter_targets    = ["10.10.10.11:9100", "10.10.10.12:9100"]
  prometheus_retention     = "30d"
  telegram_bot_token       = var.telegram_bot_token
  telegram_chat_id         = "-1001234567890"
  grafana_admin_password   = var.grafana_admin_password
  environment              = "monitoring"
  secrets_version          = "1" # bump after rotating a secret
}

output "monitoring_urls" {
  value = module.monitoring.urls
}
