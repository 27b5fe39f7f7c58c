# What the vm module plans: one pve_vm and one pve_lifecycle_tag per VM, with the expected
# placement, hardware, cloud-init and tags.

mock_provider "pve" {
  mock_data "pve_template" {
    defaults = {
      vmid = 9000
      node = "pve1"
    }
  }

  mock_resource "pve_vm" {
    defaults = {
      vmid         = 150
      current_node = "pve1"
    }
  }

  mock_resource "pve_lifecycle_tag" {
    defaults = {
      expires    = "2030-01-15"
      created_on = "2030-01-01"
    }
  }
}

variables {
  environment = "prod"
  # Set, not left to its default: terraform test (before 1.17, hashicorp/terraform#38974)
  # refuses an unset optional ephemeral variable in an apply run.
  user_data   = {}
  gateway     = "10.10.10.1"
  dns_servers = ["10.10.10.53", "10.10.10.54"]
  vms = {
    docker1 = { ip = "10.10.10.20/24", cores = 4, memory = 8192, disk = 100, docker = true, tags = ["docker", "services"] }
    web1    = { ip = "10.10.10.21/24", node = "pve2", data_disks = { scsi1 = 50, scsi2 = 200 } }
    scratch = { ip = "dhcp", security_updates = false, node_exporter = true }
  }
}

run "one_vm_and_one_lifecycle_tag_per_entry" {
  command = plan

  assert {
    condition     = length(pve_vm.this) == 3 && length(pve_lifecycle_tag.this) == 3
    error_message = "Each of the 3 VMs gets a pve_vm and a pve_lifecycle_tag."
  }

  assert {
    condition     = toset(keys(pve_vm.this)) == toset(["docker1", "web1", "scratch"])
    error_message = "pve_vm instances are keyed by VM name."
  }

  assert {
    condition     = alltrue([for name, vm in pve_vm.this : vm.name == name])
    error_message = "Each VM's PVE name is its map key."
  }
}

run "template_looked_up_by_name" {
  command = plan

  assert {
    condition     = length(data.pve_template.this) == 1 && data.pve_template.this[0].name == "ubuntu-2404-cloudinit"
    error_message = "Without template_vmid the template is looked up once, by its default name."
  }

  assert {
    condition     = output.template_vmid == 9000
    error_message = "The clone source is the looked-up template's VMID."
  }
}

run "custom_template_name_looked_up" {
  command = plan

  variables {
    template_name = "debian-13-cloudinit"
  }

  assert {
    condition     = data.pve_template.this[0].name == "debian-13-cloudinit"
    error_message = "template_name is the name looked up."
  }
}

run "template_vmid_skips_lookup" {
  command = plan

  variables {
    node          = "pve3"
    template_vmid = 9100
  }

  assert {
    condition     = length(data.pve_template.this) == 0
    error_message = "An explicit template_vmid means no pve_template lookup."
  }

  assert {
    condition     = output.template_vmid == 9100
    error_message = "The explicit template_vmid is the clone source."
  }

  assert {
    condition     = pve_vm.this["docker1"].node == "pve3" && pve_vm.this["web1"].node == "pve2"
    error_message = "VMs without a node use the module-wide node; a VM's own node still wins."
  }
}

run "node_defaults_to_template_node" {
  command = plan

  override_data {
    target = data.pve_template.this[0]
    values = {
      vmid = 9000
      node = "pve3"
    }
  }

  assert {
    condition     = pve_vm.this["docker1"].node == "pve3" && pve_vm.this["scratch"].node == "pve3"
    error_message = "Without any node input a VM is created on the template's node."
  }

  assert {
    condition     = pve_vm.this["web1"].node == "pve2"
    error_message = "A VM's own node overrides the template's node."
  }
}

run "module_node_overrides_template_node" {
  command = plan

  variables {
    node = "pve2"
  }

  assert {
    condition     = alltrue([for vm in pve_vm.this : vm.node == "pve2"])
    error_message = "The module-wide node applies to every VM without its own."
  }
}

