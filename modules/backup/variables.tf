# Inputs of the backup module: an environment picks the policy (schedule, retention, ID);
# every part of it can be overridden.

variable "environment" {
  description = "Environment the job belongs to, and the policy (var.policies) it starts from: prod (daily 01:00, 7 daily + 4 weekly), lab (Sunday 03:00, 3 weekly), monitoring (daily 02:00, 7 daily), k8s (as prod). Any other name gives id, schedule and retention itself."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,31}$", var.environment))
    error_message = "environment must be 1 to 32 lowercase letters and digits, starting with a letter (e.g. prod, lab, k8s)."
  }

  validation {
    condition     = contains(keys(var.policies), var.environment) || (var.id != null && var.schedule != null && var.retention != null)
    error_message = "environment has no policy in var.policies: add one there, or set id, schedule and retention."
  }
}

variable "policies" {
  description = "Backup policy of each environment: what it can afford to lose and how far back it must reach. The defaults are this repository's; a caller replaces the map as a whole."
  type = map(object({
    id       = string
    schedule = string
    retention = object({
      keep_last    = optional(number)
      keep_hourly  = optional(number)
      keep_daily   = optional(number)
      keep_weekly  = optional(number)
      keep_monthly = optional(number)
      keep_yearly  = optional(number)
      keep_all     = optional(bool)
    })
  }))
  default = {
    prod       = { id = "prod-daily", schedule = "*-*-* 01:00", retention = { keep_daily = 7, keep_weekly = 4 } }
    lab        = { id = "lab-weekly", schedule = "sun 03:00", retention = { keep_weekly = 3 } }
    monitoring = { id = "monitoring-daily", schedule = "*-*-* 02:00", retention = { keep_daily = 7 } }
    # etcd and the cluster's PKI change daily, like prod's data.
    k8s = { id = "k8s-daily", schedule = "*-*-* 01:00", retention = { keep_daily = 7, keep_weekly = 4 } }
  }

  validation {
    condition     = alltrue([for name, p in var.policies : can(regex("^[a-zA-Z][a-zA-Z0-9_-]{1,63}$", p.id)) && trimspace(p.schedule) != ""])
    error_message = "Every policy needs an id (2 to 64 characters: a letter, then letters, digits, '_' or '-') and a schedule."
  }
}

variable "id" {
  description = "Backup job ID; null means <environment>-daily (prod, monitoring) or lab-weekly. Changing it replaces the job."
  type        = string
  default     = null

  validation {
    condition     = var.id == null || can(regex("^[a-zA-Z][a-zA-Z0-9_-]{1,63}$", var.id))
    error_message = "id must be 2 to 64 characters: a letter, then letters, digits, '_' or '-'."
  }
}

variable "schedule" {
  description = "Override of the policy's schedule, as a PVE calendar event (e.g. \"*-*-* 01:00\", \"sun 03:00\", \"mon..fri 22:30\")."
  type        = string
  default     = null

  validation {
    # The provider parses the event fully at plan time; this catches the obvious slips early.
    condition     = var.schedule == null || can(regex("^[a-z0-9*.,:/~ -]+$", coalesce(var.schedule, "-"))) && trimspace(coalesce(var.schedule, " ")) != ""
    error_message = "schedule must be a PVE calendar event made of lowercase weekdays, digits, '*', '.', ',', ':', '/', '~', '-' and spaces (e.g. \"sun 03:00\")."
  }
}

variable "retention" {
  description = "Override of the policy's retention (replaces it as a whole): keep_* counts per period, or keep_all = true."
  type = object({
    keep_last    = optional(number)
    keep_hourly  = optional(number)
    keep_daily   = optional(number)
    keep_weekly  = optional(number)
    keep_monthly = optional(number)
    keep_yearly  = optional(number)
    keep_all     = optional(bool)
  })
  default = null

  validation {
    condition = var.retention == null || alltrue([
      for k in ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"] :
      try(var.retention[k] == null || (var.retention[k] == floor(var.retention[k]) && var.retention[k] >= 1 && var.retention[k] <= 10000), false)
    ])
    error_message = "Every keep_* count must be a whole number from 1 to 10000 (leave it null to not keep by that period)."
  }

  validation {
    condition = var.retention == null || try(var.retention.keep_all == true, false) || anytrue([
      for k in ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"] : try(var.retention[k] != null, false)
    ])
    error_message = "retention must keep something: set at least one keep_* count, or keep_all = true."
  }

  validation {
    condition = var.retention == null || !try(var.retention.keep_all == true, false) || alltrue([
      for k in ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"] : try(var.retention[k] == null, true)
    ])
    error_message = "keep_all = true keeps every backup: it cannot be combined with keep_* counts."
  }
}

