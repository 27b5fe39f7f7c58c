variable "template_name" {
  description = "Name of the cloud-init template lab VMs are cloned from."
  type        = string
  default     = "ubuntu-2404-cloudinit"
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
  description = "Lab guests expire this many days after creation."
  type        = number
  default     = 14

  validation {
    condition     = var.expiration_days >= 1 && var.expiration_days <= 365
    error_message = "expiration_days must be between 1 and 365."
  }
}
