# Input validation of the vm module: boundaries accepted, each mistake rejected by its own rule.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = {
      vmid = 9000
      node = "pve1"
    }
  }
}

variables {
  environment = "prod"
  # Set, not left to its default: terraform test (before 1.17, hashicorp/terraform#38974)
  # refuses an unset optional ephemeral variable in an apply run.
  user_data = {}
  gateway   = "10.10.10.1"
  vms = {
    web = { ip = "10.10.10.101/24" }
  }
}

run "defaults_are_valid" {
  command = plan

  assert {
    condition     = length(pve_vm.this) == 1 && pve_vm.this["web"].cores == 2 && pve_vm.this["web"].memory == 2048
    error_message = "One VM with 2 cores and 2048 MiB is planned from the defaults."
  }
}

run "empty_map_rejected" {
  command = plan

  variables {
    vms = {}
  }

  expect_failures = [var.vms]
}

run "cores_lower_bound_accepted" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", cores = 1 } }
  }

  assert {
    condition     = pve_vm.this["web"].cores == 1
    error_message = "cores = 1 is the lowest valid value."
  }
}

run "cores_upper_bound_accepted" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", cores = 128 } }
  }

  assert {
    condition     = pve_vm.this["web"].cores == 128
    error_message = "cores = 128 is the highest valid value."
  }
}

run "cores_zero_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", cores = 0 } }
  }

  expect_failures = [var.vms]
}

run "cores_above_128_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", cores = 129 } }
  }

  expect_failures = [var.vms]
}

run "cores_fraction_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", cores = 1.5 } }
  }

  expect_failures = [var.vms]
}

run "sockets_above_4_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", sockets = 5 } }
  }

  expect_failures = [var.vms]
}

run "memory_512_accepted" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", memory = 512 } }
  }

  assert {
    condition     = pve_vm.this["web"].memory == 512
    error_message = "memory = 512 MiB is the lowest valid value."
  }
}

run "memory_511_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", memory = 511 } }
  }

  expect_failures = [var.vms]
}

run "balloon_above_memory_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", memory = 1024, balloon = 2048 } }
  }

  expect_failures = [var.vms]
}

run "balloon_zero_accepted" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", balloon = 0 } }
  }

  assert {
    condition     = pve_vm.this["web"].balloon == 0
    error_message = "balloon = 0 (ballooning off) is valid and passed through."
  }
}

run "disk_8_accepted" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", disk = 8 } }
  }

  assert {
    condition     = pve_vm.this["web"].disk[0].size == 8
    error_message = "disk = 8 GiB is the smallest valid boot disk."
  }
}

run "disk_7_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", disk = 7 } }
  }

  expect_failures = [var.vms]
}

run "data_disk_zero_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", data_disks = { scsi1 = 10, scsi2 = 0 } } }
  }

  expect_failures = [var.vms]
}

run "twenty_nine_data_disks_accepted" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", data_disks = { for i in range(1, 30) : "scsi${i}" => 1 } } }
  }

  assert {
    condition     = length(pve_vm.this["web"].disk) == 30 && pve_vm.this["web"].disk[29].slot == "scsi29"
    error_message = "scsi1 to scsi29 are valid data disk slots."
  }
}

run "data_disk_slot_scsi30_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", data_disks = { scsi30 = 1 } } }
  }

  expect_failures = [var.vms]
}

run "data_disk_on_boot_slot_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", data_disks = { scsi0 = 10 } } }
  }

  expect_failures = [var.vms]
}

run "data_disk_keyed_by_index_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", data_disks = { "1" = 10 } } }
  }

  expect_failures = [var.vms]
}

run "data_disk_on_another_bus_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", data_disks = { virtio1 = 10 } } }
  }

  expect_failures = [var.vms]
}

run "ip_without_prefix_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101" } }
  }

  expect_failures = [var.vms]
}

run "ip_octet_out_of_range_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.256/24" } }
  }

  expect_failures = [var.vms]
}

run "ip_prefix_33_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/33" } }
  }

  expect_failures = [var.vms]
}

