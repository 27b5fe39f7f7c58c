locals {
  # An IPv4 address (four decimal octets, 0-255, no leading zeros), written once for every
  # validation in this module (validations may read locals since Terraform 1.9).
  ipv4 = "((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
}

# --- The VM -----------------------------------------------------------------------------------

variable "name" {
  description = "VM name and hostname (a DNS label). Also the instance label of the VM's own node exporter, whose textfile collector carries the pve-ops metrics."
  type        = string
  default     = "monitoring"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.name))
    error_message = "name must be a DNS label: 1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash."
  }
}

variable "node" {
  description = "PVE node to create the VM on. Null: the node holding the template."
  type        = string
  default     = null

  validation {
    condition     = var.node == null ? true : can(regex("^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$", var.node))
    error_message = "node must be a PVE node name (a DNS label), or null for the template's node."
  }
}

variable "vmid" {
  description = "VMID of the VM. Null: the provider allocates a free one."
  type        = number
  default     = null

  validation {
    # try(): Terraform 1.11 evaluates both sides of ||, and null >= 100 is an error. The same
    # guard as modules/vm's.
    condition     = var.vmid == null || try(var.vmid == floor(var.vmid) && var.vmid >= 100 && var.vmid <= 999999999, false)
    error_message = "vmid must be a whole number between 100 and 999999999 (PVE's VMID range), or null."
  }
}

variable "template_name" {
  description = "Name of the cloud-init template to clone (Ubuntu 24.04 or Debian 13: Alertmanager 0.26 or later, systemd credentials), unless template_vmid is set. Formerly template."
  type        = string
  default     = "ubuntu-2404-cloudinit"

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9.-]{0,62}$", var.template_name))
    error_message = "template_name must be a PVE guest name: letters, digits, dots and dashes, at most 63 characters."
  }
}

variable "template_vmid" {
  description = "VMID of the template to clone; skips the lookup by template_name (node is then required)."
  type        = number
  default     = null
}

variable "ip" {
  description = "Static IPv4 address of the VM with prefix length, e.g. 10.10.10.50/24. Static because the URLs, and other machines' firewalls, name it."
  type        = string

  validation {
    condition = (
      can(regex("^${local.ipv4}/([89]|[12][0-9]|30)$", var.ip))
      && can(cidrhost(var.ip, 0))
    )
    error_message = "ip must be an IPv4 address with a prefix length between 8 and 30, e.g. 10.10.10.50/24."
  }

  validation {
    # Both ends of the subnet are not host addresses. try(): the first validation reports a malformed ip.
    condition = try(
      !contains([cidrhost(var.ip, 0), cidrhost(var.ip, -1)], split("/", var.ip)[0]),
      true
    )
    error_message = "ip must be a host address, not the network or broadcast address of its subnet."
  }
}

variable "gateway" {
  description = "IPv4 gateway, inside the subnet of ip."
  type        = string

  validation {
    condition     = can(regex("^${local.ipv4}$", var.gateway))
    error_message = "gateway must be an IPv4 address such as 10.10.10.1."
  }

  validation {
    condition = try(
      cidrhost("${var.gateway}/${split("/", var.ip)[1]}", 0) == cidrhost(var.ip, 0) && var.gateway != split("/", var.ip)[0],
      true
    )
    error_message = "gateway must be in the subnet of ip and differ from the VM's own address."
  }
}

variable "dns_servers" {
  description = "DNS servers for the VM. Empty: PVE passes on the node's."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.dns_servers : can(regex("^${local.ipv4}$", s))])
    error_message = "dns_servers must be IPv4 addresses."
  }
}

variable "bridge" {
  description = "Bridge (or SDN vnet) the VM's NIC is attached to."
  type        = string
  default     = "vmbr0"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$", var.bridge))
    error_message = "bridge must be a Linux interface name (at most 15 characters, starting with a letter)."
  }
}

variable "vlan" {
  description = "VLAN tag of the VM's NIC. Null: untagged."
  type        = number
  default     = null

  validation {
    condition     = var.vlan == null ? true : (floor(var.vlan) == var.vlan && var.vlan >= 1 && var.vlan <= 4094)
    error_message = "vlan must be a whole number between 1 and 4094, or null."
  }
}

