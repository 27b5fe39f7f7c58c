# Inputs of the bootstrap: the cloud image templates are built from, where they go, and where
# the least-privilege tokens' secrets are written.

variable "image_url" {
  description = "Cloud image the templates are built from (qcow2 or raw), fetched by each template node over its own network. Pin a release, not current/."
  type        = string
  default     = "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img"
}

variable "image_checksum" {
  description = "SHA-256 of the image (from the release's SHA256SUMS); PVE verifies it before keeping the file."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.image_checksum))
    error_message = "image_checksum must be the image's SHA-256: 64 lowercase hex digits."
  }
}

variable "image_file_name" {
  description = "File name of the image on the storage; PVE's import content wants a .qcow2, .raw or .vmdk name (Ubuntu's .img files are qcow2)."
  type        = string
  default     = "ubuntu-24.04-server-cloudimg-amd64.qcow2"
}

variable "template_name" {
  description = "Name of the templates (the lab finds its template by this name)."
  type        = string
  default     = "ubuntu-2404-cloudinit"
}

variable "template_nodes" {
  description = "Node => VMID of the template built there. Local storage is per node: give every node that clones from local disks its own template (k8s spreads its VMs over three nodes)."
  type        = map(number)
  default     = { pve1 = 9000 }
}

variable "template_storage" {
  description = "Storage of the templates' disks."
  type        = string
  default     = "local-lvm"
}

variable "image_storage" {
  description = "Storage the image and container templates are downloaded to (content import and vztmpl)."
  type        = string
  default     = "local"
}

variable "lxc_templates" {
  description = "Container templates to download on every template node: key => url, checksum (SHA-256), and optional file_name."
  type = map(object({
    url       = string
    checksum  = string
    file_name = optional(string)
  }))
  default = {}
}

variable "secrets_dir" {
  description = "Existing directory (mode 0700) the tokens are written to: terraform.token and pve-ops.token, each USER!NAME=SECRET with mode 0600."
  type        = string

  validation {
    condition     = startswith(var.secrets_dir, "/")
    error_message = "secrets_dir must be an absolute path, so the token files do not depend on where Terraform runs."
  }
}

variable "grant_sys_modify" {
  description = "Grant the provider's token Sys.Modify on /, which backup jobs and startup orders need (see modules/access)."
  type        = bool
  default     = true
}

variable "manage_ha" {
  description = "Let the provider's token manage HA resources and rules (Sys.Console on /)."
  type        = bool
  default     = true
}
