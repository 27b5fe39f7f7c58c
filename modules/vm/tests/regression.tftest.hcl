# Guards against the classic problems of VM modules: tag churn, replacement on cloud-init edits,
# secrets leaking into outputs or state, expiry outside the lab, index-shifted resources and
# disks, apply restarting guests that operations stopped.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = {
      vmid = 9000
      node = "pve1"
    }
  }

  mock_resource "pve_vm" {
    defaults = {
      current_node = "pve1"
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
    app = { ip = "10.10.10.40/24", tags = ["Web", "db", "WEB", "app"] }
    api = { ip = "10.10.10.41/24", tags = ["app", "web", "DB"] }
  }
}

run "tags_in_any_order_or_case_are_one_set" {
  command = plan

  assert {
    condition     = pve_vm.this["app"].tags == pve_vm.this["api"].tags
    error_message = "Tags differing only in order and case plan identically."
  }

  assert {
    condition     = pve_vm.this["app"].tags == toset(["app", "db", "web"])
    error_message = "Tags are lowercased and de-duplicated the way PVE stores them."
  }
}

run "vm_tags_never_hold_lifecycle_tags" {
  command = plan

  variables {
    environment     = "lab"
    expiration_days = 14
  }

  assert {
    condition = alltrue(flatten([
      for vm in pve_vm.this : [for t in vm.tags : !startswith(t, "environment-") && !startswith(t, "expires-") && t != "no-expire"]
    ]))
    error_message = "pve_vm.tags must not hold lifecycle tags (pve_vm ignores them on read: a perpetual diff)."
  }

  assert {
    condition     = alltrue([for t in pve_lifecycle_tag.this : t.environment == "lab"])
    error_message = "The environment tag comes from pve_lifecycle_tag instead."
  }
}

run "empty_tags_are_null_not_empty_set" {
  command = plan

  variables {
    vms = { app = { ip = "10.10.10.40/24", tags = [] } }
  }

  assert {
    condition     = pve_vm.this["app"].tags == null
    error_message = "No tags plans null, which is what the provider reads back for an untagged VM."
  }
}

run "create" {
  override_resource {
    target = pve_vm.this["app"]
    values = { vmid = 140 }
  }

  override_resource {
    target = pve_vm.this["api"]
    values = { vmid = 141 }
  }

  assert {
    condition     = output.vms["app"].vmid == 140 && output.vms["api"].vmid == 141
    error_message = "The VMs were created with the expected VMIDs."
  }
}

run "cloud_init_edits_keep_placement" {
  command = plan

  variables {
    ci_user         = "admin"
    ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 new@example"]
    dns_servers     = ["1.1.1.1"]
    search_domain   = "home.lan"
    gateway         = "10.10.10.254"
    vms = {
      app = { ip = "10.10.10.50/24", tags = ["web", "db", "app"], docker = true, node_exporter = true }
      api = { ip = "dhcp", tags = ["app", "web", "db"], security_updates = false }
    }
  }

  assert {
    condition     = pve_vm.this["app"].vmid == run.create.vms["app"].vmid && pve_vm.this["api"].vmid == run.create.vms["api"].vmid
    error_message = "Cloud-init changes must not change the VMID (that would replace the VM)."
  }

  assert {
    condition     = pve_vm.this["app"].node == run.create.vms["app"].node && pve_vm.this["api"].node == run.create.vms["api"].node
    error_message = "Cloud-init changes must not move the VM to another node (that would replace it)."
  }

  assert {
    condition     = pve_lifecycle_tag.this["app"].vmid == 140
    error_message = "Cloud-init changes leave the lifecycle tag on the same VM."
  }

  assert {
    condition     = pve_vm.this["app"].ip_config[0].ipv4 == "10.10.10.50/24" && pve_vm.this["app"].ci_user == "admin"
    error_message = "The new cloud-init settings are planned as in-place changes."
  }
}

run "template_change_keeps_placement" {
  command = plan

  variables {
    node          = "pve1"
    template_vmid = 9100
  }

  assert {
    condition     = pve_vm.this["app"].vmid == 140 && pve_vm.this["app"].node == "pve1"
    error_message = "Another template (write-only clone_vmid) neither moves nor renumbers existing VMs."
  }
}

run "adding_a_vm_leaves_others_alone" {
  command = plan

  variables {
    vms = {
      aaa = { ip = "10.10.10.39/24" }
      app = { ip = "10.10.10.40/24", tags = ["Web", "db", "WEB", "app"] }
      api = { ip = "10.10.10.41/24", tags = ["app", "web", "DB"] }
    }
  }

  assert {
    condition     = pve_vm.this["app"].vmid == 140 && pve_vm.this["api"].vmid == 141
    error_message = "VMs are keyed by name, so a new entry sorting first does not shift the others."
  }
}