run "ipv6_rejected" {
  command = plan

  variables {
    gateway = null
    vms     = { web = { ip = "2001:db8::10/64" } }
  }

  expect_failures = [var.vms]
}

run "network_address_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.0/24" } }
  }

  expect_failures = [var.vms]
}

run "broadcast_address_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.255/24" } }
  }

  expect_failures = [var.vms]
}

run "host_route_accepted" {
  command = plan

  variables {
    gateway = null
    vms     = { web = { ip = "10.10.10.255/32" } }
  }

  assert {
    condition     = pve_vm.this["web"].ip_config[0].ipv4 == "10.10.10.255/32"
    error_message = "A /32 has no network or broadcast address, so any host address is valid."
  }
}

run "duplicate_ip_rejected" {
  command = plan

  variables {
    vms = {
      web = { ip = "10.10.10.101/24" }
      db  = { ip = "10.10.10.101/25" }
    }
  }

  expect_failures = [var.vms]
}

run "dhcp_vms_accepted_together" {
  command = plan

  variables {
    vms = {
      web = { ip = "dhcp" }
      db  = {}
    }
  }

  assert {
    condition     = length(pve_vm.this) == 2 && pve_vm.this["db"].ip_config[0].ipv4 == "dhcp"
    error_message = "Several DHCP VMs are not duplicates, and ip defaults to dhcp."
  }
}

run "gateway_outside_subnet_rejected" {
  command = plan

  variables {
    gateway = "10.10.20.1"
  }

  expect_failures = [var.vms]
}

run "gateway_equal_to_ip_rejected" {
  command = plan

  variables {
    gateway = "10.10.10.101"
  }

  expect_failures = [var.vms]
}

run "gateway_with_prefix_rejected" {
  command = plan

  variables {
    gateway = "10.10.10.1/24"
  }

  expect_failures = [var.gateway]
}

run "vm_gateway_with_dhcp_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "dhcp", gateway = "10.10.10.1" } }
  }

  expect_failures = [var.vms]
}

run "vm_gateway_invalid_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", gateway = "gw.lan" } }
  }

  expect_failures = [var.vms]
}

run "name_uppercase_rejected" {
  command = plan

  variables {
    vms = { Web1 = { ip = "10.10.10.101/24" } }
  }

  expect_failures = [var.vms]
}

run "name_underscore_rejected" {
  command = plan

  variables {
    vms = { web_1 = { ip = "10.10.10.101/24" } }
  }

  expect_failures = [var.vms]
}

run "name_trailing_dash_rejected" {
  command = plan

  variables {
    vms = { "web-" = { ip = "10.10.10.101/24" } }
  }

  expect_failures = [var.vms]
}

run "name_63_characters_accepted" {
  command = plan

  variables {
    vms = { (join("", [for i in range(63) : "a"])) = { ip = "10.10.10.101/24" } }
  }

  assert {
    condition     = length(keys(pve_vm.this)[0]) == 63
    error_message = "A 63-character DNS label is a valid VM name."
  }
}

run "name_64_characters_rejected" {
  command = plan

  variables {
    vms = { (join("", [for i in range(64) : "a"])) = { ip = "10.10.10.101/24" } }
  }

  expect_failures = [var.vms]
}

run "tag_with_colon_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", tags = ["env:prod"] } }
  }

  expect_failures = [var.vms]
}

run "tag_leading_dash_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", tags = ["-web"] } }
  }

  expect_failures = [var.vms]
}

run "tag_with_space_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", tags = ["web server"] } }
  }

  expect_failures = [var.vms]
}

run "tag_punctuation_accepted" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", tags = ["_infra", "v1.2+build", "a-b"] } }
  }

  assert {
    condition     = pve_vm.this["web"].tags == toset(["_infra", "v1.2+build", "a-b"])
    error_message = "Tags may hold '_', '.', '+' and '-' after the first character."
  }
}

run "environment_tag_in_tags_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", tags = ["Environment-prod"] } }
  }

  expect_failures = [var.vms]
}