run "static_address_and_gateway" {
  command = plan

  assert {
    condition     = pve_vm.this["docker1"].ip_config[0].ipv4 == "10.10.10.20/24" && pve_vm.this["docker1"].ip_config[0].gateway == "10.10.10.1"
    error_message = "A static ip goes to ip_config with the module-wide gateway."
  }

  assert {
    condition     = length(pve_vm.this["docker1"].ip_config) == 1 && length(pve_vm.this["docker1"].network) == 1
    error_message = "Each VM has exactly one NIC and one ip_config."
  }
}

run "dhcp_has_no_gateway" {
  command = plan

  assert {
    condition     = pve_vm.this["scratch"].ip_config[0].ipv4 == "dhcp" && pve_vm.this["scratch"].ip_config[0].gateway == null
    error_message = "A DHCP VM gets ipv4 = dhcp and no gateway, even with a module-wide gateway."
  }
}

run "vm_gateway_overrides_module_gateway" {
  command = plan

  variables {
    vms = { edge = { ip = "192.168.1.10/24", gateway = "192.168.1.254" } }
  }

  assert {
    condition     = pve_vm.this["edge"].ip_config[0].gateway == "192.168.1.254"
    error_message = "A VM's own gateway wins over the module-wide one."
  }
}

run "hardware_from_inputs" {
  command = plan

  assert {
    condition     = pve_vm.this["docker1"].cores == 4 && pve_vm.this["docker1"].memory == 8192 && pve_vm.this["docker1"].sockets == 1
    error_message = "cores, memory and sockets come from the VM's entry."
  }

  assert {
    condition     = pve_vm.this["web1"].cores == 2 && pve_vm.this["web1"].memory == 2048
    error_message = "Unset cores and memory default to 2 and 2048 MiB."
  }

  assert {
    condition     = pve_vm.this["docker1"].scsihw == "virtio-scsi-single"
    error_message = "scsihw defaults to virtio-scsi-single (one controller per disk, so iothread works)."
  }
}

run "cpu_type_module_and_vm" {
  command = plan

  variables {
    cpu_type = "host"
    vms = {
      a = { ip = "10.10.10.30/24" }
      b = { ip = "10.10.10.31/24", cpu_type = "x86-64-v3" }
    }
  }

  assert {
    condition     = pve_vm.this["a"].cpu_type == "host" && pve_vm.this["b"].cpu_type == "x86-64-v3"
    error_message = "The module-wide cpu_type applies unless the VM sets its own."
  }
}

run "boot_disk" {
  command = plan

  assert {
    condition     = pve_vm.this["docker1"].disk[0].slot == "scsi0" && pve_vm.this["docker1"].disk[0].size == 100
    error_message = "The boot disk is scsi0 with the VM's disk size."
  }

  assert {
    condition     = pve_vm.this["docker1"].disk[0].storage == "local-lvm" && pve_vm.this["docker1"].disk[0].iothread && pve_vm.this["docker1"].disk[0].discard
    error_message = "Disks default to local-lvm with iothread and discard on."
  }

  assert {
    condition     = pve_vm.this["scratch"].disk[0].size == 20 && length(pve_vm.this["scratch"].disk) == 1
    error_message = "The default boot disk is 20 GiB and there are no data disks by default."
  }
}

run "data_disks_follow_boot_disk" {
  command = plan

  assert {
    condition     = length(pve_vm.this["web1"].disk) == 3
    error_message = "Two data disks plus the boot disk make three disks."
  }

  assert {
    condition     = [for d in pve_vm.this["web1"].disk : d.slot] == ["scsi0", "scsi1", "scsi2"]
    error_message = "Data disks take the slots they are keyed by, after the boot disk scsi0."
  }

  assert {
    condition     = pve_vm.this["web1"].disk[1].size == 50 && pve_vm.this["web1"].disk[2].size == 200
    error_message = "Each data disk gets the size of its slot."
  }
}

run "data_disks_in_slot_number_order" {
  command = plan

  variables {
    vms = { a = { ip = "10.10.10.30/24", data_disks = { scsi10 = 3, scsi2 = 2, scsi1 = 1 } } }
  }

  assert {
    condition     = [for d in pve_vm.this["a"].disk : "${d.slot}=${d.size}"] == ["scsi0=20", "scsi1=1", "scsi2=2", "scsi10=3"]
    error_message = "Data disks are planned in slot-number order (scsi2 before scsi10), each with its own size."
  }

  assert {
    condition     = output.vms["a"].data_disks == { scsi1 = 1, scsi2 = 2, scsi10 = 3 }
    error_message = "The vms output lists data disks by slot."
  }
}

