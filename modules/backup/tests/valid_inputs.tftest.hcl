# Input validation of the backup module: policies, selections, retention and schedule overrides.

mock_provider "pve" {}

variables {
  environment = "prod"
  vmids       = [101, 102]
}

run "prod_with_vmids_is_valid" {
  command = plan

  assert {
    condition     = pve_backup_job.this.vmids == toset([101, 102])
    error_message = "A prod policy with vmids plans the job."
  }
}

run "unknown_environment_rejected" {
  command = plan

  variables {
    environment = "staging"
  }

  expect_failures = [var.environment]
}

run "environment_is_case_sensitive" {
  command = plan

  variables {
    environment = "Prod"
  }

  expect_failures = [var.environment]
}

run "no_selection_rejected" {
  command = plan

  variables {
    vmids = []
  }

  expect_failures = [var.vmids]
}

run "vmids_and_all_rejected" {
  command = plan

  variables {
    all = true
  }

  expect_failures = [var.vmids]
}

run "vmids_and_pool_rejected" {
  command = plan

  variables {
    pool = "prod"
  }

  expect_failures = [var.vmids]
}

run "pool_and_all_rejected" {
  command = plan

  variables {
    vmids = []
    pool  = "prod"
    all   = true
  }

  expect_failures = [var.vmids]
}

run "exclude_without_all_rejected" {
  command = plan

  variables {
    exclude = [9000]
  }

  expect_failures = [var.exclude]
}

run "exclude_with_all_accepted" {
  command = plan

  variables {
    vmids   = []
    all     = true
    exclude = [9000]
  }

  assert {
    condition     = pve_backup_job.this.exclude == toset([9000])
    error_message = "exclude together with all = true is valid and passed through."
  }
}

run "null_selection_inputs_mean_their_defaults" {
  command = plan

  variables {
    all     = null
    exclude = null
  }

  assert {
    condition     = pve_backup_job.this.vmids == toset([101, 102]) && pve_backup_job.this.all == null && pve_backup_job.this.exclude == null
    error_message = "all = null and exclude = null are their defaults (false, []), not errors."
  }
}

run "vmid_below_100_rejected" {
  command = plan

  variables {
    vmids = [99]
  }

  expect_failures = [var.vmids]
}

run "duplicate_vmids_rejected" {
  command = plan

  variables {
    vmids = [101, 101]
  }

  expect_failures = [var.vmids]
}

run "id_with_dot_rejected" {
  command = plan

  variables {
    id = "prod.daily"
  }

  expect_failures = [var.id]
}

run "id_starting_with_digit_rejected" {
  command = plan

  variables {
    id = "1daily"
  }

  expect_failures = [var.id]
}

run "schedule_with_uppercase_rejected" {
  command = plan

  variables {
    schedule = "Sun 03:00"
  }

  expect_failures = [var.schedule]
}

run "blank_schedule_rejected" {
  command = plan

  variables {
    schedule = "   "
  }

  expect_failures = [var.schedule]
}

run "schedule_override_accepted" {
  command = plan

  variables {
    schedule = "mon..fri 22:30"
  }

  assert {
    condition     = pve_backup_job.this.schedule == "mon..fri 22:30"
    error_message = "A valid calendar event overrides the policy's schedule."
  }
}

run "empty_retention_rejected" {
  command = plan

  variables {
    retention = {}
  }

  expect_failures = [var.retention]
}

run "zero_keep_count_rejected" {
  command = plan

  variables {
    retention = { keep_daily = 0 }
  }

  expect_failures = [var.retention]
}

run "fractional_keep_count_rejected" {
  command = plan

  variables {
    retention = { keep_weekly = 1.5 }
  }

  expect_failures = [var.retention]
}

run "keep_all_with_counts_rejected" {
  command = plan

  variables {
    retention = { keep_all = true, keep_daily = 7 }
  }

  expect_failures = [var.retention]
}

run "keep_all_alone_accepted" {
  command = plan

  variables {
    retention = { keep_all = true }
  }

  assert {
    condition     = pve_backup_job.this.retention.keep_all == true && pve_backup_job.this.retention.keep_daily == null
    error_message = "keep_all = true alone is a valid retention and drops the policy's counts."
  }
}

run "storage_invalid_rejected" {
  command = plan

  variables {
    storage = "backup-"
  }

  expect_failures = [var.storage]
}

run "mode_invalid_rejected" {
  command = plan

  variables {
    mode = "live"
  }

  expect_failures = [var.mode]
}

run "compress_invalid_rejected" {
  command = plan

  variables {
    compress = "bzip2"
  }

  expect_failures = [var.compress]
}

run "mail_to_invalid_rejected" {
  command = plan

  variables {
    mail_to = ["ops"]
  }

  expect_failures = [var.mail_to]
}

run "mail_notification_invalid_rejected" {
  command = plan

  variables {
    mail_notification = "never"
  }

  expect_failures = [var.mail_notification]
}

run "comment_too_long_rejected" {
  command = plan

  variables {
    comment = join("", [for i in range(513) : "x"])
  }

  expect_failures = [var.comment]
}

run "k8s_has_a_policy_of_its_own" {
  command = plan

  variables {
    environment = "k8s"
  }

  assert {
    condition     = pve_backup_job.this.id == "k8s-daily" && pve_backup_job.this.schedule == "*-*-* 01:00" && pve_backup_job.this.retention.keep_daily == 7
    error_message = "k8s backs up like prod, under its own job ID."
  }
}

run "any_environment_that_brings_its_policy" {
  command = plan

  variables {
    environment = "staging"
    id          = "staging-nightly"
    schedule    = "*-*-* 04:00"
    retention   = { keep_daily = 3 }
  }

  assert {
    condition     = pve_backup_job.this.id == "staging-nightly" && pve_backup_job.this.retention.keep_daily == 3
    error_message = "An environment without a policy works when it gives id, schedule and retention."
  }
}

run "policies_are_an_input" {
  command = plan

  variables {
    environment = "prod"
    policies = {
      prod = { id = "prod-twice", schedule = "*-*-* 01,13:00", retention = { keep_last = 14 } }
    }
  }

  assert {
    condition     = pve_backup_job.this.id == "prod-twice" && pve_backup_job.this.retention.keep_last == 14 && pve_backup_job.this.retention.keep_daily == null
    error_message = "The caller's policies replace the defaults."
  }
}
