# What the lab environment plans against a mocked cluster shaped like the emulator's:
# three nodes, template ubuntu-2404-cloudinit at VMID 9000 on pve1.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = {
      vmid = 9000
      node = "pve1"
    }
  }

  mock_data "pve_version" {
    defaults = {
      version = "9.1.3"
    }
  }

  mock_resource "pve_vm" {
    defaults = {
      vmid         = 200
      current_node = "pve1"
    }
  }

  mock_resource "pve_lxc" {
    defaults = {
      vmid         = 202
      current_node = "pve1"
    }
  }
}

variables {
  # Set, not left to its default: terraform test (before 1.17, hashicorp/terraform#38974)
  # refuses an unset optional ephemeral variable in an apply run.
  container_root_password = join("-", ["fake", "root", "password", "for", "tests"])
}

run "default_lab_is_one_sandbox" {
  command = plan

  assert {
    condition     = keys(module.vms.vms) == ["lab-sandbox"]
    error_message = "The default lab holds exactly one VM, lab-sandbox."
  }

  assert {
    condition     = length(module.containers) == 0
    error_message = "The default lab has no containers (the lxc module is not instantiated)."
  }
}

run "sandbox_from_template" {
  command = plan

  assert {
    condition     = module.vms.vms["lab-sandbox"].node == "pve1" && module.vms.template_vmid == 9000
    error_message = "The sandbox is cloned from the template (VMID 9000) on the template's node."
  }

  assert {
    condition     = module.vms.vms["lab-sandbox"].cores == 2 && module.vms.vms["lab-sandbox"].memory == 2048 && module.vms.vms["lab-sandbox"].disk == 10
    error_message = "The sandbox keeps its size: 2 cores, 2048 MiB, 10 GiB."
  }

  assert {
    condition     = module.vms.vms["lab-sandbox"].storage == "local-lvm" && module.vms.vms["lab-sandbox"].cidr == "dhcp"
    error_message = "The sandbox uses local-lvm and DHCP."
  }

  assert {
    condition     = module.vms.vms["lab-sandbox"].ip == null && module.vms.vms["lab-sandbox"].tags == toset(["sandbox"])
    error_message = "The sandbox has no static address and is tagged sandbox."
  }
}

run "sandbox_expires_after_14_days" {
  command = plan

  assert {
    condition     = module.vms.vms["lab-sandbox"].environment == "lab" && module.vms.vms["lab-sandbox"].expiration_days == 14
    error_message = "The sandbox is tagged environment-lab and expires after the default 14 days."
  }
}

run "security_updates_on" {
  command = plan

  assert {
    condition     = module.vms.vms["lab-sandbox"].security_updates
    error_message = "Lab VMs get security updates by default."
  }
}

run "weekly_backup_of_lab_guests" {
  command = plan

  assert {
    condition     = module.backup.id == "lab-weekly" && module.backup.schedule == "sun 03:00"
    error_message = "The lab is backed up by lab-weekly on Sundays at 03:00."
  }

  assert {
    condition     = module.backup.retention == { keep_weekly = 3 }
    error_message = "Lab backups keep 3 weekly."
  }

  assert {
    condition     = length(module.backup.selection.vmids) == 1 && !module.backup.selection.all
    error_message = "The lab job selects the lab guests by VMID, not all guests."
  }
}

run "shorter_expiry" {
  command = plan

  variables {
    expiration_days = 3
  }

  assert {
    condition     = module.vms.vms["lab-sandbox"].expiration_days == 3
    error_message = "expiration_days reaches the sandbox's lifecycle tag."
  }
}