run "expires_tag_in_tags_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", tags = ["expires-2030-01-01"] } }
  }

  expect_failures = [var.vms]
}

run "no_expire_tag_in_tags_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", tags = ["no-expire"] } }
  }

  expect_failures = [var.vms]
}

run "environment_uppercase_rejected" {
  command = plan

  variables {
    environment = "Prod"
  }

  expect_failures = [var.environment]
}

run "environment_with_colon_rejected" {
  command = plan

  variables {
    environment = "env:prod"
  }

  expect_failures = [var.environment]
}

run "vmid_99_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", vmid = 99 } }
  }

  expect_failures = [var.vms]
}

run "vmid_100_accepted" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", vmid = 100 } }
  }

  assert {
    condition     = pve_vm.this["web"].vmid == 100 && pve_lifecycle_tag.this["web"].vmid == 100
    error_message = "VMID 100 is the lowest PVE allows, and the lifecycle tag follows it."
  }
}

run "duplicate_vmid_rejected" {
  command = plan

  variables {
    vms = {
      web = { ip = "10.10.10.101/24", vmid = 120 }
      db  = { ip = "10.10.10.102/24", vmid = 120 }
    }
  }

  expect_failures = [var.vms]
}

run "node_name_invalid_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", node = "PVE_1" } }
  }

  expect_failures = [var.vms]
}

run "template_vmid_without_node_rejected" {
  command = plan

  variables {
    template_vmid = 9000
  }

  expect_failures = [var.vms]
}

run "vm_template_vmid_without_node_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", template_vmid = 9001 } }
  }

  expect_failures = [var.vms]
}

run "template_vmid_below_100_rejected" {
  command = plan

  variables {
    node          = "pve1"
    template_vmid = 42
  }

  expect_failures = [var.template_vmid]
}

run "vlan_4095_rejected" {
  command = plan

  variables {
    vlan = 4095
  }

  expect_failures = [var.vlan]
}

run "vm_vlan_zero_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", vlan = 0 } }
  }

  expect_failures = [var.vms]
}

run "expiration_days_outside_lab_rejected" {
  command = plan

  variables {
    expiration_days = 14
  }

  expect_failures = [var.expiration_days]
}

run "vm_expiration_days_outside_lab_rejected" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", expiration_days = 7 } }
  }

  expect_failures = [var.vms]
}

# no_expire says "never expires", which holds anywhere (the state server and the monitoring
# VM carry it); an expiry date outside the lab would be a promise nothing keeps.
run "no_expire_outside_lab_accepted" {
  command = plan

  variables {
    vms = { web = { ip = "10.10.10.101/24", no_expire = true } }
  }

  assert {
    condition     = pve_lifecycle_tag.this["web"].no_expire && pve_lifecycle_tag.this["web"].environment == "prod"
    error_message = "no_expire must be accepted outside the lab."
  }
}

run "lab_vm_without_expiry_rejected" {
  command = plan

  variables {
    environment = "lab"
  }

  expect_failures = [var.vms]
}

run "lab_no_expire_with_days_rejected" {
  command = plan

  variables {
    environment = "lab"
    vms         = { web = { ip = "10.10.10.101/24", no_expire = true, expiration_days = 3 } }
  }

  expect_failures = [var.vms]
}

run "expiration_days_365_accepted" {
  command = plan

  variables {
    environment     = "lab"
    expiration_days = 365
  }

  assert {
    condition     = pve_lifecycle_tag.this["web"].expiration_days == 365
    error_message = "expiration_days = 365 is the longest valid lab lifetime."
  }
}

run "expiration_days_366_rejected" {
  command = plan

  variables {
    environment     = "lab"
    expiration_days = 366
  }

  expect_failures = [var.expiration_days]
}

run "expiration_days_zero_rejected" {
  command = plan

  variables {
    environment     = "lab"
    expiration_days = 0
  }

  expect_failures = [var.expiration_days]
}

run "short_password_rejected" {
  command = plan

  variables {
    ci_password = "short"
  }

  expect_failures = [var.ci_password]
}

