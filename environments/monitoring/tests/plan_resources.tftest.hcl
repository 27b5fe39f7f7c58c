# What the monitoring environment plans: the MinIO state server, the monitoring stack, and the
# daily backup of both. Mock provider: no PVE needed. The values are fake: nothing here is a
# real credential.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = {
      vmid = 9000
      node = "pve1"
    }
  }
}

variables {
  ssh_public_keys          = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly test@example"]
  minio_server_sha256      = "0000000000000000000000000000000000000000000000000000000000000000"
  minio_client_sha256      = "1111111111111111111111111111111111111111111111111111111111111111"
  minio_root_user          = "tfadmin"
  minio_root_password      = join("-", ["fake", "root", "password", "for", "tests"])
  pve_exporter_token_value = "00000000-0000-4000-8000-000000000000"
  grafana_deb_sha256       = join("", [for i in range(64) : "a"])
  telegram_bot_token       = "123456:fake-telegram-token-for-tests-only-000"
  telegram_chat_id         = "123456789"
  grafana_admin_password   = "fake-grafana-password"
}

# Assertions reach child modules only through their outputs; the modules' own tests cover
# the rest of each VM.
run "both_vms" {
  command = plan

  assert {
    condition     = module.minio.vmid == 110 && module.minio.node == "pve1" && module.minio.ip == "10.10.10.20"
    error_message = "the MinIO VM is VMID 110 on pve1 at 10.10.10.20"
  }
  assert {
    condition     = module.monitoring.vmid == 111 && module.monitoring.ip == "10.10.10.21"
    error_message = "the monitoring VM is VMID 111 at 10.10.10.21"
  }
  assert {
    condition     = output.minio_endpoint == "http://minio.lan:9000" && output.monitoring.urls.grafana == "http://10.10.10.21:3000"
    error_message = "without TLS the state server answers on http://minio.lan:9000; Grafana on the monitoring VM"
  }
  assert {
    condition     = output.minio.buckets == tolist(["tfstate"]) && keys(output.minio_backend_config) == ["k8s", "lab", "monitoring", "prod"]
    error_message = "one tfstate bucket for prod, lab and monitoring"
  }
}

run "state_server_lifecycle_tag" {
  command = plan

  assert {
    condition     = module.minio.vm.vmid == 110 && module.minio.vm.environment == "monitoring" && module.minio.vm.no_expire == true
    error_message = "the MinIO VM is tagged environment-monitoring and never expires"
  }
}

run "daily_backup_of_both" {
  command = plan

  assert {
    condition     = module.backup.id == "monitoring-daily" && module.backup.schedule == "*-*-* 02:00"
    error_message = "the monitoring policy runs daily at 02:00 as job monitoring-daily"
  }
  assert {
    condition     = module.backup.retention == { keep_daily = 7 }
    error_message = "the monitoring policy keeps 7 daily backups (and nothing else)"
  }
  assert {
    condition     = module.backup.storage == "backup" && output.backup_job.vmids == tolist([110, 111])
    error_message = "the job backs up both VMs to the backup storage"
  }
}

run "backend_config_matches_backend_files" {
  command = plan

  assert {
    # This environment's own backend.tf must name the key the server's layout gives it.
    condition     = can(regex("key\\s*=\\s*\"${output.minio_backend_config["monitoring"].key}\"", file("backend.tf")))
    error_message = "backend.tf's key must be minio_backend_config.monitoring.key"
  }
  assert {
    condition = alltrue([
      can(regex("bucket\\s*=\\s*\"${output.minio_backend_config["monitoring"].bucket}\"", file("backend.hcl.example"))),
      strcontains(file("backend.hcl.example"), "s3 = \"${output.minio_backend_config["monitoring"].endpoints.s3}\""),
    ])
    error_message = "backend.hcl.example must show the bucket and the endpoint the server provides by default (plain HTTP, as the MinIO module without tls_*)"
  }
  assert {
    condition     = alltrue([for env in ["prod", "lab", "k8s", "monitoring"] : output.minio_backend_config[env].use_lockfile && output.minio_backend_config[env].use_path_style])
    error_message = "every environment's backend uses path-style requests and S3 lock files"
  }
}

