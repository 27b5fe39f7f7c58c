# A plain-HTTP state server on a static address (add TLS for anything but a trusted LAN).
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

variable "minio_server_sha256" {
  description = "SHA-256 of the pinned MinIO server binary (modules/minio/README.md: how to get it)."
  type        = string
}

variable "minio_client_sha256" {
  description = "SHA-256 of the pinned mc binary."
  type        = string
}

variable "minio_root_password" {
  description = "MinIO root password (ephemeral: only in the write-only user-data). From TF_VAR_minio_root_password."
  type        = string
  ephemeral   = true
}

module "minio" {
  source = "../.."

  node            = "pve1"
  template_vmid   = 9000
  ip              = "10.10.10.20/24"
  gateway         = "10.10.10.1"
  ssh_public_keys = var.ssh_public_keys

  minio_server_sha256 = var.minio_server_sha256
  minio_client_sha256 = var.minio_client_sha256
  root_user           = "tfadmin"
  root_password       = var.minio_root_password
}

output "backend_config" {
  value = module.minio.backend_config
}
