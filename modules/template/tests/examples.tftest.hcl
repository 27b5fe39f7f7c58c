# The examples plan as written (examples/minimal, examples/complete).

mock_provider "pve" {
  mock_resource "pve_download_file" {
    defaults = {
      volume_id = "local:import/ubuntu-24.04-server-cloudimg-amd64.qcow2"
      size      = 65536
    }
  }
}

run "minimal" {
  command = plan
  module { source = "./examples/minimal" }
}

run "complete" {
  command = plan
  module { source = "./examples/complete" }
}
