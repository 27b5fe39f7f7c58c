# The examples plan as written (examples/minimal, examples/complete), with a key that ends in a
# newline, as file("~/.ssh/id_ed25519.pub") returns it.

mock_provider "pve" {}

variables {
  ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 you@laptop\n"]
  root_password   = join("-", ["fake", "password", "for", "tests", "only"])
}

run "minimal" {
  command = plan
  module { source = "./examples/minimal" }
}

run "complete" {
  command = plan
  module { source = "./examples/complete" }
}
