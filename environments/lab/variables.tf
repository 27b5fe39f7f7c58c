# Inputs of the lab environment. The defaults apply as they are against the emulator
# (template ubuntu-2404-cloudinit, storage local-lvm, bridge vmbr0, backup storage backup).

variable "template_name" {
  description = "Name of the cloud-init template lab VMs are cloned from."
  type        = string
  default     = "ubuntu-2404-cloudinit"

  validation {
    condition     = can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", var.template_name))
    error_message = "template_name must be a PVE guest name (letters, digits, '.' and '-')."
  }
}

variable "vmid_range_start" {
  description = "Lab guests get VMIDs from here up."
  type        = number
  default     = 200

  validation {
    condition     = var.vmid_range_start >= 100 && var.vmid_range_start <= 999999999
    error_message = "vmid_range_start must be between 100 and 999999999 (PVE's VMID range)."
  }
}

variable "expiration_days" {
  description = "Lab guests expire this many days after creation (pve-ops expire-lab stops them then)."
  type        = number
  default     = 14

  validation {
    condition     = var.expiration_days >= 1 && var.expiration_days <= 365 && var.expiration_days == floor(var.expiration_days)
    error_message = "expiration_days must be a whole number between 1 and 365."
  }
}

variable "node" {
  description = "Node for lab guests without their own; null puts VMs on the template's node (and containers there too)."
  type        = string
  default     = null

  validation {
    condition     = var.node == null || can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", coalesce(var.node, "-")))
    error_message = "node must be a PVE node name (lowercase letters, digits and '-')."
  }
}

variable "storage" {
  description = "Storage for lab disks and container volumes."
  type        = string
  default     = "local-lvm"
}

variable "bridge" {
  description = "Bridge lab guests attach to."
  type        = string
  default     = "vmbr0"
}

variable "gateway" {
  description = "Gateway for lab guests with a static ip (the sandbox uses DHCP)."
  type        = string
  default     = null
}

variable "ci_user" {
  description = "Cloud-init user of lab VMs."
  type        = string
  default     = "ubuntu"
}

variable "ci_ssh_keys" {
  description = "SSH public keys for the cloud-init user (and root in lab containers)."
  type        = list(string)
  default     = []
}

variable "ci_password" {
  description = "Optional password for the cloud-init user of VMs without generated user-data (write-only; never stored)."
  type        = string
  default     = null
  sensitive   = true
}

variable "container_root_password" {
  description = "Optional root password for lab containers (write-only; never stored)."
  type        = string
  default     = null
  sensitive   = true
}

variable "sandbox" {
  description = "The lab-sandbox VM, a scratch machine for experiments (memory in MiB, disk in GiB)."
  type = object({
    cores         = optional(number, 2)
    memory        = optional(number, 2048)
    disk          = optional(number, 10)
    ip            = optional(string, "dhcp")
    docker        = optional(bool, false)
    node_exporter = optional(bool, false)
    tags          = optional(list(string), ["sandbox"])
  })
  default = {}
}

variable "vms" {
  description = "Further lab VMs by name, on top of lab-sandbox (see modules/vm for the attributes)."
  type = map(object({
    ip              = optional(string, "dhcp")
    cores           = optional(number, 2)
    memory          = optional(number, 2048)
    disk            = optional(number, 20)
    docker          = optional(bool, false)
    node_exporter   = optional(bool, false)
    tags            = optional(list(string), [])
    node            = optional(string)
    expiration_days = optional(number)
    no_expire       = optional(bool, false)
  }))
  default = {}

  validation {
    condition     = !contains(keys(var.vms), "lab-sandbox")
    error_message = "lab-sandbox is configured through var.sandbox, not var.vms."
  }
}

variable "containers" {
  description = "Lab containers by hostname (see modules/lxc for the attributes); none by default."
  type = map(object({
    ip              = optional(string, "dhcp")
    cores           = optional(number)
    memory          = optional(number, 512)
    disk            = optional(number, 8)
    nesting         = optional(bool)
    tags            = optional(list(string), [])
    node            = optional(string)
    expiration_days = optional(number)
    no_expire       = optional(bool, false)
  }))
  default = {}

  validation {
    condition     = length(setintersection(keys(var.containers), concat(keys(var.vms), ["lab-sandbox"]))) == 0
    error_message = "A container's hostname must not repeat a lab VM's name."
  }
}

variable "backup_storage" {
  description = "Storage the weekly lab backups go to."
  type        = string
  default     = "backup"
}