variable "storage" {
  description = "Storage the backups go to (must hold backup content)."
  type        = string
  default     = "backup"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_.-]*[a-zA-Z0-9]$", var.storage))
    error_message = "storage must be a PVE storage ID (a letter, then letters, digits, '-', '_', '.'; not ending in punctuation)."
  }
}

variable "vmids" {
  description = "Selection: back up these guests (one of vmids, pool or all)."
  type        = list(number)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for v in var.vmids : v == floor(v) && v >= 100 && v <= 999999999])
    error_message = "Every vmid must be a whole number from 100 to 999999999."
  }

  validation {
    condition     = length(distinct(var.vmids)) == length(var.vmids)
    error_message = "vmids must not list a guest twice."
  }

  validation {
    condition     = (length(var.vmids) > 0 ? 1 : 0) + (var.pool != null ? 1 : 0) + (var.all ? 1 : 0) == 1
    error_message = "Choose exactly one selection: vmids (non-empty), pool, or all = true."
  }
}

variable "pool" {
  description = "Selection: back up the guests of this resource pool."
  type        = string
  default     = null

  validation {
    condition     = var.pool == null || can(regex("^[A-Za-z0-9_.-]+$", coalesce(var.pool, "-")))
    error_message = "pool must be a PVE pool ID (letters, digits, '-', '_', '.')."
  }
}

variable "all" {
  description = "Selection: back up every guest (on node, if set), minus exclude."
  type        = bool
  default     = false
  nullable    = false
}

variable "exclude" {
  description = "With all = true: guests to leave out (e.g. templates)."
  type        = list(number)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.exclude) == 0 || var.all
    error_message = "exclude only applies together with all = true."
  }

  validation {
    condition     = alltrue([for v in var.exclude : v == floor(v) && v >= 100 && v <= 999999999])
    error_message = "Every excluded vmid must be a whole number from 100 to 999999999."
  }
}

variable "node" {
  description = "Run the job only on this node (null: every node)."
  type        = string
  default     = null

  validation {
    condition     = var.node == null || can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", coalesce(var.node, "-")))
    error_message = "node must be a PVE node name (lowercase letters, digits and '-')."
  }
}

variable "mode" {
  description = "vzdump mode: snapshot (no downtime), suspend or stop."
  type        = string
  default     = "snapshot"

  validation {
    condition     = contains(["snapshot", "suspend", "stop"], var.mode)
    error_message = "mode must be snapshot, suspend or stop."
  }
}

variable "compress" {
  description = "Compression: zstd, gzip, lzo, or 0 for none."
  type        = string
  default     = "zstd"

  validation {
    condition     = contains(["zstd", "gzip", "lzo", "0"], var.compress)
    error_message = "compress must be zstd, gzip, lzo or 0 (none)."
  }
}

variable "enabled" {
  description = "Whether the job runs (false keeps it defined but paused)."
  type        = bool
  default     = true
}

variable "comment" {
  description = "Description shown in the PVE UI."
  type        = string
  default     = null

  validation {
    condition     = var.comment == null || length(coalesce(var.comment, "-")) <= 512
    error_message = "comment may be at most 512 characters."
  }
}

variable "notes_template" {
  description = "Notes for each backup, with {{guestname}}, {{vmid}}, {{node}}, {{cluster}}."
  type        = string
  default     = null
}

variable "mail_to" {
  description = "Addresses (or PVE users) to mail about backups."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.mail_to : can(regex("^[^@\\s]+@[^@\\s]+$", m)) || can(regex("^[A-Za-z0-9._-]+@(pam|pve)$", m))])
    error_message = "Every mail_to entry must be an e-mail address (or a PVE user such as root@pam)."
  }
}

variable "mail_notification" {
  description = "When to mail: failure (default when mail_to is set) or always."
  type        = string
  default     = "failure"

  validation {
    condition     = contains(["always", "failure"], var.mail_notification)
    error_message = "mail_notification must be always or failure."
  }
}
