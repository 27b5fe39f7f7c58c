output "id" {
  description = "ID of the backup job."
  value       = local.job.id
}

output "schedule" {
  description = "The job's schedule (PVE calendar event)."
  value       = local.job.schedule
}

output "next_run" {
  description = "Next run as a Unix timestamp."
  value       = local.job.next_run
}

output "storage" {
  description = "Storage the backups go to."
  value       = local.job.storage
}

output "retention" {
  description = "Effective retention: the keep_* counts (and keep_all) that are set."
  value       = { for k, v in local.retention : k => v if v != null }
}

output "selection" {
  description = "What the job backs up: vmids, pool or all (with exclude)."
  value = {
    vmids   = var.vmids
    pool    = var.pool
    all     = var.all
    exclude = var.exclude
  }
}
