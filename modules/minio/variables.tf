locals {
  # An IPv4 address (four decimal octets, 0-255, no leading zeros), written once for every
  # validation in this module (validations may read locals since Terraform 1.9).
  ipv4 = "((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
}

# --- The VM -------------------------------------------------------------------

variable "name" {
  description = "VM name and hostname of the MinIO server."
  type        = string
  default     = "minio"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.name))
    error_message = "name must be a DNS label: lowercase letters, digits and hyphens, 1-63 characters, no leading or trailing hyphen."
  }
}

variable "node" {
  description = "Proxmox VE node the VM is created on (changing it replaces the VM)."
  type        = string

  validation {
    condition     = length(trimspace(var.node)) > 0
    error_message = "node must not be empty."
  }
}

variable "vmid" {
  description = "VMID of the VM; null lets the provider allocate one."
  type        = number
  default     = null

  validation {
    # try(): Terraform 1.11 evaluates both sides of ||, and null >= 100 is an error. The same
    # guard as modules/vm's.
    condition     = var.vmid == null || try(var.vmid == floor(var.vmid) && var.vmid >= 100 && var.vmid <= 999999999, false)
    error_message = "vmid must be a whole number between 100 and 999999999 (PVE's VMID range), or null."
  }
}

variable "template_vmid" {
  description = "VMID of the cloud-init template (Debian 12+ or Ubuntu 22.04+, cloud-init 21.4+) the VM is cloned from."
  type        = number

  validation {
    condition     = var.template_vmid >= 100 && var.template_vmid <= 999999999 && floor(var.template_vmid) == var.template_vmid
    error_message = "template_vmid must be a whole number between 100 and 999999999."
  }
}

variable "cores" {
  description = "CPU cores."
  type        = number
  default     = 2

  validation {
    condition     = var.cores >= 1 && var.cores <= 64 && floor(var.cores) == var.cores
    error_message = "cores must be a whole number between 1 and 64."
  }
}

variable "memory" {
  description = "Memory in MiB. MinIO wants at least 1 GiB."
  type        = number
  default     = 2048

  validation {
    condition     = var.memory >= 1024 && floor(var.memory) == var.memory
    error_message = "memory must be a whole number of MiB, at least 1024."
  }
}

variable "storage" {
  description = "PVE storage of both disks (the provider clones every disk of a VM onto one storage). Changing it moves both disks there in place."
  type        = string
  default     = "local-lvm"

  validation {
    condition     = length(trimspace(var.storage)) > 0
    error_message = "storage must not be empty."
  }
}

variable "os_disk_size" {
  description = "Size of the system disk in GiB (at least the template's disk size)."
  type        = number
  default     = 16

  validation {
    condition     = var.os_disk_size >= 8 && floor(var.os_disk_size) == var.os_disk_size
    error_message = "os_disk_size must be a whole number of GiB, at least 8."
  }
}

variable "data_disk_size" {
  description = "Size of the data disk in GiB. It can grow later but never shrink."
  type        = number
  default     = 20

  validation {
    condition     = var.data_disk_size >= 1 && floor(var.data_disk_size) == var.data_disk_size
    error_message = "data_disk_size must be a whole number of GiB, at least 1."
  }
}

variable "bridge" {
  description = "Bridge the VM's NIC is attached to."
  type        = string
  default     = "vmbr0"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,15}$", var.bridge))
    error_message = "bridge must be a Linux interface name (1-15 characters)."
  }
}

variable "vlan" {
  description = "VLAN tag of the NIC, or null for none."
  type        = number
  default     = null

  validation {
    condition     = var.vlan == null || (coalesce(var.vlan, 1) >= 1 && coalesce(var.vlan, 1) <= 4094 && floor(coalesce(var.vlan, 1)) == coalesce(var.vlan, 1))
    error_message = "vlan must be between 1 and 4094, or null."
  }
}