run "extra_vms_and_containers" {
  command = plan

  variables {
    vms = {
      lab-docker = { docker = true, memory = 4096, expiration_days = 3 }
      lab-keep   = { no_expire = true }
    }
    containers = {
      lab-ct1 = { nesting = true }
    }
  }

  assert {
    condition     = length(module.vms.vms) == 3 && length(module.containers[0].containers) == 1
    error_message = "Extra VMs join the sandbox; a container instantiates the lxc module."
  }

  assert {
    condition     = module.vms.vms["lab-docker"].expiration_days == 3 && module.vms.vms["lab-docker"].docker && module.vms.vms["lab-keep"].no_expire
    error_message = "Per-VM expiry and no_expire reach the lifecycle tags."
  }

  assert {
    condition     = module.containers[0].containers["lab-ct1"].environment == "lab" && module.containers[0].containers["lab-ct1"].expiration_days == 14
    error_message = "Lab containers expire like lab VMs."
  }

  assert {
    condition     = module.containers[0].containers["lab-ct1"].node == "pve1" && module.containers[0].containers["lab-ct1"].unprivileged && module.containers[0].containers["lab-ct1"].nesting
    error_message = "Lab containers default to the template's node, are unprivileged and get the requested nesting."
  }

  assert {
    condition     = length(module.backup.selection.vmids) == 4
    error_message = "The lab backup covers all lab VMs and containers."
  }
}

run "outputs_after_apply" {
  override_resource {
    target = module.vms.pve_lifecycle_tag.this["lab-sandbox"]
    values = {
      expires = "2030-01-15"
    }
  }

  assert {
    condition     = output.proxmox_version == "9.1.3"
    error_message = "proxmox_version comes from the pve_version data source."
  }

  assert {
    condition     = output.template == { vmid = 9000, node = "pve1" }
    error_message = "template carries the template's VMID and node."
  }

  assert {
    condition     = output.sandbox.vmid == 200 && output.sandbox.node == "pve1" && output.sandbox.expires == "2030-01-15"
    error_message = "sandbox carries vmid, node and expires."
  }

  assert {
    condition     = output.backup_job.id == "lab-weekly" && output.containers == {}
    error_message = "backup_job names the lab job; containers is empty by default."
  }
}

# An HA migration moves the sandbox to pve3: no root output may change because of it (the
# end-to-end test and operators read sandbox.node; a volatile output would show on every plan).
run "outputs_do_not_follow_ha_migrations" {
  override_resource {
    target = module.vms.pve_vm.this["lab-sandbox"]
    values = {
      current_node = "pve3"
    }
  }

  override_resource {
    target = module.containers[0].pve_lxc.this["lab-ct1"]
    values = {
      current_node = "pve3"
    }
  }

  variables {
    containers = { lab-ct1 = { vmid = 210 } }
  }

  assert {
    condition     = output.sandbox.node == "pve1" && output.vms["lab-sandbox"].node == "pve1" && output.containers["lab-ct1"].node == "pve1"
    error_message = "sandbox.node, vms and containers carry the node a guest was created on, not current_node."
  }

  assert {
    condition     = !contains(keys(output.vms["lab-sandbox"]), "current_node") && !contains(keys(output.containers["lab-ct1"]), "current_node")
    error_message = "The vms and containers outputs must not re-export current_node (it changes with every HA migration)."
  }

  assert {
    # Outputs that would change on their own between plans: node status, the next free VMID.
    condition     = output.proxmox_version == "9.1.3" && !can(regex("output \"(nodes|next_free_vmid)\"|pve_nodes|pve_next_vmid", file("outputs.tf")))
    error_message = "outputs.tf must not export node status or a next free VMID."
  }
}

# The lab's guests are typed by the modules: mount points (and any other attribute) reach them.
run "container_mount_points_reach_the_module" {
  command = plan

  variables {
    containers = {
      lab-ct1 = { vmid = 202, mount_points = { mp0 = { path = "/data", size = 4 } } }
    }
    vms = {
      lab-db = { vmid = 203, balloon = 1024, expiration_days = 3 }
    }
  }

  assert {
    condition     = module.containers[0].containers["lab-ct1"].mount_points["/data"] == 4 && module.vms.vms["lab-db"].balloon == 1024
    error_message = "A container's mount_points and a VM's balloon reach the modules."
  }
}
