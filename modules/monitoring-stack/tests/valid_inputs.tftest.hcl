# Input validation: each run gives one kind of bad value and expects exactly the variables that
# must reject it; the first runs show that good values (edge cases included) are accepted.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = {
      vmid = 9000
      node = "pve1"
    }
  }
}

# Obviously fake secrets.
variables {
  ip                       = "10.10.10.50/24"
  gateway                  = "10.10.10.1"
  ssh_public_keys          = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000 test@example"]
  pve_endpoints            = ["pve1.lan"]
  pve_exporter_token_value = "00000000-0000-4000-8000-000000000000"
  grafana_deb_sha256       = join("", [for i in range(64) : "a"])
  telegram_bot_token       = "000000000:FAKE-test-token-not-a-real-bot-token"
  telegram_chat_id         = "123456789"
  grafana_admin_password   = "FAKE-test-password-0000"
}

run "defaults_and_minimal_inputs_are_valid" {
  command = plan

  assert {
    condition     = module.vm.pve_vm["monitoring"].name == "monitoring" && module.vm.pve_lifecycle_tag["monitoring"].environment == "monitoring"
    error_message = "The minimal inputs must plan the VM with its defaults."
  }
}

run "edge_values_are_valid" {
  command = plan

  variables {
    name                  = "m"
    vmid                  = 999999999
    ip                    = "192.168.1.254/30"
    gateway               = "192.168.1.253"
    cores                 = 64
    memory                = 2048
    disk_size             = 20
    vlan                  = 4094
    telegram_chat_id      = "-1001234567890"
    pve_endpoints         = ["10.0.0.2:8006", "pve2.example.org"]
    node_exporter_targets = ["nas.lan:9100"]
    ssh_public_keys       = ["ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQFake== ", "ecdsa-sha2-nistp256 AAAAE2VjZHNhFake="]
    prometheus_retention  = "1y"
  }

  assert {
    condition     = module.vm.pve_vm["monitoring"].vmid == 999999999 && module.vm.pve_vm["monitoring"].ip_config[0].ipv4 == "192.168.1.254/30"
    error_message = "Edge values must be accepted as given."
  }
}

run "name_must_be_a_dns_label" {
  command = plan

  variables {
    name = "Monitoring_1"
  }

  expect_failures = [var.name]
}

run "name_longer_than_63_characters_is_rejected" {
  command = plan

  variables {
    name = "m123456789012345678901234567890123456789012345678901234567890123"
  }

  expect_failures = [var.name]
}

run "node_and_template_names_are_checked" {
  command = plan

  variables {
    node          = "-pve1"
    template_name = "ubuntu 24.04"
  }

  expect_failures = [var.node, var.template_name]
}

run "vmid_below_100_is_rejected" {
  command = plan

  variables {
    vmid = 99
  }

  expect_failures = [var.vmid]
}

run "vmid_fractional_is_rejected" {
  command = plan

  variables {
    vmid = 150.5
  }

  expect_failures = [var.vmid]
}

run "ip_without_prefix_is_rejected" {
  command = plan

  variables {
    ip = "10.10.10.50"
  }

  # The gateway check needs the prefix too, but stays quiet for a malformed ip.
  expect_failures = [var.ip]
}

run "ip_with_a_bad_octet_or_prefix_is_rejected" {
  command = plan

  variables {
    ip = "10.10.10.300/31"
  }

  expect_failures = [var.ip]
}

run "ip_network_or_broadcast_address_is_rejected" {
  command = plan

  variables {
    ip = "10.10.10.255/24"
  }

  expect_failures = [var.ip]
}

run "gateway_outside_the_subnet_is_rejected" {
  command = plan

  variables {
    gateway = "10.10.11.1"
  }

  expect_failures = [var.gateway]
}

run "gateway_equal_to_the_vm_address_is_rejected" {
  command = plan

  variables {
    gateway = "10.10.10.50"
  }

  expect_failures = [var.gateway]
}

run "network_inputs_are_checked" {
  command = plan

  variables {
    dns_servers = ["10.10.10.1", "dns.lan"]
    bridge      = "vmbr0 "
    vlan        = 4095
  }

  expect_failures = [var.dns_servers, var.bridge, var.vlan]
}

run "sizes_below_what_the_stack_needs_are_rejected" {
  command = plan

  variables {
    cores     = 0
    memory    = 1024
    disk_size = 10
  }

  expect_failures = [var.cores, var.memory, var.disk_size]
}

