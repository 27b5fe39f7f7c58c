# What the module plans: the VM, its lifecycle tag, and the cloud-init user-data that carries
# every config file. The provider is mocked (no API calls). The user-data goes to the write-only
# user_data_wo, which reads as null, so the assertions decode local.user_data (ephemeral: an
# assertion may read it, no output may) exactly as cloud-init will.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = {
      vmid = 9000
      node = "pve2"
      tags = ["ubuntu"]
    }
  }

  mock_resource "pve_vm" {
    defaults = {
      vmid            = 150
      current_node    = "pve2"
      reboot_required = false
    }
  }
}

# Obviously fake secrets: the tests only check where they end up.
variables {
  ip                       = "10.10.10.50/24"
  gateway                  = "10.10.10.1"
  ssh_public_keys          = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000 test@example"]
  pve_endpoints            = ["pve1.lan", "10.10.10.3:8006"]
  node_exporter_targets    = ["10.10.10.11:9100", "pve1.lan:9100"]
  pve_exporter_token_value = "00000000-0000-4000-8000-000000000000"
  grafana_deb_sha256       = join("", [for i in range(64) : "a"])
  telegram_bot_token       = "000000000:FAKE-test-token-not-a-real-bot-token"
  telegram_chat_id         = "-1001234567890"
  grafana_admin_password   = "FAKE-test-password-0000"
}

run "vm_is_cloned_from_the_template_onto_its_node" {
  command = plan

  assert {
    condition     = module.vm.pve_vm["monitoring"].node == "pve2"
    error_message = "With node unset the VM goes to the template's node."
  }
  assert {
    condition     = module.vm.pve_vm["monitoring"].name == "monitoring" && module.vm.pve_vm["monitoring"].cores == 2 && module.vm.pve_vm["monitoring"].memory == 4096
    error_message = "Default name, cores and memory are not planned."
  }
  assert {
    condition     = length(module.vm.pve_vm["monitoring"].disk) == 1 && module.vm.pve_vm["monitoring"].disk[0].slot == "scsi0" && module.vm.pve_vm["monitoring"].disk[0].size == 40 && module.vm.pve_vm["monitoring"].disk[0].storage == "local-lvm"
    error_message = "The system disk is not scsi0 of 40 GiB on local-lvm."
  }
  assert {
    condition     = module.vm.pve_vm["monitoring"].ip_config[0].ipv4 == "10.10.10.50/24" && module.vm.pve_vm["monitoring"].ip_config[0].gateway == "10.10.10.1"
    error_message = "The static address is not passed to ipconfig0."
  }
  assert {
    condition     = module.vm.pve_vm["monitoring"].tags == toset(["monitoring"]) && module.vm.pve_vm["monitoring"].on_boot == true && module.vm.pve_vm["monitoring"].protection == false
    error_message = "Tags, on_boot or protection differ from the defaults."
  }
  assert {
    condition     = module.vm.pve_vm["monitoring"].ci_dns_servers == null && module.vm.pve_vm["monitoring"].snippet_storage == "local"
    error_message = "Without dns_servers the VM must inherit the node's; snippets go to local."
  }
}

run "explicit_node_vmid_and_sizes_are_used" {
  command = plan

  variables {
    node        = "pve1"
    vmid        = 120
    cores       = 4
    memory      = 8192
    disk_size   = 100
    storage     = "local-zfs"
    dns_servers = ["10.10.10.1", "1.1.1.1"]
    vlan        = 20
    tags        = ["observability"]
  }

  assert {
    condition     = module.vm.pve_vm["monitoring"].node == "pve1" && module.vm.pve_vm["monitoring"].vmid == 120
    error_message = "node and vmid inputs are not used."
  }
  assert {
    condition     = module.vm.pve_vm["monitoring"].cores == 4 && module.vm.pve_vm["monitoring"].memory == 8192 && module.vm.pve_vm["monitoring"].disk[0].size == 100 && module.vm.pve_vm["monitoring"].disk[0].storage == "local-zfs"
    error_message = "Sizes or disk storage are not used."
  }
  assert {
    condition     = module.vm.pve_vm["monitoring"].ci_dns_servers == tolist(["10.10.10.1", "1.1.1.1"]) && module.vm.pve_vm["monitoring"].network[0].vlan == 20
    error_message = "DNS servers or VLAN are not passed on."
  }
  assert {
    condition     = module.vm.pve_vm["monitoring"].tags == toset(["monitoring", "observability"])
    error_message = "Extra tags must be added to the monitoring tag."
  }
}

