# The alert rules and their promtool unit tests, parsed by Terraform (tests/fixtures/rules):
# 30 alerts in 8 groups, each with severity, summary, description and for, and each with a
# firing and a silent test case. promtool itself runs them in tests/check-files.sh.

run "eight_groups_with_30_alerts" {
  command = plan

  module {
    source = "./tests/fixtures/rules"
  }

  assert {
    condition = output.alerts_per_group == {
      node = 9, proxmox = 5, prometheus = 3, backup = 3, drift = 3, orphans = 2, health = 2, lifecycle = 3
    }
    error_message = "Alerts per group differ from node 9, proxmox 5, prometheus 3, backup 3, drift 3, orphans 2, health 2, lifecycle 3."
  }
  assert {
    condition     = length(output.alert_names) == 30 && length(distinct(output.alert_names)) == 30
    error_message = "There must be 30 alerts with distinct names."
  }
  assert {
    condition     = alltrue([for f, groups in output.group_files : groups == [f]])
    error_message = "Each alerts/<group>.yml must hold exactly the group of its name."
  }
  assert {
    condition     = length(output.recording_rules) == 0
    error_message = "The alert files must hold alerts only."
  }
}

run "required_alerts_exist" {
  command = plan

  module {
    source = "./tests/fixtures/rules"
  }

  assert {
    condition     = alltrue([for a in ["VMRebootRequired", "LabVMExpired", "SnapshotOlderThanWeek"] : contains(output.alert_names, a)])
    error_message = "VMRebootRequired, LabVMExpired and SnapshotOlderThanWeek must exist."
  }
}

run "every_alert_has_severity_annotations_and_for" {
  command = plan

  module {
    source = "./tests/fixtures/rules"
  }

  assert {
    condition     = length(output.alerts_missing_fields) == 0
    error_message = "Alerts lacking severity, summary, description or for: ${join(", ", output.alerts_missing_fields)}."
  }
  assert {
    condition     = length(setsubtract(output.severities, ["critical", "warning", "info"])) == 0
    error_message = "Severities must be critical, warning or info: Alertmanager routes only those."
  }
}

run "every_alert_has_a_firing_and_a_silent_test_case" {
  command = plan

  module {
    source = "./tests/fixtures/rules"
  }

  assert {
    condition     = length(output.alerts_without_firing_case) == 0
    error_message = "Alerts without a firing test case: ${join(", ", output.alerts_without_firing_case)}."
  }
  assert {
    condition     = length(output.alerts_without_silent_case) == 0
    error_message = "Alerts without a silent test case: ${join(", ", output.alerts_without_silent_case)}."
  }
  assert {
    condition     = length(output.firing_cases_without_annotations) == 0
    error_message = "Firing cases that do not check severity, summary and description: ${join(", ", output.firing_cases_without_annotations)}."
  }
  assert {
    condition     = length(output.cases_for_unknown_alerts) == 0
    error_message = "Test cases for alerts that do not exist: ${join(", ", output.cases_for_unknown_alerts)}."
  }
}