variable "cores" {
  description = "CPU cores."
  type        = number
  default     = 2

  validation {
    condition     = floor(var.cores) == var.cores && var.cores >= 1 && var.cores <= 64
    error_message = "cores must be a whole number between 1 and 64."
  }
}

variable "memory" {
  description = "Memory in MiB. Prometheus, Alertmanager, Grafana and the exporters need at least 2048."
  type        = number
  default     = 4096

  validation {
    condition     = floor(var.memory) == var.memory && var.memory >= 2048 && var.memory <= 262144
    error_message = "memory must be a whole number of MiB between 2048 and 262144."
  }
}

variable "disk_size" {
  description = "System disk in GiB (the OS and Prometheus' TSDB). Grows in place; it cannot shrink."
  type        = number
  default     = 40

  validation {
    condition     = floor(var.disk_size) == var.disk_size && var.disk_size >= 20 && var.disk_size <= 4096
    error_message = "disk_size must be a whole number of GiB between 20 and 4096."
  }
}

variable "storage" {
  description = "PVE storage for the system disk. Changing it moves the disk there in place. Formerly disk_storage."
  type        = string
  default     = "local-lvm"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_.-]*$", var.storage))
    error_message = "storage must be a PVE storage id."
  }
}

variable "prometheus_port" {
  description = "Port Prometheus listens on (its web UI and API)."
  type        = number
  default     = 9090

  validation {
    condition     = floor(var.prometheus_port) == var.prometheus_port && var.prometheus_port >= 1024 && var.prometheus_port <= 65535
    error_message = "prometheus_port must be a whole number from 1024 to 65535."
  }
}

variable "alertmanager_port" {
  description = "Port Alertmanager listens on."
  type        = number
  default     = 9093

  validation {
    condition     = floor(var.alertmanager_port) == var.alertmanager_port && var.alertmanager_port >= 1024 && var.alertmanager_port <= 65535
    error_message = "alertmanager_port must be a whole number from 1024 to 65535."
  }
}

variable "grafana_port" {
  description = "Port Grafana listens on."
  type        = number
  default     = 3000

  validation {
    condition     = floor(var.grafana_port) == var.grafana_port && var.grafana_port >= 1024 && var.grafana_port <= 65535
    error_message = "grafana_port must be a whole number from 1024 to 65535."
  }

  validation {
    # The VM's exporters hold 9100 (node) and 9221 (PVE); two services on one port fail to start.
    condition     = length(distinct([var.prometheus_port, var.alertmanager_port, var.grafana_port, 9100, 9221])) == 5
    error_message = "prometheus_port, alertmanager_port and grafana_port must differ from each other and from 9100 and 9221 (the exporters)."
  }
}

variable "snippet_storage" {
  description = "PVE storage with the snippets content type, where the provider writes the user-data (it holds the secrets: keep it local to the node)."
  type        = string
  default     = "local"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_.-]*$", var.snippet_storage))
    error_message = "snippet_storage must be a PVE storage id."
  }
}

variable "on_boot" {
  description = "Start the VM with its node."
  type        = bool
  default     = true
}

variable "protection" {
  description = "PVE protection: destroy fails while set."
  type        = bool
  default     = false
}

variable "environment" {
  description = "Environment of the VM, written as the lifecycle tag environment-<name> (pve_lifecycle_tag; the VM never expires)."
  type        = string
  default     = "monitoring"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,31}$", var.environment))
    error_message = "environment must be 1 to 32 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Extra PVE tags (besides monitoring). Lifecycle tags belong to the environment variable."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.tags : can(regex("^[a-z0-9][a-z0-9_.+-]{0,63}$", t))])
    error_message = "tags must be lowercase PVE tags: letters, digits and _ . + -, at most 64 characters."
  }

  validation {
    # pve_vm ignores these prefixes (pve_lifecycle_tag owns them), so they would never be applied.
    condition     = alltrue([for t in var.tags : !can(regex("^(environment-|expires-|no-expire$)", t))])
    error_message = "tags must not contain lifecycle tags (environment-*, expires-*, no-expire): use the environment variable."
  }
}

# --- Login ------------------------------------------------------------------------------------

