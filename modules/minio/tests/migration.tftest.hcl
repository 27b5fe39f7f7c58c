# Upgrading from the module that declared its own pve_vm.this: the VM moves to
# module.vm.pve_vm.this["minio"] (the moved block in main.tf) and is never destroyed and created
# again, which would lose every environment's state. The runs share one state (state_key); the
# first applies the old layout (tests/fixtures/before_modules_vm).

mock_provider "pve" {
  mock_resource "pve_vm" {
    defaults = { vmid = 110 }
  }
}

variables {
  node                = "pve1"
  template_vmid       = 9000
  ip                  = "10.10.10.20/24"
  gateway             = "10.10.10.1"
  ssh_public_keys     = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly test@example"]
  minio_server_sha256 = join("", [for i in range(64) : "0"])
  minio_client_sha256 = join("", [for i in range(64) : "1"])
  root_user           = "tfadmin"
  root_password       = join("-", ["fake", "root", "password", "for", "tests"])
}

run "before_the_upgrade" {
  state_key = "minio"

  module {
    source = "./tests/fixtures/before_modules_vm"
  }
}

run "upgrade_keeps_the_vm" {
  command   = plan
  state_key = "minio"

  assert {
    # A VM created anew would have an unknown vmid at plan (computed).
    condition     = module.vm.pve_vm["minio"].vmid == run.before_the_upgrade.vmid && output.vmid == run.before_the_upgrade.vmid
    error_message = "pve_vm.this must move to module.vm.pve_vm.this[\"minio\"] (vmid carried over), not be replaced."
  }
}
