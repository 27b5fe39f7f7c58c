# Inputs of the vm module: one map entry per VM, plus module-wide defaults each VM may override.

variable "vms" {
  description = <<-EOT
    VMs keyed by name (a DNS label). ip is "dhcp" or a static IPv4 address with prefix length
    (e.g. "10.10.10.101/24"); memory is in MiB, disk and data_disks in GiB. data_disks maps a
    SCSI slot to a size (e.g. { scsi1 = 100 }): keyed by slot, removing one disk never moves
    another. started is the power state at creation only (ignored afterwards). Attributes left
    null take the module-wide default of the same name.
  EOT
  type = map(object({
    ip               = optional(string, "dhcp")
    gateway          = optional(string)
    cores            = optional(number, 2)
    sockets          = optional(number, 1)
    memory           = optional(number, 2048)
    balloon          = optional(number)
    disk             = optional(number, 20)
    data_disks       = optional(map(number), {})
    docker           = optional(bool, false)
    node_exporter    = optional(bool, false)
    security_updates = optional(bool)
    tags             = optional(list(string), [])
    node             = optional(string)
    vmid             = optional(number)
    template_vmid    = optional(number)
    storage          = optional(string)
    bridge           = optional(string)
    vlan             = optional(number)
    cpu_type         = optional(string)
    description      = optional(string)
    pool             = optional(string)
    on_boot          = optional(bool)
    started          = optional(bool, true)
    protection       = optional(bool)
    startup          = optional(string)
    expiration_days  = optional(number)
    no_expire        = optional(bool, false)
    # The PVE name when it differs from the key (wrappers keep a fixed key, so a moved block
    # can name the address, while the caller picks the name).
    name  = optional(string)
    agent = optional(bool)
    # Set for a VM that brings its own user-data (var.user_data[key], write-only): it is the
    # stored user_data_wo_version, and PVE's ci_user, keys and password do not apply to it.
    user_data_version = optional(string)
  }))

  validation {
    condition     = length(var.vms) > 0
    error_message = "vms must contain at least one VM."
  }

  validation {
    condition     = alltrue([for name in keys(var.vms) : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", name))])
    error_message = "Every VM name (a key of vms) must be a DNS label: 1 to 63 lowercase letters, digits and '-', not starting or ending with '-'."
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.ip == "dhcp" || can(regex("^${local.ipv4}/(3[0-2]|[12][0-9]|[1-9])$", v.ip))])
    error_message = "Every ip must be \"dhcp\" or an IPv4 address with a prefix length of 1 to 32, e.g. \"10.10.10.101/24\". (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.ip == "dhcp" || can(regex("^${local.ipv4}/(3[0-2]|[12][0-9]|[1-9])$", v.ip)))]))})"
  }

  validation {
    # A host address equal to the subnet's network or broadcast address boots with no usable network.
    condition = alltrue([
      for v in values(var.vms) :
      v.ip == "dhcp" || try(
        tonumber(split("/", v.ip)[1]) > 30 || (
          split("/", v.ip)[0] != cidrhost(v.ip, 0) && split("/", v.ip)[0] != cidrhost(v.ip, -1)
        ),
        true
      )
    ])
    error_message = "A static ip must not be the network or broadcast address of its subnet (e.g. 10.10.10.0/24 or 10.10.10.255/24). (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.ip == "dhcp" || try(tonumber(split("/", v.ip)[1]) > 30 || (split("/", v.ip)[0] != cidrhost(v.ip, 0) && split("/", v.ip)[0] != cidrhost(v.ip, -1)), true))]))})"
  }

  validation {
    # Two VMs with one address fight over it (ARP flapping); this is the mistake a copy-pasted entry makes.
    condition     = length(distinct([for v in values(var.vms) : split("/", v.ip)[0] if v.ip != "dhcp"])) == length([for v in values(var.vms) : v.ip if v.ip != "dhcp"])
    error_message = "Static IP addresses must be unique across vms."
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.gateway == null || can(regex("^${local.ipv4}$", v.gateway))])
    error_message = "A VM's gateway must be an IPv4 address without prefix length, e.g. \"10.10.10.1\". (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.gateway == null || can(regex("^${local.ipv4}$", v.gateway)))]))})"
  }

  validation {
    # The gateway (the VM's own or the module-wide one) must be reachable on the VM's subnet.
    condition = alltrue([
      for v in values(var.vms) :
      v.ip == "dhcp" || try(coalesce(v.gateway, var.gateway), null) == null || try(
        cidrhost(v.ip, 0) == cidrhost("${coalesce(v.gateway, var.gateway)}/${split("/", v.ip)[1]}", 0) &&
        split("/", v.ip)[0] != coalesce(v.gateway, var.gateway),
        true
      )
    ])
    error_message = "A static ip's gateway must lie in the ip's subnet and differ from the ip itself. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.ip == "dhcp" || try(coalesce(v.gateway, var.gateway), null) == null || try(cidrhost(v.ip, 0) == cidrhost("${coalesce(v.gateway, var.gateway)}/${split("/", v.ip)[1]}", 0) && split("/", v.ip)[0] != coalesce(v.gateway, var.gateway), true))]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.gateway == null || v.ip != "dhcp"])
    error_message = "gateway is only for static addresses: a VM with ip = \"dhcp\" gets its gateway from DHCP. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.gateway == null || v.ip != "dhcp")]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.cores == floor(v.cores) && v.cores >= 1 && v.cores <= 128])
    error_message = "cores must be a whole number from 1 to 128. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.cores == floor(v.cores) && v.cores >= 1 && v.cores <= 128)]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.sockets == floor(v.sockets) && v.sockets >= 1 && v.sockets <= 4])
    error_message = "sockets must be a whole number from 1 to 4. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.sockets == floor(v.sockets) && v.sockets >= 1 && v.sockets <= 4)]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.memory == floor(v.memory) && v.memory >= 512])
    error_message = "memory is in MiB and must be a whole number of at least 512. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.memory == floor(v.memory) && v.memory >= 512)]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.balloon == null || try(v.balloon >= 0 && v.balloon <= v.memory, false)])
    error_message = "balloon (MiB) must be between 0 (ballooning off) and the VM's memory. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.balloon == null || try(v.balloon >= 0 && v.balloon <= v.memory, false))]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.disk == floor(v.disk) && v.disk >= 8])
    error_message = "disk is the boot disk size in GiB and must be a whole number of at least 8. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.disk == floor(v.disk) && v.disk >= 8)]))})"
  }

  validation {
    # scsi0 is the boot disk; the provider allows 30 disks, so data disks are scsi1 to scsi29.
    condition     = alltrue([for v in values(var.vms) : alltrue([for slot in keys(v.data_disks) : can(regex("^scsi([1-9]|1[0-9]|2[0-9])$", slot))])])
    error_message = "data_disks keys must be SCSI slots scsi1 to scsi29 (scsi0 is the boot disk), e.g. { scsi1 = 100 }. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(alltrue([for slot in keys(v.data_disks) : can(regex("^scsi([1-9]|1[0-9]|2[0-9])$", slot))]))]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : alltrue([for d in values(v.data_disks) : d == floor(d) && d >= 1])])
    error_message = "Every data disk size must be a whole number of GiB of at least 1. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(alltrue([for d in values(v.data_disks) : d == floor(d) && d >= 1]))]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : alltrue([for t in v.tags : can(regex("^[a-z0-9_][a-z0-9_+.-]*$", lower(t)))])])
    error_message = "Tags may contain only letters, digits and '_', '-', '+', '.' (not ':'), and must not start with '-', '+' or '.'. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(alltrue([for t in v.tags : can(regex("^[a-z0-9_][a-z0-9_+.-]*$", lower(t)))]))]))})"
  }

  validation {
    # pve_lifecycle_tag owns these tags and pve_vm ignores them when it reads the VM, so a
    # VM's tags holding one would show as a change on every plan.
    condition = alltrue([
      for v in values(var.vms) : alltrue([
        for t in v.tags : !startswith(lower(t), "environment-") && !startswith(lower(t), "expires-") && lower(t) != "no-expire"
      ])
    ])
    error_message = "Tags must not start with environment- or expires-, nor be no-expire: the module sets those lifecycle tags itself (environment, expiration_days, no_expire). (VMs: ${join(", ", sort([for name, v in var.vms : name if !(alltrue([for t in v.tags : !startswith(lower(t), "environment-") && !startswith(lower(t), "expires-") && lower(t) != "no-expire"]))]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.node == null || can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", v.node))])
    error_message = "A VM's node must be a PVE node name (lowercase letters, digits and '-'). (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.node == null || can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", v.node)))]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.vmid == null || try(v.vmid == floor(v.vmid) && v.vmid >= 100 && v.vmid <= 999999999, false)])
    error_message = "A VM's vmid must be a whole number from 100 to 999999999 (PVE's range), or null to allocate one. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.vmid == null || try(v.vmid == floor(v.vmid) && v.vmid >= 100 && v.vmid <= 999999999, false))]))})"
  }

  validation {
    condition     = length(distinct([for v in values(var.vms) : v.vmid if v.vmid != null])) == length([for v in values(var.vms) : v.vmid if v.vmid != null])
    error_message = "Explicit vmids must be unique across vms."
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.template_vmid == null || try(v.template_vmid >= 100 && v.template_vmid <= 999999999, false)])
    error_message = "A VM's template_vmid must be from 100 to 999999999. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.template_vmid == null || try(v.template_vmid >= 100 && v.template_vmid <= 999999999, false))]))})"
  }

  validation {
    # The node falls back to the template's node only when the template is looked up by name.
    condition     = alltrue([for v in values(var.vms) : v.node != null || var.node != null || (v.template_vmid == null && var.template_vmid == null)])
    error_message = "A VM cloned from an explicit template_vmid needs a node (its own or the module-wide node): only a template found by name tells the module where it lives. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.node != null || var.node != null || (v.template_vmid == null && var.template_vmid == null))]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.vlan == null || try(v.vlan == floor(v.vlan) && v.vlan >= 1 && v.vlan <= 4094, false)])
    error_message = "A VM's vlan must be a VLAN ID from 1 to 4094. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.vlan == null || try(v.vlan == floor(v.vlan) && v.vlan >= 1 && v.vlan <= 4094, false))]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.expiration_days == null || try(v.expiration_days == floor(v.expiration_days) && v.expiration_days >= 1 && v.expiration_days <= 365, false)])
    error_message = "A VM's expiration_days must be a whole number from 1 to 365. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.expiration_days == null || try(v.expiration_days == floor(v.expiration_days) && v.expiration_days >= 1 && v.expiration_days <= 365, false))]))})"
  }

  validation {
    # pve-ops expire-lab acts on lab guests only: an expiry date anywhere else would be dead
    # weight that looks like a promise. no_expire is allowed everywhere: it says the opposite
    # (the state server and the monitoring VM carry it, so they outlive any lab by policy).
    condition     = var.environment == "lab" || alltrue([for v in values(var.vms) : v.expiration_days == null])
    error_message = "expiration_days on a VM is only allowed in the lab environment."
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : v.name == null || can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", v.name))])
    error_message = "A VM's name must be a DNS label: 1 to 63 lowercase letters, digits and '-', not starting or ending with '-'. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.name == null || can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", v.name)))]))})"
  }

  validation {
    # The provider rejects both on one VM: the generated user-data would replace the VM's own.
    condition     = alltrue([for v in values(var.vms) : v.user_data_version == null || (!v.docker && !v.node_exporter && v.security_updates != true)])
    error_message = "A VM with its own user-data (user_data_version) cannot also have docker, node_exporter or security_updates: those generate user-data of their own. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(v.user_data_version == null || (!v.docker && !v.node_exporter && v.security_updates != true))]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : !(v.no_expire && v.expiration_days != null)])
    error_message = "A VM cannot set both no_expire and expiration_days. (VMs: ${join(", ", sort([for name, v in var.vms : name if !(!(v.no_expire && v.expiration_days != null))]))})"
  }

  validation {
    # Lab guests are temporary by policy: each one either expires or is explicitly exempt.
    condition     = var.environment != "lab" || alltrue([for v in values(var.vms) : v.no_expire || v.expiration_days != null || var.expiration_days != null])
    error_message = "In the lab every VM must expire: set expiration_days (module-wide or on the VM) or no_expire = true on the VM."
  }
}

