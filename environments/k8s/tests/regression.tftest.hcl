# Guards for the k8s environment: scaling keeps existing VMs in place, address and VMID
# ranges never collide (within k8s and with the other environments' defaults), quorum-breaking
# control-plane counts are refused, no output follows HA migrations.

mock_provider "pve" {
  # HA resource IDs are vm:VMID; a random mock string would fail pve_ha_rule's check.
  mock_resource "pve_ha_resource" {
    defaults = {
      sid = "vm:100"
    }
  }

  mock_data "pve_template" {
    defaults = {
      vmid = 9000
      node = "pve1"
    }
  }
}

# Distinct HA resource IDs for the control planes' rule (a set: equal mock IDs would collapse).
override_resource {
  target = module.vms.pve_ha_resource.this["k8s-cp-1"]
  values = { sid = "vm:1001" }
}

override_resource {
  target = module.vms.pve_ha_resource.this["k8s-cp-2"]
  values = { sid = "vm:1002" }
}

override_resource {
  target = module.vms.pve_ha_resource.this["k8s-cp-3"]
  values = { sid = "vm:1003" }
}

run "create" {
  assert {
    condition     = length(output.workers) == 3
    error_message = "Three workers are created."
  }
}

run "adding_workers_keeps_the_others" {
  command = plan

  variables {
    worker_count = 5
  }

  assert {
    condition     = alltrue([for name, w in run.create.workers : output.workers[name] == w])
    error_message = "Scaling workers up must not move, renumber or readdress the existing ones."
  }

  assert {
    condition     = output.workers["k8s-worker-4"].node == "pve1" && output.workers["k8s-worker-5"].node == "pve2"
    error_message = "New workers continue the round-robin over the nodes."
  }

  assert {
    condition     = output.workers["k8s-worker-5"].ip == "10.10.10.75" && output.workers["k8s-worker-5"].vmid == 165
    error_message = "New workers continue the address and VMID sequence."
  }
}

run "bigger_workers_stay_in_place" {
  command = plan

  variables {
    worker = { cores = 4, memory = 16384, disk = 150 }
  }

  assert {
    condition     = alltrue([for name, w in run.create.workers : output.workers[name] == w])
    error_message = "Resizing workers keeps their VMIDs, nodes and addresses (in-place update)."
  }
}

run "even_control_plane_count_rejected" {
  command = plan

  variables {
    control_plane_count = 2
  }

  expect_failures = [var.control_plane_count]
}

run "overlapping_address_ranges_rejected" {
  command = plan

  variables {
    worker_host_offset = 62
  }

  expect_failures = [var.worker_host_offset]
}

run "addresses_past_the_subnet_rejected" {
  command = plan

  variables {
    subnet                    = "10.10.30.0/27"
    gateway                   = "10.10.30.1"
    control_plane_host_offset = 11
    worker_host_offset        = 29
  }

  expect_failures = [var.worker_host_offset]
}

run "overlapping_vmid_ranges_rejected" {
  command = plan

  variables {
    worker_vmid_start = 152
  }

  expect_failures = [var.worker_vmid_start]
}

run "undersized_control_plane_rejected" {
  command = plan

  variables {
    control_plane = { cores = 1 }
  }

  expect_failures = [var.control_plane]
}

run "duplicate_nodes_rejected" {
  command = plan

  variables {
    nodes = ["pve1", "pve1", "pve2"]
  }

  expect_failures = [var.nodes]
}

run "partial_template_map_rejected" {
  command = plan

  variables {
    template_vmids = { pve1 = 9000 }
  }

  expect_failures = [var.template_vmids]
}

run "two_nodes_wrap_around" {
  command = plan

  variables {
    nodes = ["pve1", "pve2"]
  }

  assert {
    condition     = output.control_planes["k8s-cp-3"].node == "pve1" && output.workers["k8s-worker-2"].node == "pve2"
    error_message = "With fewer nodes than VMs the spread wraps around."
  }
}

run "addresses_up_to_the_last_host_accepted" {
  command = plan

  variables {
    subnet                    = "10.10.30.0/27"
    gateway                   = "10.10.30.1"
    control_plane_host_offset = 11
    worker_host_offset        = 28
  }

  assert {
    condition     = output.workers["k8s-worker-3"].ip == "10.10.30.30"
    error_message = "The last usable host of a /27 (.30) is a valid worker address."
  }
}

# Environments must not share default VMIDs or addresses: k8s has 150-169 and 10.10.10.60-79
# (monitoring 110-119 / .20-.29, prod 120-149 / .30-.59, the lab 200 and up).
run "defaults_in_the_k8s_ranges" {
  command = plan

  assert {
    condition = alltrue([for vm in values(output.vms) :
      vm.vmid >= 150 && vm.vmid <= 169 && startswith(vm.ip, "10.10.10.") && tonumber(split(".", vm.ip)[3]) >= 60 && tonumber(split(".", vm.ip)[3]) <= 79
    ])
    error_message = "Every default k8s VM has a VMID in 150-169 and an address in 10.10.10.60-79."
  }
}

run "largest_default_cluster_stays_in_the_k8s_ranges" {
  command = plan

  variables {
    control_plane_count = 7
    worker_count        = 9
  }

  assert {
    condition = length(output.vms) == 16 && alltrue([for vm in values(output.vms) :
      vm.vmid >= 150 && vm.vmid <= 169 && tonumber(split(".", vm.ip)[3]) >= 60 && tonumber(split(".", vm.ip)[3]) <= 79
    ])
    error_message = "7 control planes and 9 workers fit the k8s ranges with the default starts."
  }
}

run "example_tfvars_in_the_k8s_ranges" {
  command = plan

  assert {
    # The example's counts (3 and 3) from the example's starts.
    condition = length(output.vms) == 6 && alltrue(concat(
      [for m in regexall("(control_plane|worker)_vmid_start\\s*=\\s*([0-9]+)", file("terraform.tfvars.example")) : tonumber(m[1]) >= 150 && tonumber(m[1]) + 2 <= 169],
      [for m in regexall("(control_plane|worker)_host_offset\\s*=\\s*([0-9]+)", file("terraform.tfvars.example")) : tonumber(m[1]) >= 60 && tonumber(m[1]) + 2 <= 79],
    )) && length(regexall("_vmid_start\\s*=", file("terraform.tfvars.example"))) == 2 && length(regexall("_host_offset\\s*=", file("terraform.tfvars.example"))) == 2 && can(regex("\\bsubnet\\s*=\\s*\"10\\.10\\.10\\.0/24\"", file("terraform.tfvars.example"))) && can(regex("control_plane_count\\s*=\\s*3\\b", file("terraform.tfvars.example"))) && can(regex("worker_count\\s*=\\s*3\\b", file("terraform.tfvars.example")))
    error_message = "terraform.tfvars.example puts 3 control planes and 3 workers into VMIDs 150-169 and 10.10.10.60-79."
  }
}

run "outputs_do_not_follow_ha_migrations" {
  override_resource {
    target = module.vms.pve_vm.this["k8s-cp-1"]
    values = { current_node = "pve3" }
  }

  assert {
    condition     = output.vms["k8s-cp-1"].node == "pve1" && output.control_planes["k8s-cp-1"].node == "pve1"
    error_message = "The outputs carry the node a VM was created on."
  }

  assert {
    condition     = alltrue([for vm in values(output.vms) : !contains(keys(vm), "current_node")])
    error_message = "The vms output must not re-export current_node (it changes with every HA migration)."
  }
}