variable "ip" {
  description = "Static IPv4 address with prefix length, e.g. 10.10.10.20/24. Static, because every environment's backend names it. Formerly ip_address."
  type        = string

  validation {
    # modules/vm's IPv4 pattern, with a prefix length (dhcp is no choice here).
    condition     = can(regex("^${local.ipv4}/(3[0-2]|[12][0-9]|[1-9])$", var.ip))
    error_message = "ip must be an IPv4 address with a prefix length, e.g. 10.10.10.20/24 (not dhcp)."
  }
}

variable "gateway" {
  description = "IPv4 gateway of the VM."
  type        = string

  validation {
    condition     = can(regex("^${local.ipv4}$", var.gateway))
    error_message = "gateway must be an IPv4 address, e.g. 10.10.10.1."
  }
}

variable "dns_servers" {
  description = "DNS servers of the VM; empty keeps what DHCP or the template provides."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.dns_servers : can(cidrhost("${s}/32", 0)) || can(cidrhost("${s}/128", 0))])
    error_message = "dns_servers must be IP addresses."
  }
}

variable "admin_user" {
  description = "Login user created by cloud-init (SSH keys only, passwordless sudo)."
  type        = string
  default     = "ubuntu"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.admin_user)) && var.admin_user != "minio-user" && var.admin_user != "root"
    error_message = "admin_user must be a Linux user name (lowercase, up to 32 characters), and not root or minio-user."
  }
}

variable "ssh_public_keys" {
  description = "SSH public keys of admin_user. At least one: the VM has no password login."
  type        = list(string)

  validation {
    condition     = length(var.ssh_public_keys) > 0 && alltrue([for k in var.ssh_public_keys : can(regex("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\\.com) [A-Za-z0-9+/=]+( .*)?$", trimspace(k)))])
    error_message = "ssh_public_keys must hold at least one OpenSSH public key (ssh-ed25519, ssh-rsa, ecdsa-sha2-*, sk-*)."
  }
}

variable "tags" {
  description = "PVE tags of the VM."
  type        = set(string)
  default     = ["minio", "terraform-state"]

  validation {
    condition     = alltrue([for t in var.tags : can(regex("^[A-Za-z0-9_][A-Za-z0-9_+.-]*$", t))])
    error_message = "tags may hold letters, digits and _ + . - (and must not start with + . or -)."
  }
}

variable "protection" {
  description = "PVE protection flag: the VM (and every environment's state) cannot be destroyed while it is set."
  type        = bool
  default     = true
}

variable "environment" {
  description = "Environment the server belongs to, written as the lifecycle tag environment-<name> (it never expires)."
  type        = string
  default     = "monitoring"
}

variable "on_boot" {
  description = "Start the VM with its node (default: yes, every environment's plan needs the state)."
  type        = bool
  default     = true
}

variable "startup" {
  description = "PVE startup order and delays; by default first, with 30 s before the next guest."
  type        = string
  default     = "order=1,up=30"

  validation {
    condition     = var.startup == null || can(regex("^(order=[0-9]+|up=[0-9]+|down=[0-9]+)(,(order=[0-9]+|up=[0-9]+|down=[0-9]+))*$", var.startup))
    error_message = "startup must be PVE's startup property, e.g. \"order=1,up=30\"."
  }
}

variable "agent" {
  description = "QEMU guest agent device (the backup's snapshot mode freezes file systems through it)."
  type        = bool
  default     = true
}

variable "clone_full" {
  description = "Full clone of the template (default), or a linked clone on the template's storage."
  type        = bool
  default     = true
}

variable "snippet_storage" {
  description = "Storage with snippets content that the cloud-init user-data is written to."
  type        = string
  default     = "local"

  validation {
    condition     = length(trimspace(var.snippet_storage)) > 0
    error_message = "snippet_storage must not be empty."
  }
}

# --- MinIO ----------------------------------------------------------------------

