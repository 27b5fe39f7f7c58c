# Guards for prod: no DHCP, no shared VMIDs or addresses, no expiry, no secrets in outputs,
# and edits that must stay in place.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = {
      vmid = 9000
      node = "pve1"
    }
  }
}

variables {
  # Set, not left to its default: terraform test (before 1.17, hashicorp/terraform#38974)
  # refuses an unset optional ephemeral variable in an apply run.
  container_root_password = join("-", ["fake", "root", "password", "for", "tests"])
}

run "dhcp_vm_rejected" {
  command = plan

  variables {
    vms = { web = { vmid = 122, ip = "dhcp" } }
  }

  expect_failures = [var.vms]
}

run "dhcp_container_rejected" {
  command = plan

  variables {
    containers = { web = { vmid = 133, ip = "dhcp", node = "pve1" } }
  }

  expect_failures = [var.containers]
}

run "vmid_shared_by_vm_and_container_rejected" {
  command = plan

  variables {
    containers = { dns1 = { vmid = 120, ip = "10.10.10.53/24", node = "pve2" } }
  }

  expect_failures = [var.containers]
}

run "address_shared_by_vm_and_container_rejected" {
  command = plan

  variables {
    containers = { dns1 = { vmid = 130, ip = "10.10.10.30/24", node = "pve2" } }
  }

  expect_failures = [var.containers]
}

run "name_shared_by_vm_and_container_rejected" {
  command = plan

  variables {
    containers = { docker1 = { vmid = 130, ip = "10.10.10.53/24", node = "pve2" } }
  }

  expect_failures = [var.containers]
}

run "apply_with_secret" {
  variables {
    container_root_password = "a-fake-root-password"
  }

  assert {
    condition     = !strcontains(jsonencode(output.containers), "a-fake-root-password") && !strcontains(jsonencode(output.vms), "a-fake-root-password")
    error_message = "No output may carry the container root password."
  }
}

run "resizing_keeps_guests_in_place" {
  command = plan

  variables {
    vms = {
      docker1 = { vmid = 120, ip = "10.10.10.30/24", cores = 8, memory = 16384, disk = 200, docker = true, tags = ["services", "docker"] }
      db1     = { vmid = 121, ip = "10.10.10.31/24", cores = 4, memory = 8192, disk = 40, data_disks = { scsi1 = 100 }, tags = ["postgres", "database"] }
    }
  }

  assert {
    condition     = output.vms["docker1"].vmid == run.apply_with_secret.vms["docker1"].vmid && output.vms["docker1"].node == run.apply_with_secret.vms["docker1"].node
    error_message = "Resizing a VM must not change its VMID or node (that would replace it)."
  }

  assert {
    condition     = output.vms["docker1"].tags == run.apply_with_secret.vms["docker1"].tags
    error_message = "Tags listed in another order plan the same set."
  }

  assert {
    condition     = output.backup_job.id == run.apply_with_secret.backup_job.id
    error_message = "Resizing guests keeps the backup job."
  }
}

run "adding_a_guest_extends_the_backup" {
  command = plan

  variables {
    vms = {
      docker1 = { vmid = 120, ip = "10.10.10.30/24", cores = 4, memory = 8192, disk = 100, docker = true, tags = ["docker", "services"] }
      db1     = { vmid = 121, ip = "10.10.10.31/24", cores = 4, memory = 8192, disk = 40, data_disks = { scsi1 = 100 }, tags = ["database", "postgres"] }
      media1  = { vmid = 122, ip = "10.10.10.32/24", node = "pve3" }
    }
  }

  assert {
    condition     = contains(output.backup_job.vmids, 122) && length(output.backup_job.vmids) == 6
    error_message = "A new prod guest is backed up by the existing prod job."
  }

  assert {
    condition     = output.backup_job.id == "prod-daily"
    error_message = "A new guest does not replace the job."
  }
}

run "no_expiry_tags_in_prod" {
  command = plan

  assert {
    condition     = alltrue([for g in concat(values(output.vms), values(output.containers)) : g.expiration_days == null && !g.no_expire])
    error_message = "prod guests never carry expires- or no-expire tags."
  }
}

# Environments must not share default VMIDs or addresses: prod has 120-149 and 10.10.10.30-59
# (monitoring 110-119 / .20-.29, k8s 150-169 / .60-.79, the lab 200 and up).
run "default_guests_in_the_prod_ranges" {
  command = plan

  assert {
    condition = alltrue([for g in concat(values(output.vms), values(output.containers)) :
      g.vmid >= 120 && g.vmid <= 149 && startswith(g.cidr, "10.10.10.") && tonumber(split(".", g.ip)[3]) >= 30 && tonumber(split(".", g.ip)[3]) <= 59
    ])
    error_message = "Every default prod guest has a VMID in 120-149 and an address in 10.10.10.30-59."
  }

  assert {
    condition = length(output.vms) > 0 && alltrue(concat(
      [for m in regexall("vmid\\s*=\\s*([0-9]+)", file("terraform.tfvars.example")) : tonumber(m[0]) >= 120 && tonumber(m[0]) <= 149],
      [for m in regexall("ip\\s*=\\s*\"10\\.10\\.10\\.([0-9]+)/", file("terraform.tfvars.example")) : tonumber(m[0]) >= 30 && tonumber(m[0]) <= 59],
    )) && length(regexall("vmid\\s*=", file("terraform.tfvars.example"))) == 5 && length(regexall("\\bip\\s*=", file("terraform.tfvars.example"))) == 5
    error_message = "terraform.tfvars.example gives its 5 guests VMIDs in 120-149 and addresses in 10.10.10.30-59."
  }
}

run "outputs_do_not_follow_ha_migrations" {
  override_resource {
    target = module.vms.pve_vm.this["docker1"]
    values = { current_node = "pve3" }
  }

  override_resource {
    target = module.containers[0].pve_lxc.this["dns1"]
    values = { current_node = "pve3" }
  }

  assert {
    condition     = output.vms["docker1"].node == "pve1" && output.containers["dns1"].node == "pve2"
    error_message = "The vms and containers outputs carry the node a guest was created on."
  }

  assert {
    condition     = alltrue([for g in concat(values(output.vms), values(output.containers)) : !contains(keys(g), "current_node")])
    error_message = "Root outputs must not re-export current_node (it changes with every HA migration)."
  }
}
