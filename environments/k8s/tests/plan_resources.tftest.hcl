# What the k8s environment plans by default: 3 control planes (2 cores, 4 GiB, 50 GiB) and
# 3 workers (3 cores, 12 GiB, 100 GiB), one of each per node on pve1..pve3.

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

run "six_vms" {
  command = plan

  assert {
    condition     = keys(output.control_planes) == ["k8s-cp-1", "k8s-cp-2", "k8s-cp-3"]
    error_message = "Three control planes named k8s-cp-1..3."
  }

  assert {
    condition     = keys(output.workers) == ["k8s-worker-1", "k8s-worker-2", "k8s-worker-3"]
    error_message = "Three workers named k8s-worker-1..3."
  }

  assert {
    condition     = length(output.vms) == 6
    error_message = "Six VMs in total."
  }
}

run "one_control_plane_per_node" {
  command = plan

  assert {
    condition     = [for name in keys(output.control_planes) : output.control_planes[name].node] == ["pve1", "pve2", "pve3"]
    error_message = "k8s-cp-1..3 run on pve1, pve2 and pve3."
  }

  assert {
    condition     = length(distinct([for cp in values(output.control_planes) : cp.node])) == 3
    error_message = "No two control planes share a node (losing a node keeps the etcd quorum)."
  }
}

run "one_worker_per_node" {
  command = plan

  assert {
    condition     = [for name in keys(output.workers) : output.workers[name].node] == ["pve1", "pve2", "pve3"]
    error_message = "k8s-worker-1..3 run on pve1, pve2 and pve3."
  }

  assert {
    condition     = alltrue([for n in ["pve1", "pve2", "pve3"] : length([for vm in values(output.vms) : vm if vm.node == n]) == 2])
    error_message = "Each node carries exactly one control plane and one worker."
  }
}

run "static_addresses" {
  command = plan

  assert {
    condition     = [for name in keys(output.control_planes) : output.control_planes[name].ip] == ["10.10.10.61", "10.10.10.62", "10.10.10.63"]
    error_message = "Control planes get 10.10.10.61-63."
  }

  assert {
    condition     = [for name in keys(output.workers) : output.workers[name].ip] == ["10.10.10.71", "10.10.10.72", "10.10.10.73"]
    error_message = "Workers get 10.10.10.71-73."
  }

  assert {
    condition     = alltrue([for vm in values(output.vms) : vm.gateway == "10.10.10.1" && endswith(vm.cidr, "/24")])
    error_message = "Every VM has a /24 address with gateway 10.10.10.1."
  }

  assert {
    condition     = output.api_endpoints == ["10.10.10.61", "10.10.10.62", "10.10.10.63"]
    error_message = "api_endpoints lists the control-plane addresses."
  }
}

run "sizes" {
  command = plan

  assert {
    condition     = alltrue([for name in keys(output.control_planes) : output.vms[name].cores == 2 && output.vms[name].memory == 4096 && output.vms[name].disk == 50])
    error_message = "Control planes have 2 cores, 4096 MiB and 50 GiB."
  }

  assert {
    condition     = alltrue([for name in keys(output.workers) : output.vms[name].cores == 3 && output.vms[name].memory == 12288 && output.vms[name].disk == 100])
    error_message = "Workers have 3 cores, 12288 MiB and 100 GiB."
  }
}

run "hardware_for_kubernetes" {
  command = plan

  assert {
    condition     = alltrue([for vm in values(output.vms) : vm.cpu_type == "host"])
    error_message = "Every VM uses cpu_type host."
  }

  assert {
    condition     = alltrue([for vm in values(output.vms) : vm.scsihw == "virtio-scsi-single" && vm.iothread])
    error_message = "Every VM uses virtio-scsi-single with an I/O thread on its disk."
  }

  assert {
    condition     = alltrue([for vm in values(output.vms) : vm.balloon == 0 && vm.node_exporter && vm.on_boot])
    error_message = "Ballooning is off, the node exporter is installed and VMs start with their node."
  }
}

run "vmids" {
  command = plan

  assert {
    condition     = [for name in keys(output.control_planes) : output.control_planes[name].vmid] == [151, 152, 153]
    error_message = "Control planes get VMIDs 151-153."
  }

  assert {
    condition     = [for name in keys(output.workers) : output.workers[name].vmid] == [161, 162, 163]
    error_message = "Workers get VMIDs 161-163."
  }
}

run "tags_and_lifecycle" {
  command = plan

  assert {
    condition     = output.vms["k8s-cp-1"].tags == toset(["k8s", "control-plane"]) && output.vms["k8s-worker-1"].tags == toset(["k8s", "worker"])
    error_message = "VMs are tagged with the cluster name and their role."
  }

  assert {
    condition     = alltrue([for vm in values(output.vms) : vm.environment == "k8s" && vm.expiration_days == null])
    error_message = "Kubernetes VMs are tagged environment-k8s and never expire."
  }
}

run "control_plane_backup" {
  command = plan

  assert {
    condition     = output.backup_job.id == "k8s-control-plane" && output.backup_job.schedule == "*-*-* 01:00"
    error_message = "Control planes are backed up daily at 01:00 by k8s-control-plane (not prod-daily)."
  }

  assert {
    condition     = output.backup_job.retention == { keep_daily = 7, keep_weekly = 4 }
    error_message = "Control-plane backups follow the prod retention."
  }
}

run "per_node_templates" {
  command = plan

  variables {
    template_vmids = { pve1 = 9000, pve2 = 9001, pve3 = 9002 }
  }

  assert {
    condition     = output.vms["k8s-cp-2"].node == "pve2" && output.vms["k8s-worker-3"].node == "pve3"
    error_message = "With per-node templates the spread stays the same."
  }
}

run "apply" {
  assert {
    condition     = length(output.vms) == 6 && output.control_planes["k8s-cp-3"].vmid == 153
    error_message = "The default k8s configuration applies."
  }
}

run "control_planes_are_kept_apart_by_an_ha_rule" {
  command = plan

  assert {
    condition     = toset(keys(module.vms.ha_resources)) == toset(["k8s-cp-1", "k8s-cp-2", "k8s-cp-3"])
    error_message = "The three control planes, and no worker, are HA resources."
  }

  assert {
    condition     = module.vms.ha_rule == "k8s-control-planes-apart"
    error_message = "One negative resource-affinity rule keeps the control planes apart."
  }
}
