output "id" {
  description = "ID of the backup job."
  value       = pve_backup_job.this.id
}

output "schedule" {
  description = "The job's schedule (PVE calendar event)."
  value       = pve_backup_job.this.schedule
}

output "next_run" {
  description = "Next run as a Unix timestamp."
  value       = pve_backup_job.this.next_run
}

output "storage" {
  description = "Storage the backups go to."
  value       = pve_backup_job.this.storage
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
