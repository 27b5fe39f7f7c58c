# The examples plan as written (examples/minimal, examples/complete), with fakes in place of
# the secrets and the key a user puts there.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = { vmid = 9000, node = "pve1" }
  }
}

variables {
  ssh_public_keys          = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000 you@laptop\n"]
  pve_exporter_token_value = "00000000-0000-0000-0000-000000000000"
  grafana_deb_sha256       = join("", [for i in range(64) : "a"])
  telegram_bot_token       = "123456:${join("", [for i in range(8) : "fake"])}"
  grafana_admin_password   = join("-", ["fake", "password", "for", "tests"])
}

run "minimal" {
  command = plan
  module { source = "./examples/minimal" }

  assert {
    condition     = output.monitoring_urls.grafana == "http://10.10.10.50:3000"
    error_message = "The minimal example serves Grafana on its address."
  }
}

run "complete" {
  command = plan
  module { source = "./examples/complete" }
  variables {
    pve_ca_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
  }
}
