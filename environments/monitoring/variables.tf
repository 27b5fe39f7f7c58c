# Inputs of the monitoring environment: the MinIO state server every environment's backend
# uses, the monitoring stack, and their daily backup. Defaults describe the homelab
# (10.10.10.0/24); secrets and checksums have no defaults and come from terraform.tfvars
# (see terraform.tfvars.example) or TF_VAR_* variables. The secrets are ephemeral: they reach
# only the VMs' write-only user-data, never the state or a plan file (README.md: rotation).
# Monitoring's share of the defaults: VMIDs 110-119 and addresses 10.10.10.20-29 (prod has
# 120-149 / .30-.59, k8s 150-169 / .60-.79, the lab 200 and up).

# --- Shared -----------------------------------------------------------------------

variable "node" {
  description = "Node both VMs are created on."
  type        = string
  default     = "pve1"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", var.node))
    error_message = "node must be a PVE node name (lowercase letters, digits and '-')."
  }
}

variable "template_name" {
  description = "Name of the cloud-init template both VMs are cloned from."
  type        = string
  default     = "ubuntu-2404-cloudinit"

  validation {
    condition     = length(trimspace(var.template_name)) > 0
    error_message = "template_name must not be empty."
  }
}

variable "storage" {
  description = "Storage of the VMs' disks."
  type        = string
  default     = "local-lvm"

  validation {
    condition     = length(trimspace(var.storage)) > 0
    error_message = "storage must not be empty."
  }
}

variable "gateway" {
  description = "IPv4 gateway of the monitoring network."
  type        = string
  default     = "10.10.10.1"

  validation {
    condition     = can(regex("^(\\d{1,3}\\.){3}\\d{1,3}$", var.gateway)) && can(cidrhost("${var.gateway}/32", 0))
    error_message = "gateway must be an IPv4 address."
  }
}

variable "dns_servers" {
  description = "DNS servers of both VMs."
  type        = list(string)
  default     = ["10.10.10.1"]

  validation {
    condition     = alltrue([for s in var.dns_servers : can(cidrhost("${s}/32", 0))])
    error_message = "dns_servers must be IPv4 addresses."
  }
}

variable "ssh_public_keys" {
  description = "SSH public keys allowed to log in to both VMs."
  type        = list(string)

  validation {
    # As strict as the modules' own check, so a bad key fails here, on the root variable.
    condition     = length(var.ssh_public_keys) > 0 && alltrue([for k in var.ssh_public_keys : can(regex("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\\.com) [A-Za-z0-9+/]+={0,3}( .*)?$", trimspace(k)))])
    error_message = "ssh_public_keys must hold at least one OpenSSH public key line (type, base64, optional comment), e.g. the content of ~/.ssh/id_ed25519.pub."
  }
}

variable "backup_storage" {
  description = "Storage the daily backups of both VMs go to (must hold backup content)."
  type        = string
  default     = "backup"

  validation {
    condition     = length(trimspace(var.backup_storage)) > 0
    error_message = "backup_storage must not be empty."
  }
}

# --- MinIO (Terraform state) -----------------------------------------------------------

variable "minio_vmid" {
  description = "Fixed VMID of the MinIO VM, so backups and runbooks can name it."
  type        = number
  default     = 110

  validation {
    condition     = var.minio_vmid >= 100 && var.minio_vmid <= 999999999 && floor(var.minio_vmid) == var.minio_vmid
    error_message = "minio_vmid must be a whole number between 100 and 999999999."
  }
}

variable "minio_ip" {
  description = "Static address of the MinIO VM with prefix length."
  type        = string
  default     = "10.10.10.20/24"

  validation {
    condition     = can(regex("^(\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2}$", var.minio_ip)) && can(cidrhost(var.minio_ip, 0))
    error_message = "minio_ip must be an IPv4 address with prefix length, e.g. 10.10.10.20/24."
  }
}

variable "minio_endpoint_host" {
  description = "DNS name of the MinIO server in every backend's endpoint (must match the TLS certificate); null uses the IP."
  type        = string
  default     = "minio.lan"
}

