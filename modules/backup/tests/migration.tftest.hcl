# Upgrading from the module with one block per kind of selection: the job the environments
# had, pve_backup_job.vmids[0], moves to pve_backup_job.this (the moved block in main.tf) and
# is updated in place, never destroyed and created again. The runs share one state
# (state_key); the first applies the old layout (tests/fixtures/three_blocks).

mock_provider "pve" {}

variables {
  environment = "prod"
  vmids       = [101, 102]
}

run "before_the_upgrade" {
  state_key = "job"

  module {
    source = "./tests/fixtures/three_blocks"
  }
}

run "upgrade_keeps_the_job" {
  command   = plan
  state_key = "job"

  assert {
    condition     = pve_backup_job.this.id == run.before_the_upgrade.id && pve_backup_job.this.vmids == toset([101, 102])
    error_message = "The upgraded module plans the same job with the same selection."
  }

  assert {
    # A job created anew would have an unknown next_run at plan (computed).
    condition     = pve_backup_job.this.next_run == run.before_the_upgrade.next_run
    error_message = "pve_backup_job.vmids[0] must move to pve_backup_job.this (next_run carried over), not be replaced."
  }
}

run "upgrade_then_switch_to_all" {
  command   = plan
  state_key = "job"

  variables {
    vmids = []
    all   = true
  }

  assert {
    condition     = pve_backup_job.this.all == true && pve_backup_job.this.vmids == null
    error_message = "After the move the selection can switch to all."
  }

  assert {
    condition     = pve_backup_job.this.next_run == run.before_the_upgrade.next_run
    error_message = "Switching the selection right after the upgrade still updates the moved job in place."
  }
}
