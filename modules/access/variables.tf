# Inputs of the access module: who the provider and pve-ops act as, where their token secrets
# go, and which optional powers they get.

variable "terraform_user" {
  description = "User the Terraform provider acts as (realm pve: no password, it logs in with its token only)."
  type        = string
  default     = "terraform@pve"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}@(pve|pam)$", var.terraform_user))
    error_message = "terraform_user must be NAME@pve or NAME@pam (NAME: letters, digits, '.', '_' or '-')."
  }
}

variable "ops_user" {
  description = "User pve-ops acts as (restores, backup checks, snapshots, lab expiry, health, drift)."
  type        = string
  default     = "pve-ops@pve"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}@(pve|pam)$", var.ops_user))
    error_message = "ops_user must be NAME@pve or NAME@pam (NAME: letters, digits, '.', '_' or '-')."
  }
}

variable "token_name" {
  description = "Name of each user's API token (the token ID is USER!NAME)."
  type        = string
  default     = "iac"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._-]{1,63}$", var.token_name))
    error_message = "token_name must be 2 to 64 characters: a letter, then letters, digits, '.', '_' or '-'."
  }
}

variable "terraform_token_file" {
  description = "Local file the Terraform token (USER!NAME=SECRET) is written to, mode 0600; the secret stays out of the state. Its directory must exist."
  type        = string

  validation {
    condition     = trimspace(var.terraform_token_file) != ""
    error_message = "terraform_token_file must be a path."
  }
}

variable "ops_token_file" {
  description = "Local file the pve-ops token (USER!NAME=SECRET) is written to, mode 0600; the secret stays out of the state. Its directory must exist."
  type        = string

  validation {
    condition     = trimspace(var.ops_token_file) != ""
    error_message = "ops_token_file must be a path."
  }
}

variable "file_storages" {
  description = "Storages the provider writes and deletes files on (cloud-init snippets, cloud images, LXC templates): it gets Datastore.Allocate there, and only there. PVE needs it to read a storage's directory and to delete a volume."
  type        = list(string)
  default     = ["local"]

  validation {
    condition     = alltrue([for s in var.file_storages : can(regex("^[A-Za-z][A-Za-z0-9_.-]*$", s))])
    error_message = "Every entry of file_storages must be a storage ID (a letter, then letters, digits, '_', '.' or '-')."
  }
}

variable "grant_sys_modify" {
  description = "Grant the provider Sys.Modify on /, which PVE requires for backup jobs (pve_backup_job) and for a guest's startup order (startup), and which also allows changing node settings. Without it, leave both to another user; downloads then need download_nodes."
  type        = bool
  default     = true
}

variable "manage_ha" {
  description = "Let the provider manage HA resources and rules (pve_ha_resource, pve_ha_rule). PVE requires Sys.Console on / for that."
  type        = bool
  default     = true
}

variable "download_nodes" {
  description = "Without grant_sys_modify: nodes the provider may download cloud images and templates on (pve_download_file), with Sys.AccessNetwork on /nodes/NODE, which lets PVE fetch URLs from that node's network. With Sys.Modify on / (the default) PVE allows downloads on every node already."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.download_nodes : can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,62}$", n))])
    error_message = "Every entry of download_nodes must be a node name."
  }
}

variable "token_expire" {
  description = "When both tokens expire, in seconds since the epoch; 0: never. Rotating means changing this or token_name, then applying."
  type        = number
  default     = 0

  validation {
    condition     = var.token_expire >= 0 && floor(var.token_expire) == var.token_expire
    error_message = "token_expire must be a whole number of seconds since the epoch, or 0 for never."
  }
}