run "storages_are_checked" {
  command = plan

  variables {
    storage         = "local lvm"
    snippet_storage = ""
  }

  expect_failures = [var.storage, var.snippet_storage]
}

run "environment_must_be_a_lowercase_name" {
  command = plan

  variables {
    environment = "Prod"
  }

  expect_failures = [var.environment]
}

run "lifecycle_tags_in_tags_are_rejected" {
  command = plan

  variables {
    tags = ["observability", "environment-prod"]
  }

  expect_failures = [var.tags]
}

run "login_user_and_keys_are_checked" {
  command = plan

  variables {
    user            = "root"
    ssh_public_keys = ["not a key"]
  }

  expect_failures = [var.user, var.ssh_public_keys]
}

run "at_least_one_ssh_key_is_needed" {
  command = plan

  variables {
    ssh_public_keys = []
  }

  expect_failures = [var.ssh_public_keys]
}

run "pve_endpoints_need_host_without_scheme" {
  command = plan

  variables {
    pve_endpoints = ["https://pve1.lan:8006"]
  }

  expect_failures = [var.pve_endpoints]
}

run "pve_endpoints_must_not_be_empty" {
  command = plan

  variables {
    pve_endpoints = []
  }

  expect_failures = [var.pve_endpoints]
}

run "pve_endpoints_must_not_repeat" {
  command = plan

  variables {
    pve_endpoints = ["pve1.lan", "pve1.lan"]
  }

  expect_failures = [var.pve_endpoints]
}

run "node_exporter_targets_need_a_port" {
  command = plan

  variables {
    node_exporter_targets = ["10.10.10.11"]
  }

  expect_failures = [var.node_exporter_targets]
}

run "node_exporter_targets_must_not_repeat" {
  command = plan

  variables {
    node_exporter_targets = ["10.10.10.12:9100", "10.10.10.12:9100"]
  }

  expect_failures = [var.node_exporter_targets]
}

run "exporter_identity_and_token_are_checked" {
  command = plan

  variables {
    pve_exporter_user        = "prometheus"
    pve_exporter_token_name  = "!monitoring"
    pve_exporter_token_value = "not-a-uuid"
    pve_exporter_version     = "2.3.0"
  }

  expect_failures = [var.pve_exporter_user, var.pve_exporter_token_name, var.pve_exporter_token_value, var.pve_exporter_version]
}

run "pve_ca_certificate_must_be_pem" {
  command = plan

  variables {
    pve_ca_certificate = "/etc/pve/pve-root-ca.pem"
  }

  expect_failures = [var.pve_ca_certificate]
}

run "telegram_inputs_are_checked" {
  command = plan

  variables {
    telegram_bot_token = "not-a-token"
    telegram_chat_id   = "0"
  }

  expect_failures = [var.telegram_bot_token, var.telegram_chat_id]
}

run "telegram_chat_id_must_be_numeric" {
  command = plan

  variables {
    telegram_chat_id = "@my_channel"
  }

  expect_failures = [var.telegram_chat_id]
}

run "grafana_password_must_be_long_and_without_spaces" {
  command = plan

  variables {
    grafana_admin_password = "short"
  }

  expect_failures = [var.grafana_admin_password]
}

run "grafana_password_with_whitespace_is_rejected" {
  command = plan

  variables {
    grafana_admin_password = "long enough but spaced"
  }

  expect_failures = [var.grafana_admin_password]
}

run "secrets_version_is_a_plain_token" {
  command = plan

  variables {
    secrets_version = "two words" # pragma: allowlist secret
  }

  expect_failures = [var.secrets_version]
}

run "prometheus_retention_must_be_days_weeks_or_years" {
  command = plan

  variables {
    prometheus_retention = "720h"
  }

  expect_failures = [var.prometheus_retention]
}

run "a_port_taken_by_an_exporter_rejected" {
  command = plan
  variables { grafana_port = 9100 }
  expect_failures = [var.grafana_port]
}

run "grafana_url_with_shell_characters_rejected" {
  command = plan
  variables { grafana_deb_url = "https://mirror.lan/grafana.deb;reboot" }
  expect_failures = [var.grafana_deb_url]
}

run "grafana_checksum_must_be_hex" {
  command = plan
  variables { grafana_deb_sha256 = "REPLACE-with-64-hex-digits" }
  expect_failures = [var.grafana_deb_sha256]
}
