# The examples plan as written (examples/minimal, examples/complete), with a key that ends in a
# newline, as file("~/.ssh/id_ed25519.pub") returns it.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = { vmid = 9000, node = "pve1" }
  }
}

variables {
  ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 you@laptop\n"]
}

run "minimal" {
  command = plan
  module { source = "./examples/minimal" }

  assert {
    condition     = module.vms.pve_lifecycle_tag["web1"].environment == "prod"
    error_message = "The minimal example plans one VM in prod."
  }
}

run "complete" {
  command = plan
  module { source = "./examples/complete" }

  assert {
    condition     = length(module.vms.pve_lifecycle_tag) == 4
    error_message = "The complete example plans its four VMs."
  }
}