variable "template_name" {
  description = "Name of the cloud-init template to clone (looked up with the pve_template data source) unless template_vmid is set."
  type        = string
  default     = "ubuntu-2404-cloudinit"

  validation {
    condition     = can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", var.template_name))
    error_message = "template_name must be a PVE guest name (letters, digits, '.' and '-')."
  }
}

variable "template_vmid" {
  description = "VMID of the template to clone; skips the lookup by template_name. VMs without a node then need the module-wide node."
  type        = number
  default     = null

  validation {
    condition     = var.template_vmid == null || try(var.template_vmid == floor(var.template_vmid) && var.template_vmid >= 100 && var.template_vmid <= 999999999, false)
    error_message = "template_vmid must be a whole number from 100 to 999999999."
  }
}

variable "clone_full" {
  description = "Full clones (true, independent of the template) or linked clones (false, on the template's storage)."
  type        = bool
  default     = true
}

variable "ci_user" {
  description = "Cloud-init user created in every VM."
  type        = string
  default     = "ubuntu"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.ci_user))
    error_message = "ci_user must be a Linux user name: lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32 characters."
  }
}

variable "ci_password" {
  description = "Password for ci_user. Goes only to the write-only ci_password: never in the plan, the state or an output."
  type        = string
  default     = null
  # Not ephemeral: terraform test cannot apply a configuration with an unset ephemeral variable,
  # and the write-only attribute already keeps the value out of state.
  sensitive = true

  validation {
    condition     = var.ci_password == null || length(coalesce(var.ci_password, "-")) >= 12
    error_message = "ci_password must be at least 12 characters (or null for key-only logins)."
  }

  validation {
    # PVE ignores the password once user-data comes from a snippet, which is what docker,
    # node_exporter and security_updates generate: the provider rejects the combination.
    condition = var.ci_password == null || alltrue([
      for v in values(var.vms) : v.user_data_version != null || (!v.docker && !v.node_exporter && !(v.security_updates != null ? v.security_updates : var.security_updates))
    ])
    error_message = "ci_password only works for VMs without docker, node_exporter and security_updates (their generated user-data replaces PVE's password setup); use ssh_public_keys, or turn those off."
  }
}