variable "user" {
  description = "Login user created by cloud-init (passwordless sudo, key login only)."
  type        = string
  default     = "ubuntu"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.user)) && var.user != "root"
    error_message = "user must be a Linux user name (lowercase, at most 32 characters) other than root."
  }
}

variable "ssh_public_keys" {
  description = "SSH public keys of the login user (trimmed, so file() works). The user has no password, so at least one is needed. Formerly ssh_authorized_keys."
  type        = list(string)

  validation {
    condition = length(var.ssh_public_keys) > 0 && alltrue([
      for k in var.ssh_public_keys :
      can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com) [A-Za-z0-9+/]+={0,3}( [^\\n]*)?$", trimspace(k)))
    ])
    error_message = "ssh_public_keys must hold at least one OpenSSH public key (type, base64, optional comment) on a single line."
  }
}

# --- Scrape targets ---------------------------------------------------------------------------

variable "pve_endpoints" {
  description = "PVE API hosts the exporter queries (job \"pve\"): host names or IPv4 addresses, with :port when not 8006. One per cluster is enough; several give redundancy."
  type        = list(string)

  validation {
    condition = length(var.pve_endpoints) > 0 && alltrue([
      for e in var.pve_endpoints : can(regex("^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?(:[1-9][0-9]{0,4})?$", e))
    ])
    error_message = "pve_endpoints must hold at least one host or host:port, without a scheme or path (e.g. pve1.lan or 10.10.10.2:8006)."
  }

  validation {
    condition     = length(distinct(var.pve_endpoints)) == length(var.pve_endpoints)
    error_message = "pve_endpoints must not repeat an endpoint."
  }
}

variable "node_exporter_targets" {
  description = "Other node exporters to scrape (job \"node\") as host:port. The monitoring VM's own is always scraped."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for t in var.node_exporter_targets : can(regex("^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?:[1-9][0-9]{0,4}$", t))
    ])
    error_message = "node_exporter_targets must be host:port, e.g. 10.10.10.11:9100."
  }

  validation {
    condition     = length(distinct(var.node_exporter_targets)) == length(var.node_exporter_targets)
    error_message = "node_exporter_targets must not repeat a target."
  }
}

variable "pve_exporter_user" {
  description = "PVE user of the exporter's API token, e.g. prometheus@pve (give it the PVEAuditor role only)."
  type        = string
  default     = "prometheus@pve"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+$", var.pve_exporter_user))
    error_message = "pve_exporter_user must be a PVE user id such as prometheus@pve."
  }
}

variable "pve_exporter_token_name" {
  description = "Name of the exporter's API token (the part after ! in prometheus@pve!monitoring)."
  type        = string
  default     = "monitoring"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._-]{0,63}$", var.pve_exporter_token_name))
    error_message = "pve_exporter_token_name must be a PVE token id: a letter, then letters, digits, . _ or -."
  }
}

# The secret inputs are ephemeral and deliberately not also `sensitive`: Terraform hides an
# ephemeral value wherever it would hide a sensitive one ("(ephemeral value)"), and a value with
# both marks makes templatefile() fail at random during apply ("function returned an
# inconsistent result": Terraform hashes a value's marks in Go map order; see
# hashicorp/terraform#39138).
variable "pve_exporter_token_value" {
  description = "Secret of the exporter's API token (the UUID pveum prints). Ephemeral: goes only into the VM's write-only user-data (never the state), root-only on the VM; after changing it, bump secrets_version."
  type        = string
  ephemeral   = true

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.pve_exporter_token_value))
    error_message = "pve_exporter_token_value must be a PVE API token secret (a lowercase UUID)."
  }
}

variable "pve_exporter_verify_tls" {
  description = "Verify the PVE API's certificate. Turning it off is an explicit opt-in; prefer pve_ca_certificate."
  type        = bool
  default     = true
}

variable "pve_ca_certificate" {
  description = "PEM CA certificate of the PVE API (/etc/pve/pve-root-ca.pem), added to the VM's trust store. Null: the API's certificate is publicly trusted."
  type        = string
  default     = null

  validation {
    condition     = var.pve_ca_certificate == null ? true : can(regex("^-----BEGIN CERTIFICATE-----\\n[A-Za-z0-9+/=\\n]+-----END CERTIFICATE-----\\n?$", var.pve_ca_certificate))
    error_message = "pve_ca_certificate must be one PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----), or null."
  }
}