run "environment_is_a_lifecycle_tag_that_never_expires" {
  command = plan

  variables {
    environment = "prod"
    vmid        = 130
  }

  assert {
    condition     = module.vm.pve_lifecycle_tag["monitoring"].environment == "prod" && module.vm.pve_lifecycle_tag["monitoring"].no_expire == true && module.vm.pve_lifecycle_tag["monitoring"].expiration_days == null
    error_message = "The environment tag must be written by pve_lifecycle_tag with no_expire."
  }
  assert {
    condition     = module.vm.pve_lifecycle_tag["monitoring"].vmid == 130
    error_message = "The lifecycle tag must point at the VM."
  }
}

run "user_data_is_write_only_with_a_secret_free_version" {
  command = plan

  assert {
    # Write-only attributes read as null in a plan; user_data (kept in state) is not used.
    condition     = module.vm.pve_vm["monitoring"].user_data == null && module.vm.pve_vm["monitoring"].user_data_wo == null
    error_message = "The user-data must go to the write-only user_data_wo only, never to user_data (kept in state)."
  }
  assert {
    condition     = module.vm.pve_vm["monitoring"].user_data_wo_version == "1:${sha256(local.user_data_redacted)}" && output.user_data_version == module.vm.pve_vm["monitoring"].user_data_wo_version
    error_message = "user_data_wo_version must be secrets_version (default 1), a colon and the SHA-256 of the secret-free user-data."
  }
  assert {
    condition     = !issensitive(output.user_data_version) && nonsensitive(module.vm.pve_vm["monitoring"].user_data_wo_version) == output.user_data_version
    error_message = "The version holds no secret: it must stay readable in plans."
  }
}

run "user_data_is_a_cloud_config_with_the_stack" {
  command = plan

  assert {
    condition     = startswith(local.user_data, "#cloud-config\n")
    error_message = "user_data must start with #cloud-config."
  }
  assert {
    condition = alltrue([for p in ["prometheus", "prometheus-alertmanager", "prometheus-node-exporter", "qemu-guest-agent", "python3-venv"] :
    contains(yamldecode(local.user_data).packages, p)])
    error_message = "A package of the stack is missing from user_data."
  }
  assert {
    condition     = yamldecode(local.user_data).hostname == "monitoring" && yamldecode(local.user_data).users[0].name == "ubuntu"
    error_message = "Hostname or login user are not set."
  }
  assert {
    condition     = tolist(yamldecode(local.user_data).users[0].ssh_authorized_keys) == var.ssh_public_keys && yamldecode(local.user_data).users[0].lock_passwd == true
    error_message = "The login user must have the SSH keys and no password."
  }
  assert {
    condition     = !can(yamldecode(local.user_data).ca_certs)
    error_message = "Without pve_ca_certificate no CA is installed."
  }
}

run "prometheus_config_and_every_alert_file_are_deployed_verbatim" {
  command = plan

  assert {
    condition     = base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/prometheus.yml"]) == file("files/prometheus/prometheus.yml")
    error_message = "/etc/prometheus/prometheus.yml is not files/prometheus/prometheus.yml."
  }
  assert {
    condition = alltrue([for name in fileset("files/prometheus/alerts", "*.yml") :
      base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/alerts/${name}"]) == file("files/prometheus/alerts/${name}")
    ])
    error_message = "An alert file is missing from user_data or differs from files/prometheus/alerts."
  }
  assert {
    condition     = length([for f in yamldecode(local.user_data).write_files : f if startswith(f.path, "/etc/prometheus/alerts/")]) == 8
    error_message = "Exactly the 8 alert group files must be deployed."
  }
}

