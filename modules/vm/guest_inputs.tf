# Inputs shared by modules/vm and modules/lxc: identity (environment), network (bridge, vlan,
# gateway, DNS), access (ssh_public_keys), lifecycle (expiry, boot, protection, updates) and
# placement (node, storage, pool, snippet storage). This file is byte-identical in both modules
# (scripts/test-hcl.sh checks): edit one copy and copy it over the other.
#
# Why a copied file and not a shared module: these are the modules' own inputs. A shared module
# cannot declare variables for its caller, and validations moved into one would report a bad
# value on that nested module's variable instead of the attribute the caller set. Cloud Posse's
# modules share their context.tf the same way.

locals {
  # An IPv4 address (four decimal octets, 0-255, no leading zeros), written once for every
  # validation in this module (validations may read locals since Terraform 1.9).
  ipv4 = "((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
}

variable "environment" {
  description = "Environment the guests belong to (prod, lab, monitoring, k8s, ...). Written as the lifecycle tag environment-<name>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,31}$", var.environment))
    error_message = "environment must be 1 to 32 lowercase letters and digits, starting with a letter (e.g. prod, lab, monitoring)."
  }
}

variable "node" {
  description = "Default node for guests without their own node. For VMs, null means the node holding the template."
  type        = string
  default     = null

  validation {
    condition     = var.node == null || can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", var.node))
    error_message = "node must be a PVE node name (lowercase letters, digits and '-')."
  }
}

variable "storage" {
  description = "Default storage for the guests' volumes: VM disks, container root filesystems and mount points."
  type        = string
  default     = "local-lvm"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_.-]*$", var.storage))
    error_message = "storage must be a PVE storage ID (a letter, then letters, digits, '-', '_', '.')."
  }
}

variable "bridge" {
  description = "Default bridge for the guests' network interface."
  type        = string
  default     = "vmbr0"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$", var.bridge))
    error_message = "bridge must be a Linux interface name of at most 15 characters, e.g. vmbr0."
  }
}

variable "vlan" {
  description = "Default VLAN tag of the guests' network interface; null for untagged."
  type        = number
  default     = null

  validation {
    condition     = var.vlan == null || try(var.vlan == floor(var.vlan) && var.vlan >= 1 && var.vlan <= 4094, false)
    error_message = "vlan must be a VLAN ID from 1 to 4094."
  }
}

variable "gateway" {
  description = "Default IPv4 gateway for guests with a static ip."
  type        = string
  default     = null

  validation {
    condition     = var.gateway == null || can(regex("^${local.ipv4}$", var.gateway))
    error_message = "gateway must be an IPv4 address without prefix length, e.g. \"10.10.10.1\"."
  }
}

variable "dns_servers" {
  description = "DNS servers of the guests (through cloud-init in a VM); empty keeps the template's, DHCP's or the node's."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.dns_servers : can(regex("^${local.ipv4}$", s)) || (strcontains(s, ":") && can(cidrhost("${s}/128", 0)))])
    error_message = "Every DNS server must be an IPv4 or IPv6 address."
  }

  validation {
    condition     = length(var.dns_servers) <= 3
    error_message = "At most 3 DNS servers (the resolver uses no more)."
  }
}

variable "search_domain" {
  description = "DNS search domain of the guests."
  type        = string
  default     = null

  validation {
    condition     = var.search_domain == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.search_domain))
    error_message = "search_domain must be a lowercase DNS name, e.g. home.lan."
  }
}

variable "ssh_public_keys" {
  description = "SSH public keys: a VM's ci_user's (cloud-init), a container's root's (set at creation, write-only). Trimmed, so file(\"~/.ssh/id_ed25519.pub\") works. Formerly ci_ssh_keys in modules/vm."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for k in var.ssh_public_keys : can(regex("^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\\.com) [A-Za-z0-9+/]+=*( .*)?$", trimspace(k)))])
    error_message = "Every entry of ssh_public_keys must be an OpenSSH public key line (e.g. \"ssh-ed25519 AAAA... user@host\"), not a private key or a file path."
  }
}

variable "security_updates" {
  description = "Default for unattended security-only upgrades (never rebooting) in every guest: through cloud-init in a VM, a PVE hookscript in a container."
  type        = bool
  default     = true
}

variable "expiration_days" {
  description = "Lab only: guests expire this many days after creation (lifecycle tag expires-YYYY-MM-DD, acted on by pve-ops expire-lab)."
  type        = number
  default     = null

  validation {
    condition     = var.expiration_days == null || try(var.expiration_days == floor(var.expiration_days) && var.expiration_days >= 1 && var.expiration_days <= 365, false)
    error_message = "expiration_days must be a whole number from 1 to 365."
  }

  validation {
    condition     = var.expiration_days == null || var.environment == "lab"
    error_message = "expiration_days is only allowed when environment = \"lab\": pve-ops expire-lab never touches other environments."
  }
}

variable "on_boot" {
  description = "Default: start the guests when their node boots."
  type        = bool
  default     = false
}

variable "protection" {
  description = "Default: protect the guests against removal (destroy fails while set)."
  type        = bool
  default     = false
}

variable "pool" {
  description = "Default resource pool for the guests."
  type        = string
  default     = null
}

variable "snippet_storage" {
  description = "Storage (with snippets content) for what the provider writes to the node: a VM's generated cloud-init user-data, a container's security-updates hookscript. Null keeps the provider's default (local)."
  type        = string
  default     = null
}
