# What the module plans: the VM, its disks and network, and the outputs environments use.
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
  # Set, not left to its default: terraform test (before 1.17, hashicorp/terraform#38974)
  # refuses an unset optional ephemeral variable in an apply run.
  environment_credentials = {}
}

run "vm_defaults" {
  command = plan

  assert {
    condition     = module.vm.pve_vm["minio"].name == "minio" && module.vm.pve_vm["minio"].node == "pve1"
    error_message = "the VM must be named minio and placed on the given node"
  }
  assert {
    condition     = module.vm.pve_vm["minio"].on_boot == true && module.vm.pve_vm["minio"].protection == true && startswith(module.vm.pve_vm["minio"].startup, "order=1")
    error_message = "the state server must start with the node, first, and be protected from removal"
  }
  assert {
    condition     = module.vm.pve_vm["minio"].cores == 2 && module.vm.pve_vm["minio"].memory == 2048 && module.vm.pve_vm["minio"].agent == true
    error_message = "default sizing is 2 cores, 2048 MiB, guest agent on"
  }
  assert {
    condition     = module.vm.pve_vm["minio"].tags == toset(["minio", "terraform-state"])
    error_message = "default tags are minio and terraform-state"
  }
  assert {
    condition     = module.vm.pve_vm["minio"].snippet_storage == "local" && module.vm.pve_vm["minio"].ci_dns_servers == null
    error_message = "user-data goes to the local snippet storage; no DNS servers unless given"
  }
}

run "system_and_data_disks" {
  command = plan

  assert {
    condition     = length(module.vm.pve_vm["minio"].disk) == 2
    error_message = "the VM must have exactly a system disk and a data disk"
  }
  assert {
    condition     = module.vm.pve_vm["minio"].disk[0].slot == "scsi0" && module.vm.pve_vm["minio"].disk[0].size == 16 && module.vm.pve_vm["minio"].disk[0].storage == "local-lvm"
    error_message = "scsi0 is the 16 GiB system disk on local-lvm"
  }
  assert {
    condition     = module.vm.pve_vm["minio"].disk[1].slot == "scsi1" && module.vm.pve_vm["minio"].disk[1].size == 20 && module.vm.pve_vm["minio"].disk[1].backup == true
    error_message = "scsi1 is the 20 GiB data disk, included in backups"
  }
}

run "storage_and_data_disk_size" {
  command = plan
  variables {
    storage        = "local-zfs"
    data_disk_size = 100
  }

  assert {
    condition     = alltrue([for d in module.vm.pve_vm["minio"].disk : d.storage == "local-zfs"]) && module.vm.pve_vm["minio"].disk[1].size == 100 && module.vm.pve_vm["minio"].disk[0].size == 16
    error_message = "storage applies to both disks, data_disk_size to scsi1 only"
  }
}

run "static_network" {
  command = plan
  variables {
    vlan        = 30
    bridge      = "vmbr1"
    dns_servers = ["10.10.10.1", "1.1.1.1"]
  }

  assert {
    condition     = module.vm.pve_vm["minio"].ip_config[0].ipv4 == "10.10.10.20/24" && module.vm.pve_vm["minio"].ip_config[0].gateway == "10.10.10.1"
    error_message = "the static address and gateway must reach ipconfig0"
  }
  assert {
    condition     = module.vm.pve_vm["minio"].network[0].bridge == "vmbr1" && module.vm.pve_vm["minio"].network[0].vlan == 30
    error_message = "bridge and VLAN must reach net0"
  }
  assert {
    condition     = module.vm.pve_vm["minio"].ci_dns_servers == tolist(["10.10.10.1", "1.1.1.1"])
    error_message = "DNS servers must reach the VM's cloud-init network config"
  }
}

run "plain_http_outputs" {
  command = plan

  assert {
    condition     = output.ip == "10.10.10.20" && output.endpoint == "http://10.10.10.20:9000"
    error_message = "without TLS the endpoint is http://<ip>:9000"
  }
  assert {
    condition     = output.console_url == "http://10.10.10.20:9001" && output.tls_enabled == false
    error_message = "the console is on port 9001; TLS is off"
  }
}

run "tls_endpoint_with_host_name" {
  command = plan
  variables {
    endpoint_host   = "minio.lan"
    api_port        = 9443
    tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key = "-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n"
  }

  assert {
    condition     = output.endpoint == "https://minio.lan:9443" && output.tls_enabled
    error_message = "with TLS the endpoint is https://<endpoint_host>:<api_port>"
  }
  assert {
    condition     = output.backend_config["prod"].endpoints.s3 == "https://minio.lan:9443"
    error_message = "backend_config must carry the TLS endpoint"
  }
}

