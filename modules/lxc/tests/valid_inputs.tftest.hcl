# Input validation of the lxc module: boundaries accepted, each mistake rejected by its own rule.

mock_provider "pve" {}

variables {
  # Set, not left to its default: terraform test (before 1.17, hashicorp/terraform#38974)
  # refuses an unset optional ephemeral variable in an apply run.
  root_password = join("-", ["fake", "root", "password", "for", "tests"])
  environment   = "prod"
  node          = "pve1"
  gateway       = "10.10.10.1"
  containers = {
    dns1 = { ip = "10.10.10.53/24" }
  }
}

run "defaults_are_valid" {
  command = plan

  assert {
    condition     = length(pve_lxc.this) == 1 && pve_lxc.this["dns1"].memory == 512 && pve_lxc.this["dns1"].rootfs.size == 8
    error_message = "One container with 512 MiB and an 8 GiB root filesystem is planned from the defaults."
  }
}

run "empty_map_rejected" {
  command = plan

  variables {
    containers = {}
  }

  expect_failures = [var.containers]
}

run "hostname_uppercase_rejected" {
  command = plan

  variables {
    containers = { DNS1 = { ip = "10.10.10.53/24" } }
  }

  expect_failures = [var.containers]
}

run "hostname_with_dot_rejected" {
  command = plan

  variables {
    containers = { "dns1.lan" = { ip = "10.10.10.53/24" } }
  }

  expect_failures = [var.containers]
}

run "ip_without_prefix_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53" } }
  }

  expect_failures = [var.containers]
}

run "broadcast_address_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.255/24" } }
  }

  expect_failures = [var.containers]
}

run "duplicate_ip_rejected" {
  command = plan

  variables {
    containers = {
      dns1 = { ip = "10.10.10.53/24" }
      dns2 = { ip = "10.10.10.53/24" }
    }
  }

  expect_failures = [var.containers]
}

run "gateway_outside_subnet_rejected" {
  command = plan

  variables {
    gateway = "192.168.1.1"
  }

  expect_failures = [var.containers]
}

run "container_gateway_with_dhcp_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "dhcp", gateway = "10.10.10.1" } }
  }

  expect_failures = [var.containers]
}

run "cores_zero_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", cores = 0 } }
  }

  expect_failures = [var.containers]
}

run "cores_128_accepted" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", cores = 128 } }
  }

  assert {
    condition     = pve_lxc.this["dns1"].cores == 128
    error_message = "cores = 128 is the highest valid value."
  }
}

run "memory_128_accepted" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", memory = 128 } }
  }

  assert {
    condition     = pve_lxc.this["dns1"].memory == 128
    error_message = "memory = 128 MiB is the lowest valid value."
  }
}

run "memory_127_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", memory = 127 } }
  }

  expect_failures = [var.containers]
}

run "negative_swap_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", swap = -1 } }
  }

  expect_failures = [var.containers]
}

run "disk_2_accepted" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", disk = 2 } }
  }

  assert {
    condition     = pve_lxc.this["dns1"].rootfs.size == 2
    error_message = "disk = 2 GiB is the smallest valid root filesystem."
  }
}

run "disk_1_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", disk = 1 } }
  }

  expect_failures = [var.containers]
}

run "mount_point_zero_size_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", mount_points = { mp0 = { path = "/data", size = 0 } } } }
  }

  expect_failures = [var.containers]
}

run "mount_point_relative_path_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", mount_points = { mp0 = { path = "data", size = 10 } } } }
  }

  expect_failures = [var.containers]
}

run "mount_point_root_path_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", mount_points = { mp0 = { path = "/", size = 10 } } } }
  }

  expect_failures = [var.containers]
}

run "mount_point_dotdot_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", mount_points = { mp0 = { path = "/srv/../etc", size = 10 } } } }
  }

  expect_failures = [var.containers]
}

run "mount_point_ids_mp0_to_mp255_accepted" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", mount_points = { mp0 = { path = "/a", size = 1 }, mp255 = { path = "/b", size = 1 } } } }
  }

  assert {
    condition     = [for m in pve_lxc.this["dns1"].mount_point : m.slot] == ["mp0", "mp255"]
    error_message = "mp0 and mp255 are valid mount point ids."
  }
}