variable "grafana_deb_url" {
  description = "HTTPS URL of the Grafana .deb (amd64), pinned to a release; a local mirror works too."
  type        = string
  default     = "https://dl.grafana.com/oss/release/grafana_11.6.0_amd64.deb"

  validation {
    # Passed to the install script as an argument, and still kept to URL characters.
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%+=,@/-]*)?$", var.grafana_deb_url))
    error_message = "grafana_deb_url must be an https:// URL of a host (and port) and a path of letters, digits and . _ ~ % + = , @ / - (no quotes, spaces or query)."
  }
}

variable "grafana_deb_sha256" {
  description = "SHA-256 of that .deb (64 lowercase hex digits; Grafana publishes it as <url>.sha256). A mismatch stops the install."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.grafana_deb_sha256))
    error_message = "grafana_deb_sha256 must be 64 lowercase hex digits (the SHA-256 of grafana_deb_url)."
  }
}

variable "pve_exporter_version" {
  description = "Version of prometheus-pve-exporter installed from PyPI (3.x: the module passes --config.file and --web.listen-address)."
  type        = string
  default     = "3.5.5"

  validation {
    condition     = can(regex("^3\\.[0-9]+\\.[0-9]+$", var.pve_exporter_version))
    error_message = "pve_exporter_version must be a 3.x release such as 3.5.5 (2.x has another command line)."
  }
}

# --- Prometheus, Alertmanager, Grafana --------------------------------------------------------

variable "prometheus_retention" {
  description = "How long Prometheus keeps samples, e.g. 30d or 8w. Size disk_size for it."
  type        = string
  default     = "30d"

  validation {
    condition     = can(regex("^[1-9][0-9]{0,3}[dwy]$", var.prometheus_retention))
    error_message = "prometheus_retention must be a Prometheus duration in days, weeks or years, e.g. 30d, 8w or 1y."
  }
}

variable "telegram_bot_token" {
  description = "Telegram bot token (from @BotFather) Alertmanager notifies through. Ephemeral: goes only into the VM's write-only user-data (never the state), root-only on the VM, never into a rendered config; after changing it, bump secrets_version."
  type        = string
  ephemeral   = true

  validation {
    condition     = can(regex("^[0-9]{5,16}:[A-Za-z0-9_-]{30,64}$", var.telegram_bot_token))
    error_message = "telegram_bot_token must look like a bot token: digits, a colon, then 30 to 64 of A-Z a-z 0-9 _ -."
  }
}

variable "telegram_chat_id" {
  description = "Telegram chat the alerts go to: a user's id, or a group's (negative, e.g. -1001234567890). A string, so large ids keep every digit."
  type        = string

  validation {
    condition     = can(regex("^-?[1-9][0-9]{0,19}$", var.telegram_chat_id))
    error_message = "telegram_chat_id must be a non-zero whole number, e.g. 123456789 or -1001234567890."
  }
}

variable "grafana_admin_password" {
  description = "Password of Grafana's admin user, applied when Grafana first creates its database. Ephemeral: goes only into the VM's write-only user-data (never the state), root-only on the VM; after changing it, bump secrets_version."
  type        = string
  ephemeral   = true

  validation {
    condition     = length(var.grafana_admin_password) >= 12 && length(var.grafana_admin_password) <= 128 && can(regex("^[^\\s]+$", var.grafana_admin_password))
    error_message = "grafana_admin_password must be 12 to 128 characters without whitespace."
  }
}

variable "secrets_version" {
  description = "Part of the VM's user_data_wo_version: bump it (e.g. \"1\" to \"2\") to rewrite the user-data snippet after changing telegram_bot_token, grafana_admin_password or pve_exporter_token_value. Those are write-only, never compared by Terraform, so a change of a secret alone plans no change; every other input that changes the user-data changes the version by itself."
  type        = string
  default     = "1"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.secrets_version))
    error_message = "secrets_version must be 1 to 64 letters, digits, dots, underscores or hyphens, e.g. \"2\" or \"2026-12-01\"."
  }
}