run "scrape_targets_are_rendered_as_file_sd" {
  command = plan

  assert {
    condition = jsondecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/file_sd/node.json"])) == [
      { targets = ["localhost:9100"], labels = { instance = "monitoring", role = "monitoring" } },
      { targets = ["10.10.10.11:9100", "pve1.lan:9100"], labels = {} },
    ]
    error_message = "node.json must list the VM's own exporter (instance = VM name) and node_exporter_targets."
  }
  assert {
    condition = jsondecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/file_sd/pve.json"])) == [
      { targets = ["pve1.lan", "10.10.10.3:8006"], labels = {} },
    ]
    error_message = "pve.json must list pve_endpoints."
  }
}

run "alertmanager_config_has_the_chat_and_reads_the_token_from_a_credential" {
  command = plan

  assert {
    condition = alltrue([for r in yamldecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/alertmanager.yml"])).receivers :
    r.telegram_configs[0].chat_id == -1001234567890 && r.telegram_configs[0].bot_token_file == "/run/credentials/prometheus-alertmanager.service/telegram_bot_token"])
    error_message = "Every receiver must send to telegram_chat_id with the token from the credential file."
  }
  assert {
    condition     = !strcontains(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/alertmanager.yml"]), var.telegram_bot_token)
    error_message = "The bot token must never be inline in alertmanager.yml."
  }
  assert {
    condition     = strcontains(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/systemd/system/prometheus-alertmanager.service.d/pve-home.conf"]), "LoadCredential=telegram_bot_token:/etc/pve-home/telegram-bot-token")
    error_message = "The Alertmanager drop-in must load the credential alertmanager.yml reads."
  }
}

run "secrets_are_root_only_files_with_the_exact_values" {
  command = plan

  assert {
    condition     = base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/pve-home/telegram-bot-token"]) == var.telegram_bot_token
    error_message = "The bot token file must hold exactly the token (no newline)."
  }
  assert {
    condition     = base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/pve-home/grafana-admin-password"]) == var.grafana_admin_password
    error_message = "The Grafana password file must hold exactly the password."
  }
  assert {
    condition = yamldecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/pve-home/pve-exporter.yml"])).default == {
      user = "prometheus@pve", token_name = "monitoring", token_value = var.pve_exporter_token_value, verify_ssl = true
    }
    error_message = "The exporter config must hold the token and verify TLS by default."
  }
  assert {
    condition     = alltrue([for f in yamldecode(local.user_data).write_files : f.permissions == (startswith(f.path, "/etc/pve-home/") ? "0600" : "0644")])
    error_message = "Secrets must be 0600 and everything else 0644."
  }
}

run "grafana_gets_the_provisioning_and_all_five_dashboards" {
  command = plan

  assert {
    condition = alltrue([for name in fileset("files/grafana/dashboards", "*.json") :
      base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/grafana/dashboards/pve-home/${name}"]) == file("files/grafana/dashboards/${name}")
    ]) && length(fileset("files/grafana/dashboards", "*.json")) == 5
    error_message = "The five dashboards must be deployed verbatim."
  }
  assert {
    condition     = yamldecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/grafana/provisioning/dashboards/pve-home.yaml"])).providers[0].options.path == "/etc/grafana/dashboards/pve-home"
    error_message = "The dashboard provider must read the directory the dashboards are written to."
  }
  assert {
    condition = (
      yamldecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/grafana/provisioning/datasources/pve-home.yaml"])).datasources[0].uid == "prometheus" &&
      yamldecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/grafana/provisioning/datasources/pve-home.yaml"])).datasources[0].url == "http://localhost:9090"
    )
    error_message = "Grafana's datasource must be the local Prometheus with uid prometheus (the dashboards' datasource)."
  }
}

run "exporters_and_textfile_directory_are_configured" {
  command = plan

  assert {
    condition     = base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/default/prometheus-node-exporter"]) == "ARGS=\"--collector.textfile.directory=/var/lib/node_exporter/textfile\"\n"
    error_message = "The node exporter must read the textfile directory pve-ops writes to."
  }
  assert {
    condition     = contains(yamldecode(local.user_data).runcmd, ["install", "-d", "-m", "0755", "/var/lib/node_exporter/textfile"])
    error_message = "cloud-init must create the textfile directory."
  }
  assert {
    condition     = contains(yamldecode(local.user_data).runcmd, ["/opt/pve-exporter/bin/pip", "install", "--no-cache-dir", "--quiet", "prometheus-pve-exporter==3.5.5"])
    error_message = "The PVE exporter must be installed at the pinned version."
  }
  assert {
    condition     = strcontains(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/default/prometheus"]), "--storage.tsdb.retention.time=30d --web.listen-address=:9090 --web.external-url=http://10.10.10.50:9090/")
    error_message = "Prometheus must get the retention and its external URL."
  }
}

run "outputs_are_the_address_and_urls_without_secrets" {
  # apply: the mocked provider makes vmid known.
  command = apply

  assert {
    condition     = output.vmid == 150 && output.ip == "10.10.10.50"
    error_message = "vmid or ip outputs are wrong."
  }
  assert {
    condition = output.urls == {
      prometheus   = "http://10.10.10.50:9090"
      alertmanager = "http://10.10.10.50:9093"
      grafana      = "http://10.10.10.50:3000"
    }
    error_message = "urls must point at the VM's address."
  }
  assert {
    condition = alltrue([for secret in [var.telegram_bot_token, var.grafana_admin_password, var.pve_exporter_token_value] :
    !strcontains(jsonencode([output.vmid, output.ip, output.urls, output.user_data_version]), secret)])
    error_message = "No output may contain a secret."
  }
}

run "pve_ca_certificate_is_trusted_when_given" {
  command = plan

  variables {
    pve_ca_certificate      = "-----BEGIN CERTIFICATE-----\nMIIBFAKEFAKEFAKEcertificateForTestsOnly0000==\n-----END CERTIFICATE-----\n"
    pve_exporter_verify_tls = true
  }

  assert {
    condition     = yamldecode(local.user_data).ca_certs.trusted == [var.pve_ca_certificate]
    error_message = "The PVE CA must be added to the VM's trust store."
  }
}

# The ports are inputs: each service listens where the caller says, and every place that names
# the port (URLs, Prometheus' own targets, Grafana's datasource) follows.
run "ports_are_inputs" {
  command = plan
  variables {
    prometheus_port   = 19090
    alertmanager_port = 19093
    grafana_port      = 13000
  }

  assert {
    condition = output.urls == {
      prometheus   = "http://10.10.10.50:19090"
      alertmanager = "http://10.10.10.50:19093"
      grafana      = "http://10.10.10.50:13000"
    }
    error_message = "The URLs must carry the given ports."
  }
  assert {
    condition = (
      strcontains(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/default/prometheus"]), "--web.listen-address=:19090 ") &&
      strcontains(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/default/prometheus-alertmanager"]), "--web.listen-address=:19093 ") &&
      strcontains(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/systemd/system/grafana-server.service.d/pve-home-port.conf"]), "GF_SERVER_HTTP_PORT=13000")
    )
    error_message = "Each service must be told its port."
  }
  assert {
    condition = (
      jsondecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/file_sd/alertmanager.json"]))[0].targets == ["localhost:19093"] &&
      jsondecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/prometheus/file_sd/prometheus.json"]))[0].targets == ["localhost:19090"] &&
      yamldecode(base64decode({ for f in yamldecode(local.user_data).write_files : f.path => f.content }["/etc/grafana/provisioning/datasources/pve-home.yaml"])).datasources[0].url == "http://localhost:19090"
    )
    error_message = "Prometheus must scrape itself and reach Alertmanager on the given ports, and Grafana must query Prometheus there."
  }
}

# Grafana is pinned like MinIO: a .deb from a pinned URL, checked against its SHA-256; the URL
# and the checksum reach the script as arguments, not as part of its text.
run "grafana_is_pinned_by_checksum" {
  command = plan

  assert {
    condition = length([
      for c in yamldecode(local.user_data).runcmd : c
      if try(c[0] == "sh" && c[3] == "sh" && c[4] == "https://dl.grafana.com/oss/release/grafana_11.6.0_amd64.deb" && c[5] == var.grafana_deb_sha256 && strcontains(c[2], "sha256sum -c"), false)
    ]) == 1
    error_message = "The Grafana .deb must be downloaded from the pinned URL and checked against grafana_deb_sha256."
  }
  assert {
    condition     = !strcontains(local.user_data, "apt.grafana.com") && !strcontains(local.user_data, " stable main")
    error_message = "No unpinned Grafana repository may be configured."
  }
}