run "storage_override_per_vm" {
  command = plan

  variables {
    storage = "local-zfs"
    vms = {
      a = { ip = "10.10.10.30/24", data_disks = { scsi1 = 10 } }
      b = { ip = "10.10.10.31/24", storage = "ceph" }
    }
  }

  assert {
    condition     = alltrue([for d in pve_vm.this["a"].disk : d.storage == "local-zfs"])
    error_message = "Every disk of a VM uses the module-wide storage by default."
  }

  assert {
    condition     = pve_vm.this["b"].disk[0].storage == "ceph"
    error_message = "A VM's own storage wins."
  }
}

run "network_bridge_and_vlan" {
  command = plan

  variables {
    bridge = "vmbr1"
    vlan   = 30
    vms = {
      a = { ip = "10.10.10.30/24" }
      b = { ip = "10.10.10.31/24", bridge = "vmbr0", vlan = 40 }
    }
  }

  assert {
    condition     = pve_vm.this["a"].network[0].bridge == "vmbr1" && pve_vm.this["a"].network[0].vlan == 30
    error_message = "The module-wide bridge and VLAN apply by default."
  }

  assert {
    condition     = pve_vm.this["b"].network[0].bridge == "vmbr0" && pve_vm.this["b"].network[0].vlan == 40
    error_message = "A VM's own bridge and VLAN win."
  }
}

run "untagged_by_default" {
  command = plan

  assert {
    condition     = pve_vm.this["docker1"].network[0].bridge == "vmbr0" && pve_vm.this["docker1"].network[0].vlan == null
    error_message = "The NIC defaults to vmbr0 without a VLAN tag."
  }
}

run "provisioning_flags" {
  command = plan

  assert {
    condition     = pve_vm.this["docker1"].install_docker && !pve_vm.this["docker1"].install_node_exporter
    error_message = "docker = true installs Docker; node_exporter defaults to off."
  }

  assert {
    condition     = pve_vm.this["scratch"].install_node_exporter && !pve_vm.this["scratch"].install_docker
    error_message = "node_exporter = true installs the exporter; docker defaults to off."
  }
}

run "security_updates_on_by_default" {
  command = plan

  assert {
    condition     = pve_vm.this["docker1"].security_updates && pve_vm.this["web1"].security_updates
    error_message = "Security updates are on unless a VM opts out."
  }

  assert {
    condition     = pve_vm.this["scratch"].security_updates == false
    error_message = "A VM's security_updates = false opts it out."
  }
}

run "security_updates_module_off" {
  command = plan

  variables {
    security_updates = false
  }

  assert {
    condition     = !pve_vm.this["docker1"].security_updates && !pve_vm.this["web1"].security_updates
    error_message = "security_updates = false turns them off module-wide."
  }
}

run "cloud_init_settings" {
  command = plan

  variables {
    ci_user         = "ops"
    ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 ops@example"]
    search_domain   = "home.lan"
  }

  assert {
    condition     = alltrue([for vm in pve_vm.this : vm.ci_user == "ops" && vm.ci_search_domain == "home.lan"])
    error_message = "ci_user and search_domain reach every VM."
  }

  assert {
    condition     = pve_vm.this["web1"].ci_ssh_keys[0] == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 ops@example"
    error_message = "SSH keys reach cloud-init."
  }

  assert {
    condition     = pve_vm.this["web1"].ci_dns_servers == tolist(["10.10.10.53", "10.10.10.54"])
    error_message = "DNS servers reach cloud-init in order."
  }
}

run "cloud_init_defaults" {
  command = plan

  variables {
    dns_servers = []
  }

  assert {
    condition     = pve_vm.this["web1"].ci_user == "ubuntu"
    error_message = "ci_user defaults to ubuntu."
  }

  assert {
    condition     = pve_vm.this["web1"].ci_ssh_keys == null && pve_vm.this["web1"].ci_dns_servers == null && pve_vm.this["web1"].ci_search_domain == null
    error_message = "Empty key and DNS lists are left unset (null), not sent as empty lists."
  }
}

