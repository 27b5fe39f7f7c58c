# Compliant fixtures for checkov-policies/ (check.sh): every policy must pass here and fail on none.
# Never applied; not part of modules/ or environments/, so the main checkov run does not scan it.

variable "pve_api_token" {
  type      = string
  sensitive = true
}

variable "guest_password" {
  type      = string
  default   = null
  sensitive = true
}

# Everything from PVE_* environment variables.
provider "pve" {}

# TLS verified explicitly, a private CA, credentials by reference.
provider "pve" {
  alias     = "explicit"
  endpoint  = "https://pve1.lan:8006"
  insecure  = false
  ca_file   = "/etc/pve/pve-root-ca.pem"
  api_token = var.pve_api_token
}

# Ticket authentication with the password read from a file.
provider "pve" {
  alias    = "ticket"
  username = "terraform@pve"
  password = trimspace(file("/run/secrets/pve-password"))
}

resource "pve_backup_job" "counts" {
  schedule = "*-*-* 01:00"
  storage  = "backup"
  vmids    = [101]

  retention {
    keep_daily  = 7
    keep_weekly = 4
  }
}

resource "pve_backup_job" "keep_all" {
  schedule = "sun 03:00"
  storage  = "backup"
  all      = true
  enabled  = true

  retention {
    keep_all = true
  }
}

resource "pve_vm" "protected" {
  node        = "pve1"
  name        = "protected"
  protection  = true
  ci_password = var.guest_password
}

resource "pve_vm" "unprotected_on_purpose" {
  node       = "pve1"
  name       = "scratch"
  protection = false
}

resource "pve_lxc" "default_unprivileged" {
  node       = "pve1"
  hostname   = "dns1"
  protection = true
  password   = var.guest_password
}

resource "pve_lxc" "explicit_unprivileged" {
  node         = "pve1"
  hostname     = "proxy1"
  unprivileged = true
  protection   = false
}
