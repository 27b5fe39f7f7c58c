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

variable "ssh_public_keys" {
  description = "SSH public keys for the cloud-init user (and root in lab containers)."
  type        = list(string)
  default     = []
}

variable "ci_password" {
  description = "Optional password for the cloud-init user of VMs without generated user-data (write-only; never stored)."
  type        = string
  default     = null
  sensitive   = true
  # Not ephemeral: modules/vm's ci_password cannot be (terraform test before 1.17,
  # hashicorp/terraform#38974, cannot apply with an unset ephemeral variable, and the module's
  # apply tests cannot set a password on VMs with generated user-data). Write-only still keeps
  # it out of the state; a saved plan file does hold it.
}

variable "container_root_password" {
  description = "Optional root password for lab containers (write-only; never stored)."
  type        = string
  default     = null
  sensitive   = true
  # Ephemeral: saved plans do not hold it (it reaches only write-only attributes).
  ephemeral = true
}

variable "sandbox" {
  description = "The lab-sandbox VM, a scratch machine for experiments (VMID 200 by default; memory in MiB, disk in GiB)."
  type = object({
    vmid          = optional(number, 200)
    cores         = optional(number, 2)
    memory        = optional(number, 2048)
    disk          = optional(number, 10)
    ip            = optional(string, "dhcp")
    docker        = optional(bool, false)
    node_exporter = optional(bool, false)
    tags          = optional(list(string), ["sandbox"])
  })
  default = {}

  validation {
    condition     = try(var.sandbox.vmid == floor(var.sandbox.vmid) && var.sandbox.vmid >= 200 && var.sandbox.vmid <= 999999999, false)
    error_message = "sandbox.vmid must be a whole number of at least 200: lab VMIDs are 200 and up, below are other environments' (monitoring 110-119, prod 120-149, k8s 150-169)."
  }
}

variable "vms" {
  description = <<-EOT
    Further lab VMs by name, on top of lab-sandbox (see modules/vm for the attributes). Give each
    a vmid of 200 or more: without one the provider takes the lowest free VMID, which can lie in
    another environment's range (monitoring 110-119, prod 120-149, k8s 150-169).
  EOT
  # Typed by modules/vm (every attribute of its vms), not by a cut-down copy here.
  type    = any
  default = {}

  validation {
    condition     = !contains(keys(var.vms), "lab-sandbox")
    error_message = "lab-sandbox is configured through var.sandbox, not var.vms."
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : try(v.vmid, null) == null || try(v.vmid >= 200, false)])
    error_message = "A lab VM's vmid must be 200 or more: lower VMIDs belong to other environments (monitoring 110-119, prod 120-149, k8s 150-169)."
  }

  validation {
    condition     = !contains([for v in values(var.vms) : v.vmid if try(v.vmid, null) != null], var.sandbox.vmid)
    error_message = "A lab VM's vmid repeats the sandbox's (sandbox.vmid, 200 by default)."
  }
}

variable "containers" {
  description = "Lab containers by hostname (see modules/lxc for the attributes); none by default. Like VMs, give each a vmid of 200 or more."
  # Typed by modules/lxc (every attribute of its containers: mount_points too), not here.
  type    = any
  default = {}

  validation {
    condition     = length(setintersection(keys(var.containers), concat(keys(var.vms), ["lab-sandbox"]))) == 0
    error_message = "A container's hostname must not repeat a lab VM's name."
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : try(c.vmid, null) == null || try(c.vmid >= 200, false)])
    error_message = "A lab container's vmid must be 200 or more: lower VMIDs belong to other environments (monitoring 110-119, prod 120-149, k8s 150-169)."
  }

  validation {
    # The modules check uniqueness among VMs and among containers; this checks across both.
    condition     = length(setintersection([for c in values(var.containers) : c.vmid if try(c.vmid, null) != null], concat([var.sandbox.vmid], [for v in values(var.vms) : v.vmid if try(v.vmid, null) != null]))) == 0
    error_message = "A vmid is used by both a lab VM and a lab container: every lab guest needs its own vmid."
  }
}

variable "backup_storage" {
  description = "Storage the weekly lab backups go to."
  type        = string
  default     = "backup"
}
