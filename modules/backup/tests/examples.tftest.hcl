# The examples plan as written (examples/minimal, examples/complete).

mock_provider "pve" {}

run "minimal" {
  command = plan
  module { source = "./examples/minimal" }
}

run "complete" {
  command = plan
  module { source = "./examples/complete" }

  assert {
    condition     = output.retention.keep_weekly == 8
    error_message = "The complete example keeps 8 weekly backups."
  }
}