run "secrets_stay_out_of_outputs" {
  command = plan

  assert {
    condition = !anytrue([for s in ["fake-root-password-for-tests", "fake-telegram-token-for-tests-only", "fake-grafana-password", "00000000-0000-4000-8000-000000000000"] :
      strcontains(jsonencode([output.minio_endpoint, output.minio_console_url, output.minio_backend_config, output.minio, output.monitoring, output.backup_job]), s)
    ])
    error_message = "no output may contain a password or token"
  }
  assert {
    condition     = !issensitive(output.minio_backend_config) && !issensitive(output.minio_endpoint)
    error_message = "the backend settings must stay readable (terraform output -json) to write backend.hcl files"
  }
}

# The secrets are ephemeral and reach only the VMs' write-only user-data: each VM's
# user_data_wo_version (module output user_data_version) follows its secrets_version, never a
# secret.
run "versions_base" {
  command = plan

  assert {
    condition     = startswith(module.minio.user_data_version, "1:") && startswith(module.monitoring.user_data_version, "1:")
    error_message = "both VMs' user_data_wo_version start with secrets_version 1"
  }
}

run "versions_ignore_the_secrets" {
  command = plan
  variables {
    minio_root_user          = "another-admin"
    minio_root_password      = "another-fake-root-password" # pragma: allowlist secret
    pve_exporter_token_value = "11111111-1111-4111-8111-111111111111"
    telegram_bot_token       = "654321:another-fake-telegram-token-for-tests" # pragma: allowlist secret
    grafana_admin_password   = "another-fake-grafana-password"                # pragma: allowlist secret
    state_credentials = {
      lab = { access_key = "lab-state", secret_key = "fake-lab-secret-value" } # pragma: allowlist secret
    }
  }

  assert {
    condition     = output.minio.user_data_version == run.versions_base.minio.user_data_version && output.monitoring.user_data_version == run.versions_base.monitoring.user_data_version
    error_message = "a change of secrets alone must not change either VM's user_data_wo_version"
  }
}

run "versions_follow_secrets_version_and_non_secret_inputs" {
  command = plan
  variables {
    minio_secrets_version = "2"
    prometheus_retention  = "60d"
  }

  assert {
    condition     = output.minio.user_data_version == "2:${split(":", run.versions_base.minio.user_data_version)[1]}"
    error_message = "bumping minio_secrets_version must change only the MinIO VM's version, and only its secrets_version part"
  }
  assert {
    condition     = startswith(output.monitoring.user_data_version, "1:") && output.monitoring.user_data_version != run.versions_base.monitoring.user_data_version
    error_message = "a non-secret change (prometheus_retention) must change the monitoring VM's version by itself"
  }
}

run "vms_must_not_share_an_address" {
  command = plan
  variables { monitoring_ip = "10.10.10.20/24" }
  expect_failures = [var.monitoring_ip]
}

run "vms_must_not_share_a_vmid" {
  command = plan
  variables { monitoring_vmid = 110 }
  expect_failures = [var.monitoring_vmid]
}

run "monitoring_state_must_be_on_the_server" {
  command = plan
  variables { state_environments = ["prod", "lab"] }
  expect_failures = [var.state_environments]
}

# Environments must not share default VMIDs or addresses: monitoring has 110-119 and
# 10.10.10.20-29 (prod 120-149 / .30-.59, k8s 150-169 / .60-.79, the lab 200 and up).
run "defaults_in_the_monitoring_ranges" {
  command = plan

  assert {
    condition = alltrue([for g in [{ vmid = module.minio.vmid, ip = module.minio.ip }, { vmid = module.monitoring.vmid, ip = module.monitoring.ip }] :
      g.vmid >= 110 && g.vmid <= 119 && startswith(g.ip, "10.10.10.") && tonumber(split(".", g.ip)[3]) >= 20 && tonumber(split(".", g.ip)[3]) <= 29
    ])
    error_message = "MinIO and the monitoring VM default to VMIDs in 110-119 and addresses in 10.10.10.20-29."
  }

  assert {
    condition = module.minio.vmid == 110 && alltrue(concat(
      [for m in regexall("_vmid\\s*=\\s*([0-9]+)", file("terraform.tfvars.example")) : tonumber(m[0]) >= 110 && tonumber(m[0]) <= 119],
      [for m in regexall("_ip\\s*=\\s*\"10\\.10\\.10\\.([0-9]+)/", file("terraform.tfvars.example")) : tonumber(m[0]) >= 20 && tonumber(m[0]) <= 29],
    )) && length(regexall("_vmid\\s*=", file("terraform.tfvars.example"))) == 2 && length(regexall("_ip\\s*=", file("terraform.tfvars.example"))) == 2
    error_message = "terraform.tfvars.example gives both VMs VMIDs in 110-119 and addresses in 10.10.10.20-29."
  }
}
