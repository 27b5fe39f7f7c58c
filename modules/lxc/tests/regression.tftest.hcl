# Guards against the classic problems of container modules: tag churn, replacement on network
# edits, secrets in outputs or state, expiry outside the lab, index-shifted volumes, apply
# restarting containers that operations stopped.

mock_provider "pve" {
  mock_resource "pve_lxc" {
    defaults = {
      current_node = "pve1"
    }
  }
}

variables {
  # Set, not left to its default: terraform test (before 1.17, hashicorp/terraform#38974)
  # refuses an unset optional ephemeral variable in an apply run.
  root_password = join("-", ["fake", "root", "password", "for", "tests"])
  environment   = "prod"
  node          = "pve1"
  gateway       = "10.10.10.1"
  containers = {
    dns1 = { ip = "10.10.10.53/24", tags = ["DNS", "Infra", "dns"] }
    dns2 = { ip = "10.10.10.54/24", node = "pve2", tags = ["infra", "dns"] }
  }
}

run "tags_in_any_order_or_case_are_one_set" {
  command = plan

  assert {
    condition     = pve_lxc.this["dns1"].tags == pve_lxc.this["dns2"].tags && pve_lxc.this["dns1"].tags == toset(["dns", "infra"])
    error_message = "Tags differing only in order and case plan identically, lowercased and de-duplicated."
  }
}

run "create" {
  variables {
    root_password   = "a-fake-root-password"
    ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 ops@example"]
  }

  override_resource {
    target = pve_lxc.this["dns1"]
    values = { vmid = 153 }
  }

  override_resource {
    target = pve_lxc.this["dns2"]
    values = { vmid = 154 }
  }

  assert {
    condition     = !strcontains(jsonencode(output.containers), "a-fake-root-password")
    error_message = "The root password never appears in the containers output."
  }

  assert {
    condition     = alltrue([for ct in pve_lxc.this : ct.password == null && ct.ssh_public_keys == null])
    error_message = "password and ssh_public_keys are write-only: the state never holds them."
  }

  assert {
    condition     = output.containers["dns1"].vmid == 153
    error_message = "The container was created with the expected VMID."
  }
}

run "network_edits_keep_placement" {
  command = plan

  variables {
    gateway       = "10.10.10.254"
    dns_servers   = ["10.10.10.1"]
    search_domain = "home.lan"
    containers = {
      dns1 = { ip = "10.10.10.63/24", tags = ["dns", "infra"], vlan = 10 }
      dns2 = { ip = "dhcp", node = "pve2", tags = ["infra", "dns"], memory = 1024 }
    }
  }

  assert {
    condition     = pve_lxc.this["dns1"].vmid == 153 && pve_lxc.this["dns2"].vmid == 154
    error_message = "Network, DNS and size edits must not change the VMID (that would replace the container)."
  }

  assert {
    condition     = pve_lxc.this["dns1"].node == "pve1" && pve_lxc.this["dns2"].node == "pve2"
    error_message = "Network, DNS and size edits must not move a container."
  }

  assert {
    condition     = pve_lxc.this["dns1"].unprivileged && pve_lxc.this["dns1"].rootfs.storage == "local-lvm"
    error_message = "unprivileged and the rootfs storage (both force replacement) stay as they were."
  }
}

run "template_change_keeps_containers" {
  command = plan

  variables {
    template_volume = "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst"
  }

  assert {
    condition     = pve_lxc.this["dns1"].vmid == 153 && pve_lxc.this["dns2"].vmid == 154
    error_message = "A new template (write-only, creation only) leaves existing containers alone."
  }
}

run "adding_a_mount_point_keeps_the_others" {
  command = plan

  variables {
    containers = {
      dns1 = { ip = "10.10.10.53/24", tags = ["dns", "infra"], mount_points = { mp0 = { path = "/data", size = 10 }, mp1 = { path = "/logs", size = 5 } } }
      dns2 = { ip = "10.10.10.54/24", node = "pve2", tags = ["infra", "dns"] }
    }
  }

  assert {
    condition     = pve_lxc.this["dns1"].mount_point[0].slot == "mp0" && pve_lxc.this["dns1"].mount_point[0].path == "/data"
    error_message = "Adding a mount point leaves mp0 where it was."
  }
}

