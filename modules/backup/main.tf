# One vzdump job following the environment's backup policy, with every part overridable.

locals {
  # The policies: what each environment can afford to lose and how far back it must reach.
  policies = {
    prod = {
      id        = "prod-daily"
      schedule  = "*-*-* 01:00"
      retention = { keep_daily = 7, keep_weekly = 4 }
    }
    lab = {
      id        = "lab-weekly"
      schedule  = "sun 03:00"
      retention = { keep_weekly = 3 }
    }
    monitoring = {
      id        = "monitoring-daily"
      schedule  = "*-*-* 02:00"
      retention = { keep_daily = 7 }
    }
  }

  policy   = local.policies[var.environment]
  id       = var.id != null ? var.id : local.policy.id
  schedule = var.schedule != null ? var.schedule : local.policy.schedule
  # An override replaces the policy's retention as a whole, so a count can also be dropped.
  retention_keys = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "keep_all"]
  retention      = { for k in local.retention_keys : k => var.retention != null ? var.retention[k] : lookup(local.policy.retention, k, null) }
}

# One resource block per kind of selection, of which exactly one is created. Each block names
# its own selection and leaves the other two as literal nulls: the provider's config validation
# counts a not-yet-known value as "set", so a single block fed from variables fails
# `terraform validate` with "Conflicting selection". Switching the kind recreates the job.

resource "pve_backup_job" "vmids" {
  count = length(var.vmids) > 0 ? 1 : 0

  id       = local.id
  schedule = local.schedule
  storage  = var.storage
  mode     = var.mode
  compress = var.compress
  enabled  = var.enabled
  node     = var.node
  comment  = var.comment
  vmids    = toset(var.vmids)

  notes_template    = var.notes_template
  mail_to           = length(var.mail_to) > 0 ? var.mail_to : null
  mail_notification = length(var.mail_to) > 0 ? var.mail_notification : null

  retention {
    keep_last    = local.retention.keep_last
    keep_hourly  = local.retention.keep_hourly
    keep_daily   = local.retention.keep_daily
    keep_weekly  = local.retention.keep_weekly
    keep_monthly = local.retention.keep_monthly
    keep_yearly  = local.retention.keep_yearly
    keep_all     = local.retention.keep_all
  }
}

resource "pve_backup_job" "pool" {
  count = var.pool != null ? 1 : 0

  id       = local.id
  schedule = local.schedule
  storage  = var.storage
  mode     = var.mode
  compress = var.compress
  enabled  = var.enabled
  node     = var.node
  comment  = var.comment
  pool     = var.pool

  notes_template    = var.notes_template
  mail_to           = length(var.mail_to) > 0 ? var.mail_to : null
  mail_notification = length(var.mail_to) > 0 ? var.mail_notification : null

  retention {
    keep_last    = local.retention.keep_last
    keep_hourly  = local.retention.keep_hourly
    keep_daily   = local.retention.keep_daily
    keep_weekly  = local.retention.keep_weekly
    keep_monthly = local.retention.keep_monthly
    keep_yearly  = local.retention.keep_yearly
    keep_all     = local.retention.keep_all
  }
}

resource "pve_backup_job" "all" {
  count = var.all ? 1 : 0

  id       = local.id
  schedule = local.schedule
  storage  = var.storage
  mode     = var.mode
  compress = var.compress
  enabled  = var.enabled
  node     = var.node
  comment  = var.comment
  all      = true
  exclude  = length(var.exclude) > 0 ? toset(var.exclude) : null

  notes_template    = var.notes_template
  mail_to           = length(var.mail_to) > 0 ? var.mail_to : null
  mail_notification = length(var.mail_to) > 0 ? var.mail_notification : null

  retention {
    keep_last    = local.retention.keep_last
    keep_hourly  = local.retention.keep_hourly
    keep_daily   = local.retention.keep_daily
    keep_weekly  = local.retention.keep_weekly
    keep_monthly = local.retention.keep_monthly
    keep_yearly  = local.retention.keep_yearly
    keep_all     = local.retention.keep_all
  }
}

locals {
  # The one job that exists, whichever block created it.
  job = one(concat(pve_backup_job.vmids, pve_backup_job.pool, pve_backup_job.all))
}