run "mount_point_id_mp256_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", mount_points = { mp256 = { path = "/data", size = 10 } } } }
  }

  expect_failures = [var.containers]
}

run "mount_point_keyed_by_index_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", mount_points = { "0" = { path = "/data", size = 10 } } } }
  }

  expect_failures = [var.containers]
}

run "mount_point_keyed_by_path_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", mount_points = { "/data" = { path = "/data", size = 10 } } } }
  }

  expect_failures = [var.containers]
}

run "mount_point_id_with_leading_zero_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", mount_points = { mp01 = { path = "/data", size = 10 } } } }
  }

  expect_failures = [var.containers]
}

run "duplicate_mount_paths_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", mount_points = { mp0 = { path = "/data", size = 10 }, mp1 = { path = "/data", size = 20 } } } }
  }

  expect_failures = [var.containers]
}

run "tag_with_colon_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", tags = ["role:dns"] } }
  }

  expect_failures = [var.containers]
}

run "lifecycle_tag_in_tags_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", tags = ["environment-prod"] } }
  }

  expect_failures = [var.containers]
}

run "missing_node_rejected" {
  command = plan

  variables {
    node = null
  }

  expect_failures = [var.containers]
}

run "container_node_without_module_node_accepted" {
  command = plan

  variables {
    node       = null
    containers = { dns1 = { ip = "10.10.10.53/24", node = "pve2" } }
  }

  assert {
    condition     = pve_lxc.this["dns1"].node == "pve2"
    error_message = "A container's own node is enough without a module-wide node."
  }
}

run "duplicate_vmid_rejected" {
  command = plan

  variables {
    containers = {
      dns1 = { ip = "10.10.10.53/24", vmid = 200 }
      dns2 = { ip = "10.10.10.54/24", vmid = 200 }
    }
  }

  expect_failures = [var.containers]
}

run "vmid_above_range_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", vmid = 1000000000 } }
  }

  expect_failures = [var.containers]
}

run "template_volume_iso_rejected" {
  command = plan

  variables {
    template_volume = "local:iso/ubuntu-24.04.iso"
  }

  expect_failures = [var.template_volume]
}

run "container_template_volume_invalid_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", template_volume = "debian-12.tar.zst" } }
  }

  expect_failures = [var.containers]
}

run "keyctl_on_privileged_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", unprivileged = false, keyctl = true } }
  }

  expect_failures = [var.containers]
}

run "keyctl_on_unprivileged_accepted" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", nesting = true, keyctl = true } }
  }

  assert {
    condition     = pve_lxc.this["dns1"].keyctl && pve_lxc.this["dns1"].nesting && pve_lxc.this["dns1"].unprivileged
    error_message = "keyctl with nesting on an unprivileged container (Docker) is valid."
  }
}

run "vlan_4095_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", vlan = 4095 } }
  }

  expect_failures = [var.containers]
}

run "expiration_days_outside_lab_rejected" {
  command = plan

  variables {
    expiration_days = 14
  }

  expect_failures = [var.expiration_days]
}

run "container_no_expire_outside_lab_rejected" {
  command = plan

  variables {
    containers = { dns1 = { ip = "10.10.10.53/24", no_expire = true } }
  }

  expect_failures = [var.containers]
}

run "lab_container_without_expiry_rejected" {
  command = plan

  variables {
    environment = "lab"
  }

  expect_failures = [var.containers]
}

run "short_root_password_rejected" {
  command = plan

  variables {
    root_password = "toor"
  }

  expect_failures = [var.root_password]
}

run "ssh_key_path_rejected" {
  command = plan

  variables {
    ssh_public_keys = ["/root/.ssh/id_ed25519.pub"]
  }

  expect_failures = [var.ssh_public_keys]
}

run "dns_server_invalid_rejected" {
  command = plan

  variables {
    dns_servers = ["10.10.10.300"]
  }

  expect_failures = [var.dns_servers]
}

run "environment_invalid_rejected" {
  command = plan

  variables {
    environment = "prod_1"
  }

  expect_failures = [var.environment]
}

run "a_key_read_with_file_is_accepted" {
  command = plan

  variables {
    # What file("~/.ssh/id_ed25519.pub") returns: the line and its newline.
    ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 ops@example\n"]
  }
}
