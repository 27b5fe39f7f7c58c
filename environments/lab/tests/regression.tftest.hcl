# Guards for the lab: the sandbox keeps its address in state, secrets stay out of outputs,
# the lab never backs up other environments' guests, and expiry is always set.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = {
      vmid = 9000
      node = "pve1"
    }
  }

  mock_resource "pve_vm" {
    defaults = {
      vmid         = 201
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

run "sandbox_keeps_its_address_across_the_module_move" {
  command = plan

  assert {
    condition     = contains(keys(module.vms.vms), "lab-sandbox")
    error_message = "The sandbox must stay at module.vms.pve_vm.this[\"lab-sandbox\"], the target of the moved block from pve_vm.sandbox."
  }
}

run "apply_with_secrets" {
  variables {
    container_root_password = "a-fake-root-password"
    containers              = { lab-ct1 = {} }
  }

  assert {
    condition     = !strcontains(jsonencode(output.containers), "a-fake-root-password") && !strcontains(jsonencode(output.vms), "a-fake-root-password")
    error_message = "No output may carry the container root password."
  }

  assert {
    condition     = length(output.containers) == 1 && output.containers["lab-ct1"].expiration_days == 14
    error_message = "The container was created with the lab expiry."
  }
}

run "cloud_init_change_keeps_the_sandbox" {
  command = plan

  variables {
    ci_user         = "lab"
    ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 lab@example"]
    sandbox         = { ip = "10.10.10.150/24" }
    gateway         = "10.10.10.1"
    containers      = { lab-ct1 = {} }
  }

  assert {
    condition     = module.vms.vms["lab-sandbox"].vmid == run.apply_with_secrets.sandbox.vmid && module.vms.vms["lab-sandbox"].node == run.apply_with_secrets.sandbox.node
    error_message = "Cloud-init changes must not renumber or move the sandbox (that would replace it)."
  }
}

run "backup_never_selects_all" {
  command = plan

  assert {
    condition     = !module.backup.selection.all && module.backup.selection.pool == null && length(module.backup.selection.vmids) == length(module.vms.vmids)
    error_message = "The lab job lists lab guests; an all-guests job would also back up prod."
  }
}

run "sandbox_cannot_be_redefined_in_vms" {
  command = plan

  variables {
    vms = { lab-sandbox = {} }
  }

  expect_failures = [var.vms]
}

run "expiration_days_bounds" {
  command = plan

  variables {
    expiration_days = 0
  }

  expect_failures = [var.expiration_days]
}

run "container_name_clash_rejected" {
  command = plan

  variables {
    containers = { lab-sandbox = {} }
  }

  expect_failures = [var.containers]
}

# VMID ranges of the environments must not overlap: monitoring 110-119, prod 120-149, k8s
# 150-169, lab 200 and up (each environment's tests check its own range).
run "lab_vmids_from_200" {
  command = plan

  variables {
    vms        = { lab-docker = { vmid = 201 } }
    containers = { lab-ct1 = { vmid = 202 } }
  }

  assert {
    condition     = module.vms.vms["lab-sandbox"].vmid == 200 && module.vms.vms["lab-docker"].vmid == 201 && module.containers[0].containers["lab-ct1"].vmid == 202
    error_message = "The sandbox is VMID 200 by default and explicit lab VMIDs reach the guests."
  }

  assert {
    condition = module.vms.vms["lab-sandbox"].vmid == 200 && alltrue([
      for m in regexall("vmid\\s*=\\s*([0-9]+)", file("terraform.tfvars.example")) : tonumber(m[0]) >= 200
    ]) && length(regexall("vmid\\s*=", file("terraform.tfvars.example"))) == 3
    error_message = "terraform.tfvars.example gives the sandbox, lab-docker and lab-ct1 VMIDs of 200 and up."
  }
}

run "lab_vm_vmid_below_200_rejected" {
  command = plan

  variables {
    vms = { lab-docker = { vmid = 150 } }
  }

  expect_failures = [var.vms]
}

run "lab_container_vmid_below_200_rejected" {
  command = plan

  variables {
    containers = { lab-ct1 = { vmid = 199 } }
  }

  expect_failures = [var.containers]
}

run "sandbox_vmid_below_200_rejected" {
  command = plan

  variables {
    sandbox = { vmid = 110 }
  }

  expect_failures = [var.sandbox]
}

run "lab_vmid_shared_by_vm_and_container_rejected" {
  command = plan

  variables {
    vms        = { lab-docker = { vmid = 201 } }
    containers = { lab-ct1 = { vmid = 201 } }
  }

  expect_failures = [var.containers]
}

run "lab_vm_vmid_repeating_the_sandbox_rejected" {
  command = plan

  variables {
    vms = { lab-docker = { vmid = 200 } }
  }

  expect_failures = [var.vms]
}
