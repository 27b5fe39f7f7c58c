# Inputs of the lxc module: one map entry per container, plus module-wide defaults each container may override.

variable "containers" {
  description = <<-EOT
    Containers keyed by hostname (a DNS label). ip is "dhcp" or a static IPv4 address with prefix
    length; memory and swap are in MiB, disk and mount point sizes in GiB. mount_points maps a
    mount point id (mp0 to mp255) to its volume, e.g. { mp0 = { path = "/data", size = 10 } }:
    keyed by id, removing one never moves another. started is the power state at creation only
    (ignored afterwards). Attributes left null take the module-wide default of the same name.
  EOT
  type = map(object({
    ip      = optional(string, "dhcp")
    gateway = optional(string)
    cores   = optional(number)
    memory  = optional(number, 512)
    swap    = optional(number, 512)
    disk    = optional(number, 8)
    mount_points = optional(map(object({
      path    = string
      size    = number
      storage = optional(string)
      backup  = optional(bool, false)
    })), {})
    unprivileged     = optional(bool)
    nesting          = optional(bool)
    keyctl           = optional(bool, false)
    fuse             = optional(bool, false)
    security_updates = optional(bool)
    tags             = optional(list(string), [])
    node             = optional(string)
    vmid             = optional(number)
    template_volume  = optional(string)
    storage          = optional(string)
    bridge           = optional(string)
    vlan             = optional(number)
    firewall         = optional(bool, false)
    description      = optional(string)
    pool             = optional(string)
    on_boot          = optional(bool)
    started          = optional(bool, true)
    protection       = optional(bool)
    startup          = optional(string)
    expiration_days  = optional(number)
    no_expire        = optional(bool, false)
  }))

  validation {
    condition     = length(var.containers) > 0
    error_message = "containers must contain at least one container."
  }

  validation {
    condition     = alltrue([for name in keys(var.containers) : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", name))])
    error_message = "Every hostname (a key of containers) must be a DNS label: 1 to 63 lowercase letters, digits and '-', not starting or ending with '-'."
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.ip == "dhcp" || can(regex("^${local.ipv4}/(3[0-2]|[12][0-9]|[1-9])$", c.ip))])
    error_message = "Every ip must be \"dhcp\" or an IPv4 address with a prefix length of 1 to 32, e.g. \"10.10.10.53/24\". (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.ip == "dhcp" || can(regex("^${local.ipv4}/(3[0-2]|[12][0-9]|[1-9])$", c.ip)))]))})"
  }

  validation {
    # A host address equal to the subnet's network or broadcast address has no usable network.
    condition = alltrue([
      for c in values(var.containers) :
      c.ip == "dhcp" || try(
        tonumber(split("/", c.ip)[1]) > 30 || (
          split("/", c.ip)[0] != cidrhost(c.ip, 0) && split("/", c.ip)[0] != cidrhost(c.ip, -1)
        ),
        true
      )
    ])
    error_message = "A static ip must not be the network or broadcast address of its subnet. (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.ip == "dhcp" || try(tonumber(split("/", c.ip)[1]) > 30 || (split("/", c.ip)[0] != cidrhost(c.ip, 0) && split("/", c.ip)[0] != cidrhost(c.ip, -1)), true))]))})"
  }

  validation {
    condition     = length(distinct([for c in values(var.containers) : split("/", c.ip)[0] if c.ip != "dhcp"])) == length([for c in values(var.containers) : c.ip if c.ip != "dhcp"])
    error_message = "Static IP addresses must be unique across containers."
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.gateway == null || can(regex("^${local.ipv4}$", c.gateway))])
    error_message = "A container's gateway must be an IPv4 address without prefix length, e.g. \"10.10.10.1\". (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.gateway == null || can(regex("^${local.ipv4}$", c.gateway)))]))})"
  }

  validation {
    condition = alltrue([
      for c in values(var.containers) :
      c.ip == "dhcp" || try(coalesce(c.gateway, var.gateway), null) == null || try(
        cidrhost(c.ip, 0) == cidrhost("${coalesce(c.gateway, var.gateway)}/${split("/", c.ip)[1]}", 0) &&
        split("/", c.ip)[0] != coalesce(c.gateway, var.gateway),
        true
      )
    ])
    error_message = "A static ip's gateway must lie in the ip's subnet and differ from the ip itself. (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.ip == "dhcp" || try(coalesce(c.gateway, var.gateway), null) == null || try(cidrhost(c.ip, 0) == cidrhost("${coalesce(c.gateway, var.gateway)}/${split("/", c.ip)[1]}", 0) && split("/", c.ip)[0] != coalesce(c.gateway, var.gateway), true))]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.gateway == null || c.ip != "dhcp"])
    error_message = "gateway is only for static addresses: a container with ip = \"dhcp\" gets its gateway from DHCP. (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.gateway == null || c.ip != "dhcp")]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.cores == null || try(c.cores == floor(c.cores) && c.cores >= 1 && c.cores <= 128, false)])
    error_message = "cores must be a whole number from 1 to 128 (or null for all of the node's cores). (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.cores == null || try(c.cores == floor(c.cores) && c.cores >= 1 && c.cores <= 128, false))]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.memory == floor(c.memory) && c.memory >= 128])
    error_message = "memory is in MiB and must be a whole number of at least 128. (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.memory == floor(c.memory) && c.memory >= 128)]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.swap == floor(c.swap) && c.swap >= 0])
    error_message = "swap is in MiB and must be a whole number of at least 0. (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.swap == floor(c.swap) && c.swap >= 0)]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.disk == floor(c.disk) && c.disk >= 2])
    error_message = "disk is the root filesystem size in GiB and must be a whole number of at least 2. (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.disk == floor(c.disk) && c.disk >= 2)]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : alltrue([for id in keys(c.mount_points) : can(regex("^mp([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$", id))])])
    error_message = "mount_points keys must be mount point ids mp0 to mp255, e.g. { mp0 = { path = \"/data\", size = 10 } }. (containers: ${join(", ", sort([for name, c in var.containers : name if !(alltrue([for id in keys(c.mount_points) : can(regex("^mp([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$", id))]))]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : alltrue([for m in values(c.mount_points) : m.size == floor(m.size) && m.size >= 1])])
    error_message = "Every mount point size must be a whole number of GiB of at least 1. (containers: ${join(", ", sort([for name, c in var.containers : name if !(alltrue([for m in values(c.mount_points) : m.size == floor(m.size) && m.size >= 1]))]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : alltrue([for m in values(c.mount_points) : can(regex("^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$", m.path)) && !strcontains(m.path, "..")])])
    error_message = "Mount point paths must be absolute, not \"/\", without \"..\" or a trailing slash, e.g. \"/data\". (containers: ${join(", ", sort([for name, c in var.containers : name if !(alltrue([for m in values(c.mount_points) : can(regex("^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$", m.path)) && !strcontains(m.path, "..")]))]))})"
  }

  validation {
    # Two volumes on one path hide each other; the second one silently wins.
    condition     = alltrue([for c in values(var.containers) : length(distinct([for m in values(c.mount_points) : m.path])) == length(c.mount_points)])
    error_message = "Mount point paths must be unique within a container. (containers: ${join(", ", sort([for name, c in var.containers : name if !(length(distinct([for m in values(c.mount_points) : m.path])) == length(c.mount_points))]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : alltrue([for t in c.tags : can(regex("^[a-z0-9_][a-z0-9_+.-]*$", lower(t)))])])
    error_message = "Tags may contain only letters, digits and '_', '-', '+', '.' (not ':'), and must not start with '-', '+' or '.'. (containers: ${join(", ", sort([for name, c in var.containers : name if !(alltrue([for t in c.tags : can(regex("^[a-z0-9_][a-z0-9_+.-]*$", lower(t)))]))]))})"
  }

  validation {
    # pve_lifecycle_tag owns these tags and pve_lxc ignores them on read: listing one here is a perpetual diff.
    condition = alltrue([
      for c in values(var.containers) : alltrue([
        for t in c.tags : !startswith(lower(t), "environment-") && !startswith(lower(t), "expires-") && lower(t) != "no-expire"
      ])
    ])
    error_message = "Tags must not start with environment- or expires-, nor be no-expire: the module sets those lifecycle tags itself. (containers: ${join(", ", sort([for name, c in var.containers : name if !(alltrue([for t in c.tags : !startswith(lower(t), "environment-") && !startswith(lower(t), "expires-") && lower(t) != "no-expire"]))]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.node == null || can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", c.node))])
    error_message = "A container's node must be a PVE node name (lowercase letters, digits and '-'). (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.node == null || can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", c.node)))]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.node != null || var.node != null])
    error_message = "Every container needs a node: set the module-wide node or the container's own. (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.node != null || var.node != null)]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.vmid == null || try(c.vmid == floor(c.vmid) && c.vmid >= 100 && c.vmid <= 999999999, false)])
    error_message = "A container's vmid must be a whole number from 100 to 999999999, or null to allocate one. (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.vmid == null || try(c.vmid == floor(c.vmid) && c.vmid >= 100 && c.vmid <= 999999999, false))]))})"
  }

  validation {
    condition     = length(distinct([for c in values(var.containers) : c.vmid if c.vmid != null])) == length([for c in values(var.containers) : c.vmid if c.vmid != null])
    error_message = "Explicit vmids must be unique across containers."
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.template_volume == null || can(regex("^[a-zA-Z][a-zA-Z0-9_.-]*:vztmpl/.+\\.tar(\\.(gz|xz|zst))?$", c.template_volume))])
    error_message = "A container's template_volume must be a vztmpl volume ID, e.g. \"local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst\". (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.template_volume == null || can(regex("^[a-zA-Z][a-zA-Z0-9_.-]*:vztmpl/.+\\.tar(\\.(gz|xz|zst))?$", c.template_volume)))]))})"
  }

  validation {
    # PVE only offers keyctl to unprivileged containers (privileged ones see the host's keyrings).
    condition     = alltrue([for c in values(var.containers) : !c.keyctl || (c.unprivileged != null ? c.unprivileged : var.unprivileged)])
    error_message = "keyctl is only available to unprivileged containers. (containers: ${join(", ", sort([for name, c in var.containers : name if !(!c.keyctl || (c.unprivileged != null ? c.unprivileged : var.unprivileged))]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.vlan == null || try(c.vlan == floor(c.vlan) && c.vlan >= 1 && c.vlan <= 4094, false)])
    error_message = "A container's vlan must be a VLAN ID from 1 to 4094. (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.vlan == null || try(c.vlan == floor(c.vlan) && c.vlan >= 1 && c.vlan <= 4094, false))]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : c.expiration_days == null || try(c.expiration_days == floor(c.expiration_days) && c.expiration_days >= 1 && c.expiration_days <= 365, false)])
    error_message = "A container's expiration_days must be a whole number from 1 to 365. (containers: ${join(", ", sort([for name, c in var.containers : name if !(c.expiration_days == null || try(c.expiration_days == floor(c.expiration_days) && c.expiration_days >= 1 && c.expiration_days <= 365, false))]))})"
  }

  validation {
    condition     = var.environment == "lab" || alltrue([for c in values(var.containers) : c.expiration_days == null && !c.no_expire])
    error_message = "expiration_days and no_expire on a container are only allowed in the lab environment."
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : !(c.no_expire && c.expiration_days != null)])
    error_message = "A container cannot set both no_expire and expiration_days. (containers: ${join(", ", sort([for name, c in var.containers : name if !(!(c.no_expire && c.expiration_days != null))]))})"
  }

  validation {
    condition     = var.environment != "lab" || alltrue([for c in values(var.containers) : c.no_expire || c.expiration_days != null || var.expiration_days != null])
    error_message = "In the lab every container must expire: set expiration_days (module-wide or on the container) or no_expire = true on it."
  }
}

variable "template_volume" {
  description = "Default OS template volume the containers are created from (write-only: used at creation only)."
  type        = string
  default     = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_.-]*:vztmpl/.+\\.tar(\\.(gz|xz|zst))?$", var.template_volume))
    error_message = "template_volume must be a vztmpl volume ID, e.g. \"local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst\"."
  }
}

variable "root_password" {
  description = "Root password of the containers. Goes only to the write-only password attribute: never in the state or an output."
  type        = string
  default     = null
  # Ephemeral: it reaches only a write-only attribute, so a saved plan does not hold it either.
  # (terraform test before 1.17, hashicorp/terraform#38974, refuses an unset optional ephemeral
  # variable in an apply run: the module's tests set it.)
  ephemeral = true
  sensitive = true

  validation {
    condition     = var.root_password == null || length(coalesce(var.root_password, "-")) >= 12
    error_message = "root_password must be at least 12 characters (or null for key-only logins)."
  }
}

variable "unprivileged" {
  description = "Default: unprivileged containers (root inside is not root on the host). Changing it replaces a container."
  type        = bool
  default     = true
}

variable "nesting" {
  description = "Default: allow nested containers (needed for Docker or systemd features inside)."
  type        = bool
  default     = false
}