run "secrets_never_in_outputs_or_state" {
  variables {
    ci_password      = "a-fake-test-password"
    security_updates = false
  }

  assert {
    condition     = !strcontains(jsonencode(output.vms), "a-fake-test-password")
    error_message = "The cloud-init password must never appear in the vms output."
  }

  assert {
    condition     = alltrue([for vm in pve_vm.this : vm.ci_password == null])
    error_message = "ci_password is write-only: the state never holds it."
  }
}

run "expiry_only_in_lab" {
  command = plan

  assert {
    condition     = alltrue([for t in pve_lifecycle_tag.this : t.expiration_days == null && !t.no_expire])
    error_message = "Outside the lab no VM gets an expiry."
  }
}

run "lab_vms_all_expire" {
  command = plan

  variables {
    environment     = "lab"
    expiration_days = 7
  }

  assert {
    condition     = alltrue([for t in pve_lifecycle_tag.this : t.expiration_days == 7])
    error_message = "Every lab VM carries the module-wide expiry."
  }
}

run "dhcp_ignores_module_gateway" {
  command = plan

  variables {
    vms = { app = { ip = "dhcp" } }
  }

  assert {
    condition     = pve_vm.this["app"].ip_config[0].gateway == null
    error_message = "A module-wide gateway must not be sent with ipv4 = dhcp (PVE rejects gw without a static address)."
  }
}

run "every_vm_is_environment_tagged" {
  command = plan

  variables {
    environment = "monitoring"
  }

  assert {
    condition     = length(pve_lifecycle_tag.this) == length(pve_vm.this) && alltrue([for t in pve_lifecycle_tag.this : t.environment == "monitoring"])
    error_message = "Every VM gets its environment tag, in every environment."
  }
}

run "template_lookup_not_duplicated" {
  command = plan

  variables {
    vms = {
      a = { ip = "10.10.10.30/24" }
      b = { ip = "10.10.10.31/24" }
      c = { ip = "10.10.10.32/24", node = "pve2", template_vmid = 9200 }
    }
  }

  assert {
    condition     = length(data.pve_template.this) == 1
    error_message = "One template lookup serves every VM; a VM with its own template_vmid does not add one."
  }
}

# pve-ops expire-lab stops expired lab guests (and operators stop VMs for maintenance): the
# power state after creation is not Terraform's, so a changed `started` plans no change.
run "started_is_only_for_creation" {
  command = plan

  variables {
    vms = {
      app = { ip = "10.10.10.40/24", tags = ["Web", "db", "WEB", "app"], started = false }
      api = { ip = "10.10.10.41/24", tags = ["app", "web", "DB"], started = false }
    }
  }

  assert {
    condition     = pve_vm.this["app"].started && pve_vm.this["api"].started
    error_message = "started must be ignored after creation (lifecycle ignore_changes), or apply would start guests stopped on purpose."
  }
}

run "create_with_data_disks" {
  variables {
    vms = {
      app = { ip = "10.10.10.40/24", tags = ["Web", "db", "WEB", "app"], data_disks = { scsi1 = 50, scsi2 = 200, scsi3 = 30 } }
      api = { ip = "10.10.10.41/24", tags = ["app", "web", "DB"] }
    }
  }

  assert {
    condition     = output.vms["app"].data_disks == { scsi1 = 50, scsi2 = 200, scsi3 = 30 }
    error_message = "The VM was created with three data disks."
  }
}

run "removing_a_middle_data_disk_keeps_the_others_in_their_slots" {
  command = plan

  variables {
    vms = {
      app = { ip = "10.10.10.40/24", tags = ["Web", "db", "WEB", "app"], data_disks = { scsi1 = 50, scsi3 = 30 } }
      api = { ip = "10.10.10.41/24", tags = ["app", "web", "DB"] }
    }
  }

  assert {
    # By index, scsi3's 30 GiB would move to scsi2 (a shrink of the 200 GiB volume) and scsi3
    # would be destroyed.
    condition     = [for d in pve_vm.this["app"].disk : "${d.slot}=${d.size}"] == ["scsi0=20", "scsi1=50", "scsi3=30"]
    error_message = "Removing scsi2 must leave scsi1 and scsi3 where they are, with their sizes."
  }

  assert {
    condition = alltrue([
      for d in slice(pve_vm.this["app"].disk, 1, length(pve_vm.this["app"].disk)) : d.size == run.create_with_data_disks.vms["app"].data_disks[d.slot]
    ])
    error_message = "Every remaining data disk keeps the size it was created with."
  }
}
