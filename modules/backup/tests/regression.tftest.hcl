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
    condition     = pve_backup_job.this.id == run.create.id
    error_message = "Adding a guest must not change the job ID (that replaces the job)."
  }

  assert {
    condition     = pve_backup_job.this.vmids == toset([101, 102, 103])
    error_message = "The same job (one address) gains the guest."
  }
}

run "vmid_order_does_not_matter" {
  command = plan

  variables {
    vmids = [102, 101]
  }

  assert {
    condition     = pve_backup_job.this.vmids == toset([101, 102])
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
    condition     = pve_backup_job.this.id == "prod-daily"
    error_message = "Editing schedule or retention keeps the ID (in-place update)."
  }
}

run "policies_do_not_share_ids" {
  command = plan

  variables {
    environment = "lab"
  }

  assert {
    condition     = pve_backup_job.this.id != run.create.id
    error_message = "Each environment's job has its own ID, so one environment's job never replaces another's."
  }
}

run "lab_and_prod_run_at_different_times" {
  command = plan

  variables {
    environment = "monitoring"
  }

  assert {
    condition     = pve_backup_job.this.schedule != "*-*-* 01:00"
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
    condition     = pve_backup_job.this.retention.keep_weekly == null && pve_backup_job.this.retention.keep_daily == 2
    error_message = "An override drops the policy's keep_weekly rather than keeping both."
  }
}

run "exactly_one_job_whatever_the_selection" {
  command = plan

  variables {
    vmids = []
    pool  = "prod"
  }

  assert {
    condition     = pve_backup_job.this.pool == "prod" && pve_backup_job.this.vmids == null && pve_backup_job.this.all == null
    error_message = "Any selection plans the one job, pve_backup_job.this, with only that selection set."
  }
}

# The job of run "create" (vmids) switches to all = true: the same address, pve_backup_job.this,
# is planned with the new selection and the old one cleared. That is an in-place update: with
# one block per kind of selection the vmids job was destroyed and an all job created. A mock
# provider's plan cannot show the action, but a created object would have an unknown next_run
# (computed) and a destroyed one no pve_backup_job.this; here next_run is the known value
# carried over from the applied job.
run "switching_vmids_to_all_updates_in_place" {
  command = plan

  variables {
    vmids   = []
    all     = true
    exclude = [9000]
  }

  assert {
    condition     = pve_backup_job.this.id == run.create.id
    error_message = "The job keeps its ID (a changed ID would replace it)."
  }

  assert {
    condition     = pve_backup_job.this.all == true && pve_backup_job.this.exclude == toset([9000])
    error_message = "The job is planned with the all selection and its exclude."
  }

  assert {
    condition     = pve_backup_job.this.vmids == null && pve_backup_job.this.pool == null
    error_message = "The vmids selection is cleared (set to null) in the same job, not left for a conflict."
  }

  assert {
    condition     = pve_backup_job.this.next_run == run.create.next_run
    error_message = "next_run is carried over from the applied job: the plan updates it, it does not create a new one."
  }

  assert {
    condition     = output.selection.all && length(output.selection.vmids) == 0 && output.selection.exclude == tolist([9000])
    error_message = "The selection output follows the switch."
  }
}
