# Guards for the k8s environment: scaling keeps existing VMs in place, address and VMID
# ranges never collide, quorum-breaking control-plane counts are refused.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = {
      vmid = 9000
      node = "pve1"
    }
  }
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
    condition     = output.workers["k8s-worker-5"].ip == "10.10.30.25" && output.workers["k8s-worker-5"].vmid == 325
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
    worker_host_offset = 12
  }

  expect_failures = [var.worker_host_offset]
}

run "addresses_past_the_subnet_rejected" {
  command = plan

  variables {
    subnet             = "10.10.30.0/27"
    gateway            = "10.10.30.1"
    worker_host_offset = 29
  }

  expect_failures = [var.worker_host_offset]
}

run "overlapping_vmid_ranges_rejected" {
  command = plan

  variables {
    worker_vmid_start = 312
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
    subnet             = "10.10.30.0/27"
    gateway            = "10.10.30.1"
    worker_host_offset = 28
  }

  assert {
    condition     = output.workers["k8s-worker-3"].ip == "10.10.30.30"
    error_message = "The last usable host of a /27 (.30) is a valid worker address."
  }
}