variable "minio_data_disk_size" {
  description = "GiB of the MinIO data disk (all environments' state with its versions)."
  type        = number
  default     = 20

  validation {
    condition     = var.minio_data_disk_size >= 1 && floor(var.minio_data_disk_size) == var.minio_data_disk_size
    error_message = "minio_data_disk_size must be a whole number of GiB, at least 1."
  }
}

variable "state_environments" {
  description = "Environments whose state the MinIO server holds."
  type        = list(string)
  default     = ["prod", "lab", "k8s", "monitoring"]

  validation {
    condition     = contains(var.state_environments, "monitoring")
    error_message = "state_environments must include monitoring: this environment keeps its own state there."
  }
}

variable "minio_server_sha256" {
  description = "SHA-256 of the pinned MinIO server binary (see modules/minio/README.md)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.minio_server_sha256))
    error_message = "minio_server_sha256 must be 64 lowercase hex digits."
  }
}

variable "minio_client_sha256" {
  description = "SHA-256 of the pinned MinIO client (mc) binary."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.minio_client_sha256))
    error_message = "minio_client_sha256 must be 64 lowercase hex digits."
  }
}

# The secret inputs are ephemeral and deliberately not also `sensitive`: Terraform hides an
# ephemeral value wherever it would hide a sensitive one ("(ephemeral value)"), and a value with
# both marks makes templatefile() fail at random during apply ("function returned an
# inconsistent result": Terraform hashes a value's marks in Go map order; see
# hashicorp/terraform#39138).
variable "minio_root_user" {
  description = "MinIO root user. Ephemeral: never in state or plan; after changing it, bump minio_secrets_version."
  type        = string
  ephemeral   = true

  validation {
    condition     = length(var.minio_root_user) >= 3
    error_message = "minio_root_user must be at least 3 characters."
  }
}

variable "minio_root_password" {
  description = "MinIO root password (12+ characters; no whitespace, quotes, backslash, $ or backtick). Ephemeral: never in state or plan; after changing it, bump minio_secrets_version."
  type        = string
  ephemeral   = true

  validation {
    condition     = length(var.minio_root_password) >= 12
    error_message = "minio_root_password must be at least 12 characters."
  }
}

variable "minio_secrets_version" {
  description = "The MinIO module's secrets_version: bump it (e.g. \"1\" to \"2\") after changing minio_root_user, minio_root_password, minio_tls_private_key or state_credentials, so the VM's user-data snippet is rewritten (a change of a write-only secret alone plans no change)."
  type        = string
  default     = "1"
}

variable "minio_tls_certificate" {
  description = "PEM certificate for minio_endpoint_host; null serves plain HTTP (then use http:// endpoints)."
  type        = string
  default     = null
}

variable "minio_tls_private_key" {
  description = "PEM private key of minio_tls_certificate. Ephemeral: never in state or plan; after changing it, bump minio_secrets_version."
  type        = string
  default     = null
  ephemeral   = true
}

variable "state_credentials" {
  description = "Optional MinIO user per environment ({ access_key, secret_key }), limited to that environment's state. Ephemeral: never in state or plan; after changing it, bump minio_secrets_version."
  type = map(object({
    access_key = string
    secret_key = string
  }))
  default   = {}
  ephemeral = true
}

# --- Monitoring stack -------------------------------------------------------------------

variable "monitoring_vmid" {
  description = "Fixed VMID of the monitoring VM."
  type        = number
  default     = 111

  validation {
    condition     = var.monitoring_vmid >= 100 && var.monitoring_vmid <= 999999999 && floor(var.monitoring_vmid) == var.monitoring_vmid
    error_message = "monitoring_vmid must be a whole number between 100 and 999999999."
  }

  validation {
    condition     = var.monitoring_vmid != var.minio_vmid
    error_message = "monitoring_vmid must differ from minio_vmid."
  }
}

