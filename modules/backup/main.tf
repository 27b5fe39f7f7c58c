# One vzdump job following the environment's backup policy, with every part overridable.

locals {
  # The environment's policy (var.policies; an environment without one gives id, schedule and
  # retention itself, which variables.tf checks).
  policy   = try(var.policies[var.environment], null)
  id       = var.id != null ? var.id : try(local.policy.id, null)
  schedule = var.schedule != null ? var.schedule : try(local.policy.schedule, null)
  # An override replaces the policy's retention as a whole, so a count can also be dropped.
  retention_keys = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "keep_all"]
  retention      = { for k in local.retention_keys : k => var.retention != null ? var.retention[k] : try(local.policy.retention[k], null) }
}

# The job. Exactly one selection is set (variables.tf checks that) and the other two are null,
# so switching the kind of selection (vmids -> all, say) updates this job in place; only a
# change of `id` replaces it. `all` and `exclude` are null rather than false/[] when unused:
# the provider counts only known, non-null values (a true `all`, a non-empty set) as a choice,
# and a null plans no diff against a job that never had the attribute.

resource "pve_backup_job" "this" {
  id       = local.id
  schedule = local.schedule
  storage  = var.storage
  mode     = var.mode
  compress = var.compress
  enabled  = var.enabled
  node     = var.node
  comment  = var.comment

  vmids   = length(var.vmids) > 0 ? toset(var.vmids) : null
  pool    = var.pool
  all     = var.all ? true : null
  exclude = var.all && length(var.exclude) > 0 ? toset(var.exclude) : null

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

# Before the single block there was one per kind of selection, of which exactly one existed.
# Every environment in this repository selects by vmids, so that job is moved here and keeps
# its state. A move can have only one source: a caller whose job was `pve_backup_job.pool[0]`
# or `.all[0]` runs, once, `terraform state mv 'module.<name>.pve_backup_job.all[0]'
# 'module.<name>.pve_backup_job.this'` (otherwise the plan replaces the job under the same ID).
moved {
  from = pve_backup_job.vmids[0]
  to   = pve_backup_job.this
}
