# Upgrading from the module that declared its own pve_vm.this and pve_lifecycle_tag.this: both
# move into module.vm (the moved blocks in main.tf), keyed "monitoring", and neither is destroyed
# and created again (the VM holds the metrics). The runs share one state (state_key); the first
# applies the old layout (tests/fixtures/before_modules_vm).

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = { vmid = 9000, node = "pve2" }
  }
  mock_resource "pve_vm" {
    defaults = { vmid = 111, current_node = "pve2" }
  }
  mock_resource "pve_lifecycle_tag" {
    defaults = { created_on = "2030-01-01" }
  }
}

variables {
  ip                       = "10.10.10.50/24"
  gateway                  = "10.10.10.1"
  ssh_public_keys          = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000 test@example"]
  pve_endpoints            = ["pve1.lan"]
  pve_exporter_token_value = "00000000-0000-4000-8000-000000000000"
  grafana_deb_sha256       = join("", [for i in range(64) : "a"])
  telegram_bot_token       = "000000000:${join("-", ["FAKE", "test", "token", "not", "a", "real", "bot", "token"])}"
  telegram_chat_id         = "-1001234567890"
  grafana_admin_password   = join("-", ["fake", "password", "for", "tests"])
}

run "before_the_upgrade" {
  state_key = "monitoring"

  module {
    source = "./tests/fixtures/before_modules_vm"
  }
}

run "upgrade_keeps_the_vm_and_its_tag" {
  command   = plan
  state_key = "monitoring"

  assert {
    # A VM created anew would have an unknown vmid at plan (computed).
    condition     = module.vm.pve_vm["monitoring"].vmid == run.before_the_upgrade.vmid && output.vmid == 111
    error_message = "pve_vm.this must move to module.vm.pve_vm.this[\"monitoring\"] (vmid carried over), not be replaced."
  }
  assert {
    # A tag created anew would have an unknown created_on at plan (computed).
    condition     = module.vm.pve_lifecycle_tag["monitoring"].created_on == run.before_the_upgrade.tag_created_on
    error_message = "pve_lifecycle_tag.this must move to module.vm.pve_lifecycle_tag.this[\"monitoring\"], not be replaced."
  }
}