run "tags_passed_lowercased" {
  command = plan

  assert {
    condition     = pve_vm.this["docker1"].tags == toset(["docker", "services"])
    error_message = "A VM's tags are passed as a set."
  }

  assert {
    condition     = pve_vm.this["web1"].tags == null
    error_message = "A VM without tags has tags unset (null)."
  }
}

run "lifecycle_tags_in_prod" {
  command = plan

  assert {
    condition     = alltrue([for t in pve_lifecycle_tag.this : t.environment == "prod" && t.expiration_days == null && t.no_expire == false])
    error_message = "Every prod VM gets environment prod and no expiry."
  }
}

run "lifecycle_tags_in_lab" {
  command = plan

  variables {
    environment     = "lab"
    expiration_days = 14
    vms = {
      a = { ip = "10.10.10.30/24" }
      b = { ip = "10.10.10.31/24", expiration_days = 3 }
      c = { ip = "10.10.10.32/24", no_expire = true }
    }
  }

  assert {
    condition     = pve_lifecycle_tag.this["a"].environment == "lab" && pve_lifecycle_tag.this["a"].expiration_days == 14
    error_message = "A lab VM expires after the module-wide expiration_days."
  }

  assert {
    condition     = pve_lifecycle_tag.this["b"].expiration_days == 3
    error_message = "A VM's own expiration_days wins."
  }

  assert {
    condition     = pve_lifecycle_tag.this["c"].expiration_days == null && pve_lifecycle_tag.this["c"].no_expire
    error_message = "no_expire = true sets the no-expire tag and no expiry."
  }
}

run "lifecycle_tag_targets_its_vm" {
  command = plan

  variables {
    vms = {
      a = { ip = "10.10.10.30/24", vmid = 301 }
      b = { ip = "10.10.10.31/24", vmid = 302 }
    }
  }

  assert {
    condition     = pve_lifecycle_tag.this["a"].vmid == 301 && pve_lifecycle_tag.this["b"].vmid == 302
    error_message = "Each lifecycle tag is attached to its own VM's VMID."
  }

  assert {
    condition     = pve_vm.this["a"].vmid == 301
    error_message = "An explicit vmid is passed to the VM."
  }
}

run "power_and_protection_defaults" {
  command = plan

  assert {
    condition     = alltrue([for vm in pve_vm.this : vm.started && !vm.on_boot && !vm.protection])
    error_message = "VMs are started, not started on boot and unprotected by default."
  }
}

run "power_and_protection_overrides" {
  command = plan

  variables {
    on_boot    = true
    protection = true
    pool       = "prod"
    vms = {
      a = { ip = "10.10.10.30/24" }
      b = { ip = "10.10.10.31/24", on_boot = false, protection = false, started = false, pool = "scratch", startup = "order=2,up=30" }
    }
  }

  assert {
    condition     = pve_vm.this["a"].on_boot && pve_vm.this["a"].protection && pve_vm.this["a"].pool == "prod"
    error_message = "Module-wide on_boot, protection and pool apply by default."
  }

  assert {
    condition     = !pve_vm.this["b"].on_boot && !pve_vm.this["b"].protection && !pve_vm.this["b"].started && pve_vm.this["b"].pool == "scratch"
    error_message = "A VM's own on_boot, protection, started and pool win."
  }

  assert {
    condition     = pve_vm.this["b"].startup == "order=2,up=30"
    error_message = "startup is passed through."
  }
}

