# What the prod environment plans with its default services: two VMs (docker1, db1), three
# containers (dns1, dns2, proxy1), one daily backup job.

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

run "services" {
  command = plan

  assert {
    condition     = toset(keys(output.vms)) == toset(["docker1", "db1"])
    error_message = "prod runs the VMs docker1 and db1."
  }

  assert {
    condition     = toset(keys(output.containers)) == toset(["dns1", "dns2", "proxy1"])
    error_message = "prod runs the containers dns1, dns2 and proxy1."
  }
}

run "fixed_vmids_and_nodes" {
  command = plan

  assert {
    condition     = output.vms["docker1"].vmid == 120 && output.vms["db1"].vmid == 121
    error_message = "prod VMs keep their fixed VMIDs."
  }

  assert {
    condition     = output.containers["dns1"].vmid == 130 && output.containers["dns2"].vmid == 131 && output.containers["proxy1"].vmid == 132
    error_message = "prod containers keep their fixed VMIDs."
  }

  assert {
    condition     = output.containers["dns1"].node != output.containers["dns2"].node
    error_message = "The two DNS servers run on different nodes, so one node failing leaves DNS up."
  }

  assert {
    condition     = output.vms["docker1"].node == "pve1" && output.vms["db1"].node == "pve1"
    error_message = "VMs without a node are created on the template's node (pve1)."
  }
}

run "vm_on_another_node" {
  command = plan

  variables {
    vms = {
      docker1 = { vmid = 120, ip = "10.10.10.30/24", node = "pve3", docker = true }
    }
  }

  assert {
    condition     = output.vms["docker1"].node == "pve3"
    error_message = "A VM's node, when given, wins over the template's node."
  }
}

run "static_addresses" {
  command = plan

  assert {
    condition = output.addresses == {
      docker1 = "10.10.10.30"
      db1     = "10.10.10.31"
      dns1    = "10.10.10.53"
      dns2    = "10.10.10.54"
      proxy1  = "10.10.10.40"
    }
    error_message = "Every prod guest has its static address."
  }

  assert {
    condition     = alltrue([for g in concat(values(output.vms), values(output.containers)) : g.gateway == "10.10.10.1" && g.cidr != "dhcp"])
    error_message = "Every prod guest uses the prod gateway and no DHCP."
  }
}

run "docker_host" {
  command = plan

  assert {
    condition     = output.vms["docker1"].docker && output.vms["docker1"].cores == 4 && output.vms["docker1"].memory == 8192 && output.vms["docker1"].disk == 100
    error_message = "docker1 runs Docker with 4 cores, 8 GiB and 100 GiB."
  }

  assert {
    condition     = !output.vms["db1"].docker && output.vms["db1"].data_disks == { scsi1 = 100 }
    error_message = "db1 has no Docker and a 100 GiB data disk."
  }

  assert {
    condition     = alltrue([for v in values(output.vms) : v.node_exporter && v.security_updates && v.cpu_type == "host"])
    error_message = "prod VMs export metrics, take security updates and use the host CPU type."
  }
}

run "containers_shape" {
  command = plan

  assert {
    condition     = alltrue([for c in values(output.containers) : c.unprivileged && c.security_updates])
    error_message = "prod containers are unprivileged and take security updates."
  }

  assert {
    condition     = output.containers["proxy1"].nesting && !output.containers["dns1"].nesting
    error_message = "Only proxy1 gets nesting."
  }

  assert {
    condition     = output.containers["proxy1"].mount_points == { "/var/lib/caddy" = 2 }
    error_message = "proxy1 keeps its certificates on a mount point."
  }
}

run "protected_and_started_on_boot" {
  command = plan

  assert {
    condition     = alltrue([for g in concat(values(output.vms), values(output.containers)) : g.protection && g.on_boot])
    error_message = "Every prod guest is protected against removal and starts with its node."
  }
}

run "prod_lifecycle_without_expiry" {
  command = plan

  assert {
    condition     = alltrue([for g in concat(values(output.vms), values(output.containers)) : g.environment == "prod" && g.expiration_days == null && !g.no_expire])
    error_message = "Every prod guest is tagged environment-prod and never gets an expiry tag."
  }
}

run "daily_backup_of_every_guest" {
  command = plan

  assert {
    condition     = output.backup_job.id == "prod-daily" && output.backup_job.schedule == "*-*-* 01:00"
    error_message = "prod is backed up daily at 01:00 by prod-daily."
  }

  assert {
    condition     = output.backup_job.retention == { keep_daily = 7, keep_weekly = 4 }
    error_message = "prod keeps 7 daily and 4 weekly backups."
  }

  assert {
    condition     = toset(output.backup_job.vmids) == toset([120, 121, 130, 131, 132])
    error_message = "The prod job covers every prod VM and container."
  }
}

run "unprotected_on_request" {
  command = plan

  variables {
    protection = false
  }

  assert {
    condition     = alltrue([for g in concat(values(output.vms), values(output.containers)) : !g.protection])
    error_message = "protection = false lifts the protection of every prod guest."
  }
}

run "apply" {
  assert {
    condition     = length(output.vms) == 2 && length(output.containers) == 3 && output.backup_job.id == "prod-daily"
    error_message = "The default prod configuration applies."
  }
}

# The VMs are typed by modules/vm, not by a cut-down copy here: every attribute reaches the
# module, and prod's only own default (node_exporter on) is visible in main.tf.
run "every_vm_attribute_reaches_the_module" {
  command = plan

  variables {
    vms = {
      db1   = { vmid = 121, ip = "10.10.10.31/24", vlan = 30, balloon = 1024, cpu_type = "x86-64-v3" }
      cache = { vmid = 122, ip = "10.10.10.32/24", node_exporter = false }
    }
  }

  assert {
    condition     = module.vms.vms["db1"].balloon == 1024 && module.vms.vms["db1"].cpu_type == "x86-64-v3" && module.vms.vms["db1"].node_exporter
    error_message = "vlan, balloon and cpu_type reach the VM, and prod's node_exporter default applies."
  }
  assert {
    condition     = module.vms.vms["cache"].node_exporter == false
    error_message = "A VM's own node_exporter = false wins over prod's default."
  }
}

run "prod_vm_without_a_vmid_rejected" {
  command = plan

  variables {
    vms = { db1 = { ip = "10.10.10.31/24" } }
  }

  expect_failures = [var.vms]
}