run "adding_a_container_leaves_others_alone" {
  command = plan

  variables {
    containers = {
      a    = { ip = "10.10.10.50/24" }
      dns1 = { ip = "10.10.10.53/24", tags = ["dns", "infra"] }
      dns2 = { ip = "10.10.10.54/24", node = "pve2", tags = ["infra", "dns"] }
    }
  }

  assert {
    condition     = pve_lxc.this["dns1"].vmid == 153 && pve_lxc.this["dns2"].vmid == 154
    error_message = "Containers are keyed by hostname, so a new entry does not shift the others."
  }
}

run "expiry_only_in_lab" {
  command = plan

  assert {
    condition     = alltrue([for t in pve_lifecycle_tag.this : t.environment == "prod" && t.expiration_days == null && !t.no_expire])
    error_message = "Outside the lab no container gets an expiry."
  }
}

run "lab_containers_all_expire" {
  command = plan

  variables {
    environment     = "lab"
    expiration_days = 5
  }

  assert {
    condition     = alltrue([for t in pve_lifecycle_tag.this : t.environment == "lab" && t.expiration_days == 5])
    error_message = "Every lab container expires."
  }

  assert {
    condition     = alltrue(flatten([for ct in pve_lxc.this : [for t in ct.tags : !startswith(t, "environment-") && !startswith(t, "expires-")]]))
    error_message = "pve_lxc.tags never hold lifecycle tags (a perpetual diff)."
  }
}

run "dhcp_ignores_module_gateway" {
  command = plan

  variables {
    containers = { dns1 = { ip = "dhcp" } }
  }

  assert {
    condition     = pve_lxc.this["dns1"].network[0].gateway == null
    error_message = "A module-wide gateway must not be sent with ipv4 = dhcp."
  }
}

# pve-ops expire-lab stops expired lab containers (and operators stop them for maintenance):
# the power state after creation is not Terraform's, so a changed `started` plans no change.
run "started_is_only_for_creation" {
  command = plan

  variables {
    containers = {
      dns1 = { ip = "10.10.10.53/24", tags = ["DNS", "Infra", "dns"], started = false }
      dns2 = { ip = "10.10.10.54/24", node = "pve2", tags = ["infra", "dns"], started = false }
    }
  }

  assert {
    condition     = pve_lxc.this["dns1"].started && pve_lxc.this["dns2"].started
    error_message = "started must be ignored after creation (lifecycle ignore_changes), or apply would start containers stopped on purpose."
  }
}

run "create_with_mount_points" {
  variables {
    containers = {
      dns1 = {
        ip           = "10.10.10.53/24"
        tags         = ["DNS", "Infra", "dns"]
        mount_points = { mp0 = { path = "/data", size = 10 }, mp1 = { path = "/logs", size = 50 }, mp2 = { path = "/cache", size = 5 } }
      }
      dns2 = { ip = "10.10.10.54/24", node = "pve2", tags = ["infra", "dns"] }
    }
  }

  assert {
    condition     = output.containers["dns1"].mount_points == { "/data" = 10, "/logs" = 50, "/cache" = 5 }
    error_message = "The container was created with three mount points."
  }
}

run "removing_a_middle_mount_point_keeps_the_others_in_their_slots" {
  command = plan

  variables {
    containers = {
      dns1 = {
        ip           = "10.10.10.53/24"
        tags         = ["DNS", "Infra", "dns"]
        mount_points = { mp0 = { path = "/data", size = 10 }, mp2 = { path = "/cache", size = 5 } }
      }
      dns2 = { ip = "10.10.10.54/24", node = "pve2", tags = ["infra", "dns"] }
    }
  }

  assert {
    # By index, /cache would move onto mp1 (the 50 GiB /logs volume, shrinking it) and mp2
    # would be destroyed.
    condition     = [for m in pve_lxc.this["dns1"].mount_point : "${m.slot}=${m.path}:${m.size}"] == ["mp0=/data:10", "mp2=/cache:5"]
    error_message = "Removing mp1 must leave mp0 and mp2 where they are, with their paths and sizes."
  }
}