run "outputs_after_apply" {
  override_resource {
    target = pve_vm.this["docker1"]
    values = {
      vmid         = 120
      current_node = "pve1"
    }
  }

  assert {
    condition     = output.vms["docker1"].vmid == 120 && output.vms["docker1"].node == "pve1"
    error_message = "The vms output carries each VM's vmid and node."
  }

  assert {
    condition     = output.vms["docker1"].ip == "10.10.10.20" && output.vms["docker1"].cidr == "10.10.10.20/24" && output.vms["docker1"].gateway == "10.10.10.1"
    error_message = "ip is the address without prefix, cidr keeps it, gateway is the effective one."
  }

  assert {
    condition     = output.vms["scratch"].ip == null && output.vms["scratch"].cidr == "dhcp"
    error_message = "A DHCP VM has no ip in the output."
  }

  assert {
    condition     = output.ips == { docker1 = "10.10.10.20", web1 = "10.10.10.21" }
    error_message = "ips lists only the static addresses."
  }

  assert {
    condition     = output.vms["docker1"].environment == "prod" && output.vms["docker1"].expires == "2030-01-15"
    error_message = "The output carries the environment and the lifecycle tag's expires."
  }

  assert {
    condition     = length(output.vmids) == 3 && contains(output.vmids, 120)
    error_message = "vmids lists every VM's VMID."
  }
}

run "ha_keeps_the_named_vms_apart" {
  command = plan

  variables {
    ha = { vms = ["docker1", "web1"], keep_apart = true, max_restart = 2 }
  }

  assert {
    condition     = toset(keys(pve_ha_resource.this)) == toset(["docker1", "web1"]) && pve_ha_resource.this["web1"].max_restart == 2
    error_message = "The VMs named in ha.vms, and only those, are HA resources."
  }

  assert {
    condition     = length(pve_ha_rule.apart) == 1 && pve_ha_rule.apart[0].type == "resource-affinity" && pve_ha_rule.apart[0].affinity == "negative"
    error_message = "keep_apart adds one negative resource-affinity rule."
  }

  assert {
    condition     = pve_ha_rule.apart[0].rule == "prod-docker1-web1-apart"
    error_message = "The rule's ID defaults to ENVIRONMENT-NAMES-apart."
  }
}

run "no_ha_by_default" {
  command = plan

  assert {
    condition     = length(pve_ha_resource.this) == 0 && length(pve_ha_rule.apart) == 0
    error_message = "Without ha, no HA resource or rule."
  }
}

run "keep_apart_needs_two_vms" {
  command = plan

  variables {
    ha = { vms = ["web1"], keep_apart = true }
  }

  expect_failures = [var.ha]
}

run "ha_names_only_vms_of_the_module" {
  command = plan

  variables {
    ha = { vms = ["nosuch"] }
  }

  expect_failures = [var.ha]
}

run "keys_read_with_file_are_trimmed" {
  command = plan

  variables {
    # What file("~/.ssh/id_ed25519.pub") returns: the line and its newline.
    ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 ops@example\n"]
  }

  assert {
    condition     = pve_vm.this["web1"].ci_ssh_keys[0] == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 ops@example"
    error_message = "A key with its trailing newline is accepted and reaches cloud-init trimmed."
  }
}

# A VM that brings its own user-data (what minio and monitoring-stack do): the write-only
# passthrough, with PVE's user, keys and generated extras left unset, since the snippet replaces them.
run "own_user_data_replaces_pves_user_section" {
  command = plan

  variables {
    ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 ops@example"]
    vms = {
      s3  = { ip = "10.10.10.20/24", name = "minio", agent = true, user_data_version = "1:abc" }
      web = { ip = "10.10.10.21/24" }
    }
    user_data = { s3 = "#cloud-config\n" }
  }

  assert {
    condition     = pve_vm.this["s3"].name == "minio" && pve_vm.this["s3"].user_data_wo_version == "1:abc" && pve_vm.this["s3"].agent == true
    error_message = "name, user_data_version and agent must reach the VM."
  }
  assert {
    condition     = pve_vm.this["s3"].ci_user == null && pve_vm.this["s3"].ci_ssh_keys == null && pve_vm.this["s3"].security_updates == false
    error_message = "A VM with its own user-data gets no ci_user, no keys and no generated security updates."
  }
  assert {
    condition     = pve_vm.this["web"].ci_user == "ubuntu" && length(pve_vm.this["web"].ci_ssh_keys) == 1 && pve_vm.this["web"].security_updates && pve_vm.this["web"].user_data_wo_version == null
    error_message = "The other VMs keep PVE's cloud-init user, the keys and the module-wide security updates."
  }
}