run "private_key_as_ssh_key_rejected" {
  command = plan

  variables {
    ssh_public_keys = ["-----BEGIN OPENSSH PRIVATE KEY-----"]
  }

  expect_failures = [var.ssh_public_keys]
}

run "key_path_as_ssh_key_rejected" {
  command = plan

  variables {
    ssh_public_keys = ["~/.ssh/id_ed25519.pub"]
  }

  expect_failures = [var.ssh_public_keys]
}

run "ssh_key_accepted" {
  command = plan

  variables {
    ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 ops@example"]
  }

  assert {
    condition     = length(pve_vm.this["web"].ci_ssh_keys) == 1
    error_message = "A valid ed25519 public key line is accepted and passed to cloud-init."
  }
}

run "ci_user_uppercase_rejected" {
  command = plan

  variables {
    ci_user = "Admin"
  }

  expect_failures = [var.ci_user]
}

run "dns_server_name_rejected" {
  command = plan

  variables {
    dns_servers = ["dns.google"]
  }

  expect_failures = [var.dns_servers]
}

run "four_dns_servers_rejected" {
  command = plan

  variables {
    dns_servers = ["10.10.10.53", "10.10.10.54", "1.1.1.1", "9.9.9.9"]
  }

  expect_failures = [var.dns_servers]
}

run "ipv6_dns_server_accepted" {
  command = plan

  variables {
    dns_servers = ["10.10.10.53", "2606:4700:4700::1111"]
  }

  assert {
    condition     = pve_vm.this["web"].ci_dns_servers == tolist(["10.10.10.53", "2606:4700:4700::1111"])
    error_message = "IPv4 and IPv6 DNS servers are accepted, in order."
  }
}

run "search_domain_invalid_rejected" {
  command = plan

  variables {
    search_domain = "Home_LAN"
  }

  expect_failures = [var.search_domain]
}

run "iothread_on_shared_controller_rejected" {
  command = plan

  variables {
    scsihw = "virtio-scsi-pci"
  }

  expect_failures = [var.disk_iothread]
}

run "shared_controller_without_iothread_accepted" {
  command = plan

  variables {
    scsihw        = "virtio-scsi-pci"
    disk_iothread = false
  }

  assert {
    condition     = pve_vm.this["web"].scsihw == "virtio-scsi-pci" && pve_vm.this["web"].disk[0].iothread == false
    error_message = "virtio-scsi-pci without iothread is a valid combination."
  }
}

run "unknown_scsihw_rejected" {
  command = plan

  variables {
    scsihw = "virtio"
  }

  expect_failures = [var.scsihw]
}

run "bridge_name_too_long_rejected" {
  command = plan

  variables {
    bridge = "vmbr0123456789ab"
  }

  expect_failures = [var.bridge]
}

run "storage_name_invalid_rejected" {
  command = plan

  variables {
    storage = "local lvm"
  }

  expect_failures = [var.storage]
}

run "password_with_generated_user_data_rejected" {
  command = plan

  variables {
    ci_password = "a-long-enough-fake-password"
  }

  expect_failures = [var.ci_password]
}

run "password_with_docker_rejected" {
  command = plan

  variables {
    ci_password      = "a-long-enough-fake-password"
    security_updates = false
    vms              = { web = { ip = "10.10.10.101/24", docker = true } }
  }

  expect_failures = [var.ci_password]
}

run "password_without_generated_user_data_accepted" {
  command = plan

  variables {
    ci_password      = "a-long-enough-fake-password"
    security_updates = false
  }

  assert {
    condition     = pve_vm.this["web"].ci_password == null && !pve_vm.this["web"].security_updates
    error_message = "A password is accepted for a VM without generated user-data, and stays out of the plan (write-only)."
  }
}

run "own_user_data_with_docker_rejected" {
  command = plan

  variables {
    vms       = { s3 = { ip = "10.10.10.20/24", docker = true, user_data_version = "1" } }
    user_data = { s3 = "#cloud-config\n" }
  }

  expect_failures = [var.vms]
}
