# What the backup module plans for each environment policy, selection and override.

mock_provider "pve" {
  mock_resource "pve_backup_job" {
    defaults = {
      next_run = 1893456000
    }
  }
}

variables {
  environment = "prod"
  vmids       = [101, 102, 103]
}

run "prod_policy" {
  command = plan

  assert {
    condition     = pve_backup_job.this.id == "prod-daily" && pve_backup_job.this.schedule == "*-*-* 01:00"
    error_message = "prod backs up daily at 01:00 as job prod-daily."
  }

  assert {
    condition     = pve_backup_job.this.retention.keep_daily == 7 && pve_backup_job.this.retention.keep_weekly == 4
    error_message = "prod keeps 7 daily and 4 weekly backups."
  }

  assert {
    condition     = pve_backup_job.this.retention.keep_monthly == null && pve_backup_job.this.retention.keep_last == null
    error_message = "prod sets no other keep_* counts."
  }
}

run "lab_policy" {
  command = plan

  variables {
    environment = "lab"
  }

  assert {
    condition     = pve_backup_job.this.id == "lab-weekly" && pve_backup_job.this.schedule == "sun 03:00"
    error_message = "lab backs up on Sundays at 03:00 as job lab-weekly."
  }

  assert {
    condition     = pve_backup_job.this.retention.keep_weekly == 3 && pve_backup_job.this.retention.keep_daily == null
    error_message = "lab keeps 3 weekly backups only."
  }
}

run "monitoring_policy" {
  command = plan

  variables {
    environment = "monitoring"
  }

  assert {
    condition     = pve_backup_job.this.id == "monitoring-daily" && pve_backup_job.this.schedule == "*-*-* 02:00"
    error_message = "monitoring backs up daily at 02:00 as job monitoring-daily."
  }

  assert {
    condition     = pve_backup_job.this.retention.keep_daily == 7 && pve_backup_job.this.retention.keep_weekly == null
    error_message = "monitoring keeps 7 daily backups only."
  }
}

run "defaults" {
  command = plan

  assert {
    condition     = pve_backup_job.this.storage == "backup" && pve_backup_job.this.mode == "snapshot" && pve_backup_job.this.compress == "zstd"
    error_message = "Backups go to storage backup, in snapshot mode, zstd-compressed."
  }

  assert {
    condition     = pve_backup_job.this.enabled && pve_backup_job.this.node == null
    error_message = "The job is enabled and runs on every node."
  }

  assert {
    condition     = pve_backup_job.this.mail_to == null && pve_backup_job.this.mail_notification == null
    error_message = "No mail settings are sent without mail_to."
  }
}

run "selection_by_vmids" {
  command = plan

  assert {
    condition     = pve_backup_job.this.vmids == toset([101, 102, 103])
    error_message = "The vmids selection is passed as a set."
  }

  assert {
    condition     = pve_backup_job.this.pool == null && pve_backup_job.this.all == null && pve_backup_job.this.exclude == null
    error_message = "The vmids job names no other selection (null, not false or empty)."
  }
}

run "selection_by_pool" {
  command = plan

  variables {
    vmids = []
    pool  = "prod"
  }

  assert {
    condition     = pve_backup_job.this.pool == "prod"
    error_message = "A pool selection plans the job for the pool."
  }

  assert {
    condition     = pve_backup_job.this.vmids == null && pve_backup_job.this.all == null && pve_backup_job.this.exclude == null
    error_message = "The pool job names no other selection (null, not false or empty)."
  }
}

run "selection_all" {
  command = plan

  variables {
    vmids   = []
    all     = true
    exclude = [9000, 9001]
    node    = "pve1"
  }

  assert {
    condition     = pve_backup_job.this.all == true && pve_backup_job.this.exclude == toset([9000, 9001])
    error_message = "all = true backs up every guest minus exclude."
  }

  assert {
    condition     = pve_backup_job.this.vmids == null && pve_backup_job.this.pool == null
    error_message = "The all job names no other selection."
  }

  assert {
    condition     = pve_backup_job.this.node == "pve1"
    error_message = "node restricts the job to one node."
  }
}

run "selection_all_without_exclude" {
  command = plan

  variables {
    vmids = []
    all   = true
  }

  assert {
    condition     = pve_backup_job.this.all == true && pve_backup_job.this.exclude == null
    error_message = "all = true without exclude sends no (empty) exclude."
  }
}

run "overrides" {
  command = plan

  variables {
    id        = "prod-nightly"
    schedule  = "*-*-* 23:15"
    storage   = "nas"
    mode      = "stop"
    compress  = "0"
    enabled   = false
    retention = { keep_last = 2, keep_monthly = 6 }
  }

  assert {
    condition     = pve_backup_job.this.id == "prod-nightly" && pve_backup_job.this.schedule == "*-*-* 23:15" && pve_backup_job.this.storage == "nas"
    error_message = "id, schedule and storage overrides win over the policy."
  }

  assert {
    condition     = pve_backup_job.this.mode == "stop" && pve_backup_job.this.compress == "0" && !pve_backup_job.this.enabled
    error_message = "mode, compress and enabled are passed through."
  }

  assert {
    condition     = pve_backup_job.this.retention.keep_last == 2 && pve_backup_job.this.retention.keep_monthly == 6
    error_message = "The retention override's counts are set."
  }

  assert {
    condition     = pve_backup_job.this.retention.keep_daily == null && pve_backup_job.this.retention.keep_weekly == null
    error_message = "A retention override replaces the policy's counts instead of merging with them."
  }
}

run "mail_settings" {
  command = plan

  variables {
    mail_to = ["ops@example.com", "root@pam"]
  }

  assert {
    condition     = pve_backup_job.this.mail_to == tolist(["ops@example.com", "root@pam"]) && pve_backup_job.this.mail_notification == "failure"
    error_message = "mail_to is passed with mail_notification defaulting to failure."
  }
}

run "comment_and_notes" {
  command = plan

  variables {
    comment        = "prod guests"
    notes_template = "{{guestname}} ({{vmid}})"
  }

  assert {
    condition     = pve_backup_job.this.comment == "prod guests" && pve_backup_job.this.notes_template == "{{guestname}} ({{vmid}})"
    error_message = "comment and notes_template are passed through."
  }
}

run "outputs_after_apply" {
  assert {
    condition     = output.id == "prod-daily" && output.schedule == "*-*-* 01:00" && output.storage == "backup"
    error_message = "The outputs describe the job."
  }

  assert {
    condition     = output.retention == { keep_daily = 7, keep_weekly = 4 }
    error_message = "The retention output lists only the counts that are set."
  }

  assert {
    condition     = output.next_run == 1893456000
    error_message = "next_run comes from the job."
  }

  assert {
    condition     = output.selection.vmids == tolist([101, 102, 103]) && output.selection.pool == null && !output.selection.all
    error_message = "The selection output shows the vmids selection."
  }
}