variable "cpu_type" {
  description = "Default CPU type (e.g. host). Null leaves cpu_type unset on pve_vm, so the provider's own default applies (x86-64-v2-AES, set at creation in place of the template's CPU type)."
  type        = string
  default     = null

  validation {
    condition     = var.cpu_type == null || can(regex("^[A-Za-z0-9_.+-]+$", var.cpu_type))
    error_message = "cpu_type must be a QEMU CPU model name such as host or x86-64-v2-AES."
  }
}

variable "scsihw" {
  description = "SCSI controller of every VM."
  type        = string
  default     = "virtio-scsi-single"

  validation {
    condition     = contains(["virtio-scsi-single", "virtio-scsi-pci", "lsi", "lsi53c810", "megasas", "pvscsi"], var.scsihw)
    error_message = "scsihw must be one of virtio-scsi-single, virtio-scsi-pci, lsi, lsi53c810, megasas, pvscsi."
  }
}

variable "disk_iothread" {
  description = "Give each disk its own I/O thread (needs scsihw = virtio-scsi-single)."
  type        = bool
  default     = true

  validation {
    # QEMU silently ignores iothread on a shared controller, so the setting would be a lie.
    condition     = !var.disk_iothread || var.scsihw == "virtio-scsi-single"
    error_message = "disk_iothread needs scsihw = \"virtio-scsi-single\" (one controller per disk)."
  }
}