variable "minio_server_url" {
  description = "HTTPS URL of the MinIO server binary (linux-amd64), pinned to a release; a local mirror works too."
  type        = string
  default     = "https://dl.min.io/server/minio/release/linux-amd64/archive/minio.RELEASE.2025-04-22T22-12-26Z"

  validation {
    # It is written single-quoted into the install script: only URL characters that no shell
    # or YAML treats specially (no quotes, spaces, $, `, \\, ;, &, ?).
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%+=,@/-]*)?$", var.minio_server_url))
    error_message = "minio_server_url must be an https:// URL of a host (and port) and a path of letters, digits and . _ ~ % + = , @ / - (no quotes, spaces, query or shell characters)."
  }
}

variable "minio_server_sha256" {
  description = "SHA-256 of the binary at minio_server_url (the .sha256sum file next to it). The install stops on a mismatch."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.minio_server_sha256))
    error_message = "minio_server_sha256 must be 64 lowercase hex digits."
  }
}

variable "minio_client_url" {
  description = "HTTPS URL of the MinIO client (mc, linux-amd64) used to create the buckets, pinned to a release."
  type        = string
  default     = "https://dl.min.io/client/mc/release/linux-amd64/archive/mc.RELEASE.2025-04-16T18-13-26Z"

  validation {
    # It is written single-quoted into the install script: only URL characters that no shell
    # or YAML treats specially (no quotes, spaces, $, `, \\, ;, &, ?).
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%+=,@/-]*)?$", var.minio_client_url))
    error_message = "minio_client_url must be an https:// URL of a host (and port) and a path of letters, digits and . _ ~ % + = , @ / - (no quotes, spaces, query or shell characters)."
  }
}

variable "minio_client_sha256" {
  description = "SHA-256 of the binary at minio_client_url."
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
variable "root_user" {
  description = "MinIO root user (access key of the admin account). Ephemeral: it reaches only the write-only user-data; after changing it, bump secrets_version."
  type        = string
  ephemeral   = true

  validation {
    # Safe inside single quotes in both the systemd EnvironmentFile and sh.
    condition     = can(regex("^[A-Za-z0-9_.@+=,-]{3,128}$", var.root_user))
    error_message = "root_user must be 3-128 characters of letters, digits and _ . @ + = , -."
  }
}

variable "root_password" {
  description = "MinIO root password (secret key). Required: no random provider is available offline. Ephemeral: it reaches only the write-only user-data, never the state; after changing it, bump secrets_version."
  type        = string
  ephemeral   = true

  validation {
    # MinIO's minimum is 8; the character set keeps the value safe inside single quotes.
    condition     = can(regex("^[A-Za-z0-9!#%&()*+,./:;<=>?@^_{|}~\\[\\]-]{12,128}$", var.root_password))
    error_message = "root_password must be 12-128 printable ASCII characters without whitespace, quotes, backslash, $ or backtick."
  }

  validation {
    condition     = var.root_password != var.root_user
    error_message = "root_password must differ from root_user."
  }
}

variable "api_port" {
  description = "Port of the S3 API."
  type        = number
  default     = 9000

  validation {
    # minio-user has no CAP_NET_BIND_SERVICE.
    condition     = var.api_port >= 1024 && var.api_port <= 65535 && floor(var.api_port) == var.api_port
    error_message = "api_port must be between 1024 and 65535."
  }
}

variable "console_port" {
  description = "Port of the MinIO web console."
  type        = number
  default     = 9001

  validation {
    condition     = var.console_port >= 1024 && var.console_port <= 65535 && floor(var.console_port) == var.console_port && var.console_port != var.api_port
    error_message = "console_port must be between 1024 and 65535 and differ from api_port."
  }
}

variable "enable_console" {
  description = "Serve the MinIO web console on console_port."
  type        = bool
  default     = true
}

variable "endpoint_host" {
  description = "Host name clients use in the endpoint (e.g. minio.lan, matching the TLS certificate); null means the IP address."
  type        = string
  default     = null

  validation {
    condition     = var.endpoint_host == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$", coalesce(var.endpoint_host, "x")))
    error_message = "endpoint_host must be a lowercase DNS name, or null."
  }
}

variable "tls_certificate" {
  description = "PEM certificate (chain) MinIO serves; null serves plain HTTP. Must cover endpoint_host."
  type        = string
  default     = null

  validation {
    condition     = var.tls_certificate == null || startswith(trimspace(coalesce(var.tls_certificate, "-")), "-----BEGIN CERTIFICATE-----")
    error_message = "tls_certificate must be a PEM certificate (-----BEGIN CERTIFICATE-----), or null."
  }

  validation {
    condition     = (var.tls_certificate == null) == (var.tls_private_key == null)
    error_message = "tls_certificate and tls_private_key must be set together (or both left null)."
  }
}

variable "tls_private_key" {
  description = "PEM private key of tls_certificate. Ephemeral: it reaches only the write-only user-data; after changing it, bump secrets_version."
  type        = string
  default     = null
  ephemeral   = true

  validation {
    condition     = var.tls_private_key == null || can(regex("^-----BEGIN ([A-Z]+ )?PRIVATE KEY-----", trimspace(coalesce(var.tls_private_key, "-"))))
    error_message = "tls_private_key must be a PEM private key, or null."
  }
}

variable "secrets_version" {
  description = "Part of the VM's user_data_wo_version: bump it (e.g. \"1\" to \"2\") to rewrite the user-data snippet after changing root_user, root_password, tls_private_key or environment_credentials. Those are write-only, never compared by Terraform, so a change of a secret alone plans no change; every other input that changes the user-data changes the version by itself."
  type        = string
  default     = "1"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.secrets_version))
    error_message = "secrets_version must be 1-64 letters, digits, dots, underscores or hyphens, e.g. \"2\" or \"2026-12-01\"."
  }
}

