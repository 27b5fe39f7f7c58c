# Regressions: things that broke, or would break silently, when the user-data is assembled, and
# the write-only user-data: secrets in no readable attribute, a user_data_wo_version that
# follows every non-secret change and no secret one. local.user_data is the rendered user-data
# (ephemeral: an assertion may read it, no output may), local.user_data_redacted its
# secret-free variant, which the version hashes.

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
  telegram_chat_id         = "-1001234567890"
  grafana_admin_password   = "FAKE-test-password-0000"
}

run "grafana_variables_in_dashboards_are_not_template_syntax" {
  # Dashboards use $instance and Go-template-like {{...}} legends; they must reach the VM verbatim,
  # never pass through templatefile().
  command = plan

  assert {
    condition     = strcontains(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/grafana/dashboards/pve-home/node-exporter.json"]), "instance=\\\"$instance\\\"")
    error_message = "The $instance variable of the node exporter dashboard was altered."
  }
  assert {
    condition     = strcontains(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/alerts/drift.yml"]), "{{ with printf")
    error_message = "Alert annotations (Go templates) were altered."
  }
}

run "secrets_with_yaml_and_template_characters_survive_exactly" {
  command = plan

  variables {
    grafana_admin_password = "p@ss:#'\"$${x}%%{y}\\{{z}}&<>"
  }

  assert {
    condition     = base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/pve-home/grafana-admin-password"]) == var.grafana_admin_password
    error_message = "A password with YAML, shell and template characters must be written exactly."
  }
  assert {
    condition     = yamldecode(local.user_data).hostname == "monitoring"
    error_message = "user_data must stay valid YAML whatever the secrets contain."
  }
}

run "secrets_appear_only_in_their_root_only_files" {
  command = plan

  assert {
    condition = alltrue([for f in yamldecode(local.user_data).write_files :
      alltrue([for secret in [var.telegram_bot_token, var.grafana_admin_password, var.pve_exporter_token_value] :
        !strcontains(base64decode(f.content), secret)
      ]) if !startswith(f.path, "/etc/pve-home/")
    ])
    error_message = "A secret leaked into a world-readable file."
  }
  assert {
    condition = alltrue([for secret in [var.telegram_bot_token, var.grafana_admin_password, var.pve_exporter_token_value] :
    !strcontains(local.user_data, secret)])
    error_message = "Secrets must be base64 inside their files, never in the clear in user_data (cloud-init logs parts of it)."
  }
}

run "group_chat_id_stays_a_negative_integer" {
  # Telegram needs chat_id as a number; a quoted or float-formatted id is rejected by Alertmanager.
  command = plan

  assert {
    # Both receivers (telegram, telegram-silent).
    condition     = length(regexall("(?m)^ +chat_id: -1001234567890$", base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/alertmanager.yml"]))) == 2
    error_message = "chat_id must be rendered as a plain integer in both receivers."
  }
}

run "no_empty_target_group_without_node_exporter_targets" {
  command = plan

  variables {
    node_exporter_targets = []
  }

  assert {
    condition = jsondecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/file_sd/node.json"])) == [
      { targets = ["localhost:9100"], labels = { instance = "monitoring", role = "monitoring" } },
    ]
    error_message = "Without node_exporter_targets only the VM's own exporter is listed."
  }
}

run "own_node_exporter_instance_follows_the_vm_name" {
  # The pve-ops alerts' instance label is the VM name; renaming the VM must relabel them too.
  command = plan

  variables {
    name = "mon2"
  }

  assert {
    condition     = jsondecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/file_sd/node.json"]))[0].labels.instance == "mon2"
    error_message = "The VM's own node exporter must be labelled with the VM's name."
  }
}

run "environment_tag_is_not_in_pve_vm_tags" {
  # pve_vm ignores environment-* tags, so putting it there would show a diff on every plan.
  command = plan

  variables {
    environment = "prod"
    tags        = ["observability"]
  }

  assert {
    condition     = length([for t in module.vm.pve_vm["monitoring"].tags : t if startswith(t, "environment-")]) == 0 && module.vm.pve_lifecycle_tag["monitoring"].environment == "prod"
    error_message = "The environment must go through pve_lifecycle_tag only."
  }
}

run "pve_exporter_listens_on_localhost_only" {
  # Anyone reaching the exporter can make it send its API token to a host of their choice
  # (?target=), so it must not listen on the network.
  command = plan

  assert {
    condition     = strcontains(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/systemd/system/pve-exporter.service"]), "--web.listen-address=127.0.0.1:9221")
    error_message = "The PVE exporter must listen on 127.0.0.1 only."
  }
  assert {
    condition     = strcontains(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/prometheus.yml"]), "replacement: localhost:9221")
    error_message = "Prometheus must scrape the exporter on localhost."
  }
}

run "every_file_is_written_after_the_packages" {
  # Written before the packages, the files would be replaced or prompt in dpkg's conffile handling.
  command = plan

  assert {
    condition     = alltrue([for f in yamldecode(local.user_data).write_files : f.defer == true && f.encoding == "b64" && f.owner == "root:root"])
    error_message = "Every write_files entry must be deferred, base64 and owned by root."
  }
}

run "tls_verification_can_be_turned_off_explicitly" {
  command = plan

  variables {
    pve_exporter_verify_tls = false
  }

  assert {
    condition     = yamldecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/pve-home/pve-exporter.yml"])).default.verify_ssl == false
    error_message = "pve_exporter_verify_tls = false must reach the exporter's config."
  }
}

# --- user_data_wo_version: follows every non-secret change, no secret one -------------------

run "version_base" {
  command = plan
}

run "version_follows_non_secret_inputs" {
  command = plan

  variables {
    node_exporter_targets = ["10.10.10.12:9100"]
  }

  assert {
    condition     = module.vm.pve_vm["monitoring"].user_data_wo_version != run.version_base.user_data_version && startswith(module.vm.pve_vm["monitoring"].user_data_wo_version, "1:")
    error_message = "A new scrape target (a change of the user-data) must change user_data_wo_version."
  }
}

run "version_follows_the_exporter_settings_beside_its_token" {
  # pve-exporter.yml holds the token and non-secret settings: those must still count.
  command = plan

  variables {
    pve_exporter_verify_tls = false
  }

  assert {
    condition     = output.user_data_version != run.version_base.user_data_version
    error_message = "pve_exporter_verify_tls must change user_data_wo_version although it sits in the file with the token."
  }
}

run "version_follows_the_chat_id" {
  command = plan

  variables {
    telegram_chat_id = "-1009999999999"
  }

  assert {
    condition     = output.user_data_version != run.version_base.user_data_version
    error_message = "telegram_chat_id (not a secret) must change user_data_wo_version."
  }
}

run "version_ignores_the_secrets" {
  command = plan

  variables {
    telegram_bot_token       = "111111111:FAKE-another-token-not-a-real-bot-token" # pragma: allowlist secret
    grafana_admin_password   = "FAKE-another-password-1111"                        # pragma: allowlist secret
    pve_exporter_token_value = "11111111-1111-4111-8111-111111111111"
  }

  assert {
    condition     = module.vm.pve_vm["monitoring"].user_data_wo_version == run.version_base.user_data_version
    error_message = "user_data_wo_version must not depend on the secrets (it is stored)."
  }
  assert {
    condition     = base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/pve-home/grafana-admin-password"]) == "FAKE-another-password-1111"
    error_message = "The changed secrets must still reach the (write-only) user-data."
  }
}

run "secrets_version_pushes_rotated_secrets" {
  command = plan

  variables {
    grafana_admin_password = "FAKE-another-password-1111" # pragma: allowlist secret
    secrets_version        = "2"
  }

  assert {
    condition     = module.vm.pve_vm["monitoring"].user_data_wo_version == "2:${split(":", run.version_base.user_data_version)[1]}"
    error_message = "Bumping secrets_version must change user_data_wo_version (and only its secrets_version part)."
  }
}

# No secret may be readable anywhere Terraform keeps or shows: not in the applied VM or its
# lifecycle tag (user_data_wo reads as null), not in the version or an output, not in the
# secret-free variant the version hashes; but each of them in the user-data itself.
run "secrets_in_no_readable_attribute" {
  command = apply

  override_resource {
    target = module.vm.pve_vm.this
    values = { vmid = 160 }
  }

  assert {
    condition = alltrue([for secret in [var.telegram_bot_token, var.grafana_admin_password, var.pve_exporter_token_value] :
      !strcontains(jsonencode([module.vm.pve_vm["monitoring"], module.vm.pve_lifecycle_tag["monitoring"], output.urls, output.user_data_version]), secret) &&
      !strcontains(local.user_data_redacted, secret) && !strcontains(local.user_data_redacted, base64encode(secret))
    ])
    error_message = "A secret is readable in the VM's attributes, the secret-free user-data, the version or an output."
  }
  assert {
    condition     = module.vm.pve_vm["monitoring"].user_data == null && module.vm.pve_vm["monitoring"].user_data_wo == null
    error_message = "The applied VM must hold no user-data in state."
  }
  assert {
    condition = [for f in yamldecode(local.user_data_redacted).write_files : f.path] == [for f in yamldecode(local.user_data).write_files : f.path] && alltrue([
      for secret in [var.telegram_bot_token, var.grafana_admin_password, var.pve_exporter_token_value] : strcontains(local.user_data, base64encode(secret)) || strcontains(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/pve-home/pve-exporter.yml"]), secret)
    ])
    error_message = "The secret-free variant must have the same files as the user-data, which must carry every secret."
  }
}
