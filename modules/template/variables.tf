# Inputs of the template module: one cloud image, the nodes that get a template of it (with
# their VMIDs), the template's hardware, and container templates to download beside it.

variable "url" {
  description = "HTTP(S) URL of the cloud image (qcow2 or raw), e.g. Ubuntu's noble-server-cloudimg-amd64.img."
  type        = string

  validation {
    condition     = can(regex("^https?://[^\\s/]+/.+", var.url))
    error_message = "url must be an http:// or https:// URL with a path to the image."
  }
}

variable "file_name" {
  description = "Name of the image on image_storage. PVE's import content takes .qcow2, .raw and .vmdk names: a qcow2 image published as .img (Ubuntu's) must be named .qcow2 here."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9._+=-]+\\.(qcow2|raw|vmdk)$", var.file_name))
    error_message = "file_name must be letters, digits and . _ + = - ending in .qcow2, .raw or .vmdk (e.g. noble-server-cloudimg-amd64.qcow2)."
  }
}

variable "checksum" {
  description = "Expected checksum (hex) of the image, from the publisher's SHA256SUMS; null downloads unverified."
  type        = string
  default     = null

  validation {
    condition     = var.checksum == null || can(regex("^[0-9a-fA-F]+$", var.checksum))
    error_message = "checksum must be hexadecimal (the provider also checks its length for checksum_algorithm)."
  }
}

variable "checksum_algorithm" {
  description = "Algorithm of checksum: md5, sha1, sha224, sha256, sha384 or sha512."
  type        = string
  default     = "sha256"

  validation {
    condition     = contains(["md5", "sha1", "sha224", "sha256", "sha384", "sha512"], var.checksum_algorithm)
    error_message = "checksum_algorithm must be md5, sha1, sha224, sha256, sha384 or sha512."
  }
}

variable "verify_certificates" {
  description = "Verify the image server's TLS certificate."
  type        = bool
  default     = true
}

variable "nodes" {
  description = "Node => VMID of its template. Local storage is per node, so each node that clones from local disks needs its own template (and download)."
  type        = map(number)

  validation {
    condition     = length(var.nodes) > 0
    error_message = "nodes must name at least one node."
  }

  validation {
    condition     = alltrue([for vmid in values(var.nodes) : vmid >= 100 && vmid <= 999999999 && floor(vmid) == vmid])
    error_message = "Every VMID in nodes must be a whole number from 100 to 999999999."
  }

  validation {
    condition     = length(distinct(values(var.nodes))) == length(var.nodes)
    error_message = "VMIDs are cluster-wide: give each node's template its own VMID."
  }

  validation {
    condition     = alltrue([for node in keys(var.nodes) : can(regex("^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$", node))])
    error_message = "Every key of nodes must be a node name (letters, digits and '-')."
  }
}

variable "name" {
  description = "Name of the template VMs (a DNS name)."
  type        = string
  default     = "ubuntu-2404-cloudinit"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.name))
    error_message = "name must be a DNS label: lowercase letters, digits and '-'."
  }
}

variable "storage" {
  description = "Storage for the templates' disk and cloud-init drive (holding VM images), e.g. local-lvm."
  type        = string
  default     = "local-lvm"
}

variable "image_storage" {
  description = "File storage (with import, and vztmpl for lxc_templates, content) the files are downloaded to."
  type        = string
  default     = "local"
}

variable "bridge" {
  description = "Bridge of the templates' NIC (clones may override it)."
  type        = string
  default     = "vmbr0"
}

variable "tags" {
  description = "Tags of the templates."
  type        = list(string)
  default     = ["cloudinit", "template"]

  validation {
    condition     = alltrue([for tag in var.tags : can(regex("^[a-z0-9_][a-z0-9_+.-]*$", tag))])
    error_message = "Tags are lowercase letters, digits and _ + . - (PVE's tag format)."
  }
}

variable "disk_size" {
  description = "Size of the templates' boot disk in GiB; at least the image's virtual size (Ubuntu's is 3.5 GiB)."
  type        = number
  default     = 8

  validation {
    condition     = var.disk_size >= 1 && var.disk_size <= 131072 && floor(var.disk_size) == var.disk_size
    error_message = "disk_size must be a whole number of GiB from 1 to 131072."
  }
}

variable "cores" {
  description = "CPU cores of the templates (clones may override them)."
  type        = number
  default     = 2

  validation {
    condition     = var.cores >= 1 && var.cores <= 512
    error_message = "cores must be from 1 to 512."
  }
}

variable "memory" {
  description = "Memory of the templates in MiB (clones may override it)."
  type        = number
  default     = 2048

  validation {
    condition     = var.memory >= 16
    error_message = "memory must be at least 16 MiB."
  }
}

variable "protection" {
  description = "Protect the templates against removal. Off by default: a new image replaces them."
  type        = bool
  default     = false
}

variable "lxc_templates" {
  description = "Container templates to download to image_storage on every node of nodes, by key: url, and optional file_name (default: the URL's last segment), checksum and checksum_algorithm (default sha256)."
  type = map(object({
    url                = string
    file_name          = optional(string)
    checksum           = optional(string)
    checksum_algorithm = optional(string, "sha256")
  }))
  default = {}

  validation {
    condition     = alltrue([for t in values(var.lxc_templates) : can(regex("^https?://[^\\s/]+/.+", t.url))])
    error_message = "Every lxc_templates url must be an http:// or https:// URL with a path."
  }

  validation {
    condition     = alltrue([for t in values(var.lxc_templates) : can(regex("\\.tar(\\.(gz|xz|zst|bz2))?$", coalesce(t.file_name, t.url)))])
    error_message = "A container template's file name (file_name, or the URL's end) must end in .tar, .tar.gz, .tar.xz, .tar.zst or .tar.bz2."
  }
}