variable "disk_discard" {
  description = "Pass TRIM/discard from the guests to thin storage."
  type        = bool
  default     = true
}

variable "disk_ssd" {
  description = "Present the disks as SSDs to the guests."
  type        = bool
  default     = false
}

variable "disk_backup" {
  description = "Include the disks in vzdump backups (PVE's default; the MinIO server's buckets depend on it)."
  type        = bool
  default     = true
}

variable "ha" {
  description = "HA for some or all VMs (null: none). `vms`: which (default: every VM of `vms`); `keep_apart`: a negative resource-affinity rule (PVE 9) keeps any two of them off one node; `rule`: that rule's ID (default: ENVIRONMENT-NAMES-apart)."
  type = object({
    vms          = optional(set(string))
    keep_apart   = optional(bool, false)
    rule         = optional(string)
    max_restart  = optional(number, 1)
    max_relocate = optional(number, 1)
  })
  default = null

  validation {
    condition     = var.ha == null || try(var.ha.vms, null) == null || length(setsubtract(var.ha.vms, keys(var.vms))) == 0
    error_message = "Every name in ha.vms must be a VM of vms."
  }

  validation {
    condition     = var.ha == null || !try(var.ha.keep_apart, false) || length(try(var.ha.vms, null) != null ? var.ha.vms : toset(keys(var.vms))) >= 2
    error_message = "ha.keep_apart keeps two or more VMs apart: name at least two in ha.vms."
  }

  validation {
    condition     = var.ha == null || try(var.ha.rule, null) == null || can(regex("^[a-zA-Z][a-zA-Z0-9_-]+$", var.ha.rule))
    error_message = "ha.rule is a rule ID: a letter, then letters, digits, - or _."
  }

  validation {
    condition     = var.ha == null || (try(var.ha.max_restart, 1) >= 0 && try(var.ha.max_restart, 1) <= 10 && try(var.ha.max_relocate, 1) >= 0 && try(var.ha.max_relocate, 1) <= 10)
    error_message = "ha.max_restart and ha.max_relocate are 0 to 10."
  }
}

variable "user_data" {
  description = "Cloud-init user-data of the VMs that bring their own, by VM key (each such VM sets user_data_version). Ephemeral and write-only (user_data_wo): its secrets never reach the plan or the state."
  type        = map(string)
  default     = {}
  ephemeral   = true
  sensitive   = true
  nullable    = false
}