run "console_turned_off" {
  command = plan
  variables { enable_console = false }

  assert {
    condition     = output.console_url == null
    error_message = "no console URL when the console is off"
  }
  assert {
    condition     = strcontains(local.user_data, "MINIO_BROWSER='off'")
    error_message = "MinIO must be told to turn its console off"
  }
}

run "shared_bucket_backend_config" {
  command = plan

  assert {
    condition     = output.bucket_names == tolist(["tfstate"])
    error_message = "by default all environments share the bucket tfstate"
  }
  assert {
    condition     = keys(output.backend_config) == ["k8s", "lab", "monitoring", "prod"]
    error_message = "backend_config must have one entry per default environment"
  }
  assert {
    condition = output.backend_config["monitoring"] == {
      bucket         = "tfstate"
      key            = "monitoring/terraform.tfstate"
      endpoints      = { s3 = "http://10.10.10.20:9000" }
      use_path_style = true
      use_lockfile   = true
    }
    error_message = "backend_config.monitoring must be exactly bucket, key, endpoints.s3, use_path_style and use_lockfile"
  }
  assert {
    condition     = alltrue([for env, c in output.backend_config : c.key == "${env}/terraform.tfstate" && c.bucket == "tfstate"])
    error_message = "every environment's key is <env>/terraform.tfstate in the shared bucket"
  }
}

run "bucket_per_environment" {
  command = plan
  variables {
    bucket_per_environment = true
    bucket_name            = "state"
  }

  assert {
    condition     = output.bucket_names == tolist(["state-prod", "state-lab", "state-k8s", "state-monitoring"])
    error_message = "each environment gets <bucket_name>-<env>"
  }
  assert {
    condition     = output.buckets == { prod = "state-prod", lab = "state-lab", k8s = "state-k8s", monitoring = "state-monitoring" }
    error_message = "buckets maps each environment to its bucket"
  }
  assert {
    condition     = output.backend_config["lab"].bucket == "state-lab" && output.backend_config["lab"].key == "lab/terraform.tfstate"
    error_message = "the lab backend uses its own bucket and the same key layout"
  }
}

run "user_data_is_write_only" {
  command = plan

  assert {
    # Write-only attributes read as null in a plan; user_data (kept in state) is not used.
    condition     = module.vm.pve_vm["minio"].user_data == null && module.vm.pve_vm["minio"].user_data_wo == null
    error_message = "the user-data must go to the write-only user_data_wo only, never to user_data (which is kept in state)"
  }
  assert {
    condition     = module.vm.pve_vm["minio"].user_data_wo_version == "1:${sha256(local.user_data_redacted)}" && output.user_data_version == module.vm.pve_vm["minio"].user_data_wo_version
    error_message = "user_data_wo_version must be secrets_version (default 1), a colon and the SHA-256 of the secret-free user-data"
  }
  assert {
    condition     = !issensitive(output.user_data_version) && nonsensitive(module.vm.pve_vm["minio"].user_data_wo_version) == output.user_data_version
    error_message = "the version holds no secret: it must stay readable in plans"
  }
}

run "user_data_is_cloud_config" {
  command = plan

  assert {
    condition     = startswith(local.user_data, "#cloud-config\n")
    error_message = "user_data must start with #cloud-config"
  }
  assert {
    condition     = yamldecode(local.user_data).users[0].name == "ubuntu" && tolist(yamldecode(local.user_data).users[0].ssh_authorized_keys) == var.ssh_public_keys
    error_message = "the admin user and its SSH keys must be in the user-data (PVE's ci_* settings do not apply to a custom snippet)"
  }
  assert {
    condition     = contains(yamldecode(local.user_data).packages, "qemu-guest-agent") && yamldecode(local.user_data).hostname == "minio"
    error_message = "the guest agent must be installed and the hostname set"
  }
  assert {
    condition     = yamldecode(local.user_data).mounts[0][1] == "/var/lib/minio" && yamldecode(local.user_data).fs_setup[0].overwrite == false
    error_message = "the data disk is mounted on /var/lib/minio and never reformatted"
  }
}

run "outputs_after_apply" {
  # TLS on: terraform test before 1.17 cannot apply with tls_private_key (ephemeral) unset.
  variables {
    tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key = "-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n"
  }
  override_resource {
    target = module.vm.pve_vm.this
    values = {
      vmid = 150
      node = "pve1"
    }
  }

  assert {
    condition     = output.vmid == 150 && output.node == "pve1"
    error_message = "vmid and node outputs must come from the VM"
  }
}
