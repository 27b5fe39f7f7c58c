# Prometheus, Alertmanager (to Telegram) and Grafana on one VM, scraping one PVE node.
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

module "monitoring" {
  source = "../.."

  ip                       = "10.10.10.50/24"
  gateway                  = "10.10.10.1"
  ssh_public_keys          = var.ssh_public_keys
  pve_endpoints            = ["pve1.lan"]
  pve_exporter_token_value = var.pve_exporter_token_value
  grafana_deb_sha256       = var.grafana_deb_sha256
  telegram_bot_token       = var.telegram_bot_token
  telegram_chat_id         = "-1001234567890"
  grafana_admin_password   = var.grafana_admin_password
}

output "monitoring_urls" {
  value = module.monitoring.urls
}
