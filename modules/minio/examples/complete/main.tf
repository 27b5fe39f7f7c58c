# TLS under a host name, one user per environment limited to its own state, a bigger data disk.
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

variable "minio_tls_certificate" {
  description = "Certificate (PEM) for minio.lan, e.g. file(\"minio.lan.crt\")."
  type        = string
}

variable "minio_tls_private_key" {
  description = "Its private key (ephemeral). From TF_VAR_minio_tls_private_key."
  type        = string
  ephemeral   = true
}

variable "state_credentials" {
  description = "One MinIO user per environment: { prod = { access_key, secret_key }, ... } (ephemeral)."
  type        = map(object({ access_key = string, secret_key = string }))
  ephemeral   = true
}

module "minio" {
  source = "../.."

  node            = "pve1"
  template_vmid   = 9000
  ip              = "10.10.10.20/24"
  gateway         = "10.10.10.1"
  dns_servers     = ["10.10.10.1"]
  endpoint_host   = "minio.lan"
  ssh_public_keys = var.ssh_public_keys
  data_disk_size  = 50

  minio_server_sha256 = var.minio_server_sha256
  minio_client_sha256 = var.minio_client_sha256
  root_user           = "tfadmin"
  root_password       = var.minio_root_password
  tls_certificate     = var.minio_tls_certificate
  tls_private_key     = var.minio_tls_private_key
  secrets_version     = "1" # bump after rotating a secret

  environments            = ["prod", "lab", "monitoring", "k8s"]
  environment_credentials = var.state_credentials
}

output "endpoint" {
  value = module.minio.endpoint
}