# --- State buckets --------------------------------------------------------------

variable "environments" {
  description = "Environments whose Terraform state the server holds; each gets the key <env>/terraform.tfstate."
  type        = list(string)
  default     = ["prod", "lab", "k8s", "monitoring"]

  validation {
    condition     = length(var.environments) > 0 && length(distinct(var.environments)) == length(var.environments)
    error_message = "environments must name at least one environment, each once."
  }

  validation {
    condition     = alltrue([for e in var.environments : can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", e))])
    error_message = "environment names must be lowercase letters, digits and hyphens, 1-32 characters."
  }
}

variable "bucket_name" {
  description = "The state bucket; with bucket_per_environment, the prefix of the buckets (<bucket_name>-<env>)."
  type        = string
  default     = "tfstate"

  validation {
    # S3 bucket rules; 30 leaves room for -<env> (up to 32) within 63.
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,28}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-30 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "bucket_per_environment" {
  description = "One bucket per environment (<bucket_name>-<env>) instead of one shared bucket with a prefix per environment."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days a superseded state version is kept before MinIO deletes it; 0 keeps every version forever."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 0 && var.noncurrent_version_expiration_days <= 3650 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number between 0 and 3650."
  }
}

variable "environment_credentials" {
  description = "Optional MinIO user per environment (access_key, secret_key), limited by a policy to that environment's state, so one environment's Terraform cannot touch another's. Ephemeral: it reaches only the write-only user-data; after any change (a user added or removed, a key rotated), bump secrets_version."
  type = map(object({
    access_key = string
    secret_key = string
  }))
  default   = {}
  ephemeral = true

  validation {
    condition     = alltrue([for env in keys(var.environment_credentials) : contains(var.environments, env)])
    error_message = "environment_credentials may only name environments listed in environments."
  }

  validation {
    condition = alltrue([for c in values(var.environment_credentials) :
      can(regex("^[A-Za-z0-9_.@+=,-]{3,128}$", c.access_key)) &&
      can(regex("^[A-Za-z0-9!#%&()*+,./:;<=>?@^_{|}~\\[\\]-]{12,128}$", c.secret_key))
    ])
    error_message = "each access_key must be 3-128 characters of letters, digits and _ . @ + = , -; each secret_key 12-128 printable ASCII characters without whitespace, quotes, backslash, $ or backtick."
  }

  validation {
    condition     = length(distinct([for c in values(var.environment_credentials) : c.access_key])) == length(var.environment_credentials)
    error_message = "each environment needs its own access_key."
  }
}
