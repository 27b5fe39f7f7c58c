# Input validation: each run feeds one bad value and expects exactly that variable's
# validation to fail; the last runs check that good, fully featured inputs plan.
# The values are fake: nothing here is a real credential.

mock_provider "pve" {}

variables {
  node                = "pve1"
  template_vmid       = 9000
  ip                  = "10.10.10.20/24"
  gateway             = "10.10.10.1"
  ssh_public_keys     = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly test@example"]
  minio_server_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
  minio_client_sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
  root_user           = "tfadmin"
  root_password       = join("-", ["fake", "root", "password", "for", "tests"])
}

run "name_must_be_a_dns_label" {
  command = plan
  variables { name = "MinIO_1" }
  expect_failures = [var.name]
}

run "vmid_below_100_is_rejected" {
  command = plan
  variables { vmid = 99 }
  expect_failures = [var.vmid]
}

run "template_vmid_must_be_whole" {
  command = plan
  variables { template_vmid = 9000.5 }
  expect_failures = [var.template_vmid]
}

run "ip_address_must_not_be_dhcp" {
  command = plan
  variables { ip = "dhcp" }
  expect_failures = [var.ip]
}

run "ip_address_needs_a_prefix_length" {
  command = plan
  variables { ip = "10.10.10.20" }
  expect_failures = [var.ip]
}

run "gateway_must_be_an_address" {
  command = plan
  variables { gateway = "router.lan" }
  expect_failures = [var.gateway]
}

run "at_least_one_ssh_key" {
  command = plan
  variables { ssh_public_keys = [] }
  expect_failures = [var.ssh_public_keys]
}

run "ssh_keys_must_be_public_keys" {
  command = plan
  variables { ssh_public_keys = ["-----BEGIN OPENSSH PRIVATE KEY-----"] }
  expect_failures = [var.ssh_public_keys]
}

run "admin_user_is_not_root" {
  command = plan
  variables { admin_user = "root" }
  expect_failures = [var.admin_user]
}

run "memory_below_1_gib_is_rejected" {
  command = plan
  variables { memory = 512 }
  expect_failures = [var.memory]
}

run "vlan_out_of_range" {
  command = plan
  variables { vlan = 4095 }
  expect_failures = [var.vlan]
}

run "root_password_too_short" {
  command = plan
  variables { root_password = "short-pw" }
  expect_failures = [var.root_password]
}

run "root_password_without_quotes" {
  # A quote would end the single-quoted value in /etc/default/minio.
  command = plan
  variables { root_password = "fake-password-with-'quote" }
  expect_failures = [var.root_password]
}

run "root_password_differs_from_user" {
  command = plan
  variables {
    root_user     = "same-value-twice"
    root_password = "same-value-twice"
  }
  expect_failures = [var.root_password]
}

run "root_user_without_spaces" {
  command = plan
  variables { root_user = "tf admin" }
  expect_failures = [var.root_user]
}

run "sha256_must_be_lowercase_hex" {
  command = plan
  variables { minio_server_sha256 = "ABCDEF" }
  expect_failures = [var.minio_server_sha256]
}

run "binaries_only_over_https" {
  command = plan
  variables { minio_client_url = "http://mirror.lan/mc" }
  expect_failures = [var.minio_client_url]
}

# The URL is pasted single-quoted into the install script: a quote would end the string.
run "binary_url_with_a_quote_rejected" {
  command = plan
  variables { minio_server_url = "https://mirror.lan/minio';reboot;'" }
  expect_failures = [var.minio_server_url]
}

run "binary_url_with_shell_characters_rejected" {
  command = plan
  variables { minio_client_url = "https://mirror.lan/mc$(id)" }
  expect_failures = [var.minio_client_url]
}

run "mirror_url_with_a_port_accepted" {
  command = plan
  variables { minio_server_url = "https://mirror.lan:8443/minio/minio.RELEASE.2025-04-22T22-12-26Z" }

  assert {
    condition     = strcontains(local.user_data, "fetch 'https://mirror.lan:8443/minio/minio.RELEASE.2025-04-22T22-12-26Z'")
    error_message = "A mirror on its own port is a valid source."
  }
}

run "environments_are_unique" {
  command = plan
  variables { environments = ["prod", "lab", "prod"] }
  expect_failures = [var.environments]
}

run "environments_are_lowercase" {
  command = plan
  variables { environments = ["Prod"] }
  expect_failures = [var.environments]
}

run "environments_not_empty" {
  command = plan
  variables { environments = [] }
  expect_failures = [var.environments]
}

run "bucket_name_follows_s3_rules" {
  command = plan
  variables { bucket_name = "TF_State" }
  expect_failures = [var.bucket_name]
}

run "tls_certificate_needs_its_key" {
  command = plan
  variables {
    tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
  }
  expect_failures = [var.tls_certificate]
}

run "tls_private_key_must_be_pem" {
  command = plan
  variables {
    tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key = "not a key"
  }
  expect_failures = [var.tls_private_key]
}

run "console_port_differs_from_api_port" {
  command = plan
  variables { console_port = 9000 }
  expect_failures = [var.console_port]
}

run "privileged_api_port_is_rejected" {
  command = plan
  variables { api_port = 443 }
  expect_failures = [var.api_port]
}

run "noncurrent_expiry_bounded" {
  command = plan
  variables { noncurrent_version_expiration_days = 5000 }
  expect_failures = [var.noncurrent_version_expiration_days]
}

run "credentials_only_for_known_environments" {
  command = plan
  variables {
    environment_credentials = { staging = { access_key = "staging-state", secret_key = "fake-staging-secret" } }
  }
  expect_failures = [var.environment_credentials]
}

run "credentials_need_distinct_access_keys" {
  command = plan
  variables {
    environment_credentials = {
      lab  = { access_key = "shared-key", secret_key = "fake-lab-secret-1" }
      prod = { access_key = "shared-key", secret_key = "fake-prod-secret-1" }
    }
  }
  expect_failures = [var.environment_credentials]
}

run "credentials_secret_key_length" {
  command = plan
  variables {
    environment_credentials = { lab = { access_key = "lab-state", secret_key = "short" } }
  }
  expect_failures = [var.environment_credentials]
}

run "secrets_version_is_a_plain_token" {
  command = plan
  variables { secrets_version = "2 (rotated)" } # pragma: allowlist secret
  expect_failures = [var.secrets_version]
}

run "full_featured_inputs_plan" {
  command = plan
  variables {
    name                   = "minio-state"
    vmid                   = 120
    vlan                   = 20
    endpoint_host          = "minio.lan"
    bucket_per_environment = true
    secrets_version        = "2026-12-01.1"
    tls_certificate        = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key        = "-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n"
    environment_credentials = {
      lab  = { access_key = "lab-state", secret_key = "fake-lab-secret-1" }
      prod = { access_key = "prod-state", secret_key = "fake-prod-secret-1" }
    }
  }

  assert {
    condition     = output.endpoint == "https://minio.lan:9000"
    error_message = "with TLS and endpoint_host the endpoint must be https://minio.lan:9000"
  }
  assert {
    condition     = module.vm.pve_vm["minio"].vmid == 120 && module.vm.pve_vm["minio"].network[0].vlan == 20
    error_message = "vmid and vlan must reach the VM"
  }
  assert {
    condition     = startswith(module.vm.pve_vm["minio"].user_data_wo_version, "2026-12-01.1:")
    error_message = "secrets_version must lead user_data_wo_version"
  }
}
