# Inputs of the prod environment: long-lived home services with fixed VMIDs and static
# addresses on 10.10.10.0/24. Defaults describe the running homelab; override in terraform.tfvars.
# Prod's share of the defaults: VMIDs 120-149 (VMs 120-129, containers 130-149) and addresses
# 10.10.10.30-59; monitoring has 110-119 / .20-.29, k8s 150-169 / .60-.79, the lab 200 and up.

variable "template_name" {
  description = "Name of the cloud-init template prod VMs are cloned from."
  type        = string
  default     = "ubuntu-2404-cloudinit"
}

variable "container_template" {
  description = "OS template volume prod containers are created from."
  type        = string
  default     = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
}

variable "storage" {
  description = "Storage for prod disks and container volumes."
  type        = string
  default     = "local-lvm"
}

variable "bridge" {
  description = "Bridge prod guests attach to."
  type        = string
  default     = "vmbr0"
}

variable "gateway" {
  description = "Gateway of the prod network."
  type        = string
  default     = "10.10.10.1"
}

variable "dns_servers" {
  description = "Resolvers prod VMs use (the prod DNS containers)."
  type        = list(string)
  default     = ["10.10.10.53", "10.10.10.54"]
}

variable "upstream_dns_servers" {
  description = "Resolvers of the prod containers; the DNS containers cannot resolve through themselves."
  type        = list(string)
  default     = ["1.1.1.1", "9.9.9.9"]
}

variable "search_domain" {
  description = "DNS search domain of prod guests."
  type        = string
  default     = "home.lan"
}

variable "ci_user" {
  description = "Cloud-init user of prod VMs."
  type        = string
  default     = "ubuntu"
}

variable "ssh_public_keys" {
  description = "SSH public keys for the cloud-init user of VMs and root in containers."
  type        = list(string)
  default     = []
}

variable "container_root_password" {
  description = "Optional root password for prod containers (write-only; never stored). Set it through TF_VAR_container_root_password."
  type        = string
  default     = null
  sensitive   = true
  # Ephemeral: saved plans do not hold it (it reaches only write-only attributes).
  ephemeral = true
}

variable "protection" {
  description = "Protect prod guests against removal (destroy fails until it is turned off)."
  type        = bool
  default     = true
}

variable "backup_storage" {
  description = "Storage the daily prod backups go to."
  type        = string
  default     = "backup"
}

variable "vms" {
  description = <<-EOT
    Prod VMs by name, with modules/vm's attributes (all of them: vlan, balloon, cpu_type, ...).
    Every prod VM has a fixed vmid and a static ip (memory in MiB, disks in GiB; data_disks maps
    a SCSI slot to its size, e.g. { scsi1 = 100 }). node defaults to the template's node: PVE
    clones a template to another node only when the template is on shared storage. Prod's own
    default: node_exporter = true (main.tf). Typed by modules/vm, not here, so no attribute is
    out of reach and no default differs from the module's.
  EOT
  type        = any
  default = {
    docker1 = {
      vmid    = 120
      ip      = "10.10.10.30/24"
      cores   = 4
      memory  = 8192
      disk    = 100
      docker  = true
      tags    = ["docker", "services"]
      startup = "order=3"
    }
    db1 = {
      vmid       = 121
      ip         = "10.10.10.31/24"
      cores      = 4
      memory     = 8192
      disk       = 40
      data_disks = { scsi1 = 100 }
      tags       = ["database", "postgres"]
      startup    = "order=2"
    }
  }

  validation {
    # Other services point at these addresses; a DHCP lease could move them.
    condition     = alltrue([for v in values(var.vms) : try(v.ip != "dhcp", false)])
    error_message = "Prod VMs need static addresses (ip = \"10.10.10.x/24\"), not dhcp. (VMs: ${join(", ", sort([for name, v in var.vms : name if !try(v.ip != "dhcp", false)]))})"
  }

  validation {
    condition     = alltrue([for v in values(var.vms) : try(v.vmid != null, false)])
    error_message = "Every prod VM needs a fixed vmid (120-129). (VMs: ${join(", ", sort([for name, v in var.vms : name if !try(v.vmid != null, false)]))})"
  }
}

variable "containers" {
  description = "Prod containers by hostname, with modules/lxc's attributes (all of them), each with a fixed vmid, a node and a static ip; mount_points maps a mount point id to its volume, e.g. { mp0 = { path = \"/data\", size = 10 } }. Typed by modules/lxc, not here."
  type        = any
  default = {
    dns1 = { vmid = 130, ip = "10.10.10.53/24", node = "pve2", tags = ["dns", "infra"], startup = "order=1" }
    dns2 = { vmid = 131, ip = "10.10.10.54/24", node = "pve3", tags = ["dns", "infra"], startup = "order=1" }
    proxy1 = {
      vmid         = 132
      ip           = "10.10.10.40/24"
      node         = "pve3"
      memory       = 1024
      nesting      = true
      tags         = ["proxy", "infra"]
      startup      = "order=2"
      mount_points = { mp0 = { path = "/var/lib/caddy", size = 2, backup = true } }
    }
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : try(c.ip != "dhcp", false)])
    error_message = "Prod containers need static addresses, not dhcp. (containers: ${join(", ", sort([for name, c in var.containers : name if !try(c.ip != "dhcp", false)]))})"
  }

  validation {
    condition     = alltrue([for c in values(var.containers) : try(c.vmid != null && c.node != null, false)])
    error_message = "Every prod container needs a fixed vmid (130-149) and a node. (containers: ${join(", ", sort([for name, c in var.containers : name if !try(c.vmid != null && c.node != null, false)]))})"
  }

  validation {
    # The modules check uniqueness among VMs and among containers; this checks across both.
    condition     = length(setintersection([for c in values(var.containers) : try(c.vmid, null)], [for v in values(var.vms) : try(v.vmid, null)])) == 0
    error_message = "A vmid is used by both a VM and a container: every prod guest needs its own vmid."
  }

  validation {
    condition     = length(setintersection([for c in values(var.containers) : try(split("/", c.ip)[0], null)], [for v in values(var.vms) : try(split("/", v.ip)[0], null)])) == 0
    error_message = "An IP address is used by both a VM and a container: every prod guest needs its own address."
  }

  validation {
    condition     = length(setintersection(keys(var.containers), keys(var.vms))) == 0
    error_message = "A container's hostname repeats a VM's name."
  }
}