variable "monitoring_ip" {
  description = "Static address of the monitoring VM with prefix length."
  type        = string
  default     = "10.10.10.21/24"

  validation {
    condition     = can(regex("^(\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2}$", var.monitoring_ip)) && can(cidrhost(var.monitoring_ip, 0))
    error_message = "monitoring_ip must be an IPv4 address with prefix length, e.g. 10.10.10.21/24."
  }

  validation {
    condition     = split("/", var.monitoring_ip)[0] != split("/", var.minio_ip)[0]
    error_message = "monitoring_ip must differ from minio_ip."
  }
}

variable "monitoring_disk_size" {
  description = "GiB of the monitoring VM's disk (OS and Prometheus' TSDB)."
  type        = number
  default     = 40

  validation {
    condition     = var.monitoring_disk_size >= 20 && floor(var.monitoring_disk_size) == var.monitoring_disk_size
    error_message = "monitoring_disk_size must be a whole number of GiB, at least 20."
  }
}

variable "pve_endpoints" {
  description = "PVE API hosts the exporter queries (host or host:port)."
  type        = list(string)
  default     = ["pve1.lan"]

  validation {
    condition     = length(var.pve_endpoints) > 0
    error_message = "pve_endpoints must name at least one PVE API host."
  }
}

variable "node_exporter_targets" {
  description = "Other node exporters to scrape, as host:port."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.node_exporter_targets : can(regex(":[0-9]+$", t))])
    error_message = "node_exporter_targets must be host:port."
  }
}

variable "grafana_deb_sha256" {
  description = "SHA-256 of the pinned Grafana .deb (modules/monitoring-stack: grafana_deb_url; Grafana publishes it as <url>.sha256)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.grafana_deb_sha256))
    error_message = "grafana_deb_sha256 must be 64 lowercase hex digits."
  }
}

variable "pve_exporter_token_value" {
  description = "Secret of the exporter's PVE API token (prometheus@pve!monitoring, PVEAuditor role). Ephemeral: never in state or plan; after changing it, bump monitoring_secrets_version."
  type        = string
  ephemeral   = true

  validation {
    condition     = length(var.pve_exporter_token_value) > 0
    error_message = "pve_exporter_token_value must not be empty."
  }
}

variable "pve_ca_certificate" {
  description = "PEM CA certificate of the PVE API (/etc/pve/pve-root-ca.pem); null when it is publicly trusted."
  type        = string
  default     = null
}

variable "prometheus_retention" {
  description = "How long Prometheus keeps samples, e.g. 30d."
  type        = string
  default     = "30d"

  validation {
    condition     = can(regex("^[1-9][0-9]*[dwy]$", var.prometheus_retention))
    error_message = "prometheus_retention must be a duration in days, weeks or years, e.g. 30d."
  }
}

variable "telegram_bot_token" {
  description = "Telegram bot token Alertmanager notifies through. Ephemeral: never in state or plan; after changing it, bump monitoring_secrets_version."
  type        = string
  ephemeral   = true

  validation {
    condition     = length(var.telegram_bot_token) > 0
    error_message = "telegram_bot_token must not be empty."
  }
}

variable "telegram_chat_id" {
  description = "Telegram chat the alerts go to (a string: large ids keep every digit)."
  type        = string

  validation {
    condition     = can(regex("^-?[1-9][0-9]*$", var.telegram_chat_id))
    error_message = "telegram_chat_id must be a non-zero whole number."
  }
}

variable "monitoring_secrets_version" {
  description = "The monitoring stack's secrets_version: bump it after changing pve_exporter_token_value, telegram_bot_token or grafana_admin_password, so the VM's user-data snippet is rewritten."
  type        = string
  default     = "1"
}

variable "grafana_admin_password" {
  description = "Password of Grafana's admin user. Ephemeral: never in state or plan; after changing it, bump monitoring_secrets_version."
  type        = string
  ephemeral   = true

  validation {
    condition     = length(var.grafana_admin_password) >= 12
    error_message = "grafana_admin_password must be at least 12 characters."
  }
}
