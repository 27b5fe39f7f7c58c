# Guards against the classic problems of backup jobs: ID churn replacing the job, overlapping
# selections, retention overrides that silently merge, schedule drift between environments.

mock_provider "pve" {}

variables {
  environment = "prod"
  vmids       = [101, 102]
}

run "create" {
  assert {
    condition     = output.id == "prod-daily"
    error_message = "The prod job is created with its policy ID."
  }
}

run "adding_a_guest_keeps_the_job" {
  command = plan

  variables {
    vmids = [101, 102, 103]
  }

  assert {
    condition     = pve_backup_job.vmids[0].id == run.create.id
    error_message = "Adding a guest must not change the job ID (that replaces the job)."
  }

  assert {
    condition     = length(pve_backup_job.vmids) == 1
    error_message = "Still exactly one job."
  }
}

run "vmid_order_does_not_matter" {
  command = plan

  variables {
    vmids = [102, 101]
  }

  assert {
    condition     = pve_backup_job.vmids[0].vmids == toset([101, 102])
    error_message = "vmids is a set: reordering the list plans the same value."
  }
}

run "schedule_and_retention_edits_keep_the_job" {
  command = plan

  variables {
    schedule  = "*-*-* 04:00"
    retention = { keep_daily = 14 }
  }

  assert {
    condition     = pve_backup_job.vmids[0].id == "prod-daily"
    error_message = "Editing schedule or retention keeps the ID (in-place update)."
  }
}

run "policies_do_not_share_ids" {
  command = plan

  variables {
    environment = "lab"
  }

  assert {
    condition     = pve_backup_job.vmids[0].id != run.create.id
    error_message = "Each environment's job has its own ID, so one environment's job never replaces another's."
  }
}

run "lab_and_prod_run_at_different_times" {
  command = plan

  variables {
    environment = "monitoring"
  }

  assert {
    condition     = pve_backup_job.vmids[0].schedule != "*-*-* 01:00"
    error_message = "Monitoring backups must not start together with prod's (both on shared backup storage)."
  }
}

run "retention_override_is_not_merged" {
  command = plan

  variables {
    environment = "lab"
    retention   = { keep_daily = 2 }
  }

  assert {
    condition     = pve_backup_job.vmids[0].retention.keep_weekly == null && pve_backup_job.vmids[0].retention.keep_daily == 2
    error_message = "An override drops the policy's keep_weekly rather than keeping both."
  }
}

run "exactly_one_job_whatever_the_selection" {
  command = plan

  variables {
    vmids = []
    all   = true
  }

  assert {
    condition     = length(pve_backup_job.vmids) + length(pve_backup_job.pool) + length(pve_backup_job.all) == 1
    error_message = "Exactly one job exists for any selection."
  }
}
