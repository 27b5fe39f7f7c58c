# What the lxc module plans: one pve_lxc and one pve_lifecycle_tag per container, with the
# expected placement, features, volumes, network and tags.

mock_provider "pve" {
  mock_resource "pve_lxc" {
    defaults = {
      vmid         = 250
      current_node = "pve2"
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
  # Set, not left to its default: terraform test (before 1.17, hashicorp/terraform#38974)
  # refuses an unset optional ephemeral variable in an apply run.
  root_password = join("-", ["fake", "root", "password", "for", "tests"])
  environment   = "prod"
  node          = "pve1"
  gateway       = "10.10.10.1"
  dns_servers   = ["1.1.1.1", "9.9.9.9"]
  containers = {
    dns1 = { ip = "10.10.10.53/24", node = "pve2", tags = ["dns", "infra"] }
    proxy = {
      ip           = "10.10.10.80/24"
      cores        = 2
      memory       = 1024
      disk         = 16
      nesting      = true
      mount_points = { mp0 = { path = "/data", size = 10 }, mp1 = { path = "/var/log/nginx", size = 5, storage = "local-zfs", backup = true } }
    }
    tmp = { security_updates = false }
  }
}

run "one_container_and_lifecycle_tag_per_entry" {
  command = plan

  assert {
    condition     = length(pve_lxc.this) == 3 && length(pve_lifecycle_tag.this) == 3
    error_message = "Each of the 3 containers gets a pve_lxc and a pve_lifecycle_tag."
  }

  assert {
    condition     = alltrue([for name, ct in pve_lxc.this : ct.hostname == name])
    error_message = "Each container's hostname is its map key."
  }
}

run "placement" {
  command = plan

  assert {
    condition     = pve_lxc.this["dns1"].node == "pve2" && pve_lxc.this["proxy"].node == "pve1" && pve_lxc.this["tmp"].node == "pve1"
    error_message = "A container's own node wins; the others use the module-wide node."
  }
}

run "unprivileged_by_default" {
  command = plan

  assert {
    condition     = alltrue([for ct in pve_lxc.this : ct.unprivileged])
    error_message = "Containers are unprivileged unless asked otherwise."
  }
}

run "privileged_on_request" {
  command = plan

  variables {
    containers = {
      a = { ip = "10.10.10.60/24", unprivileged = false }
      b = { ip = "10.10.10.61/24" }
    }
  }

  assert {
    condition     = !pve_lxc.this["a"].unprivileged && pve_lxc.this["b"].unprivileged
    error_message = "unprivileged = false on a container makes only that one privileged."
  }
}

run "features" {
  command = plan

  assert {
    condition     = pve_lxc.this["proxy"].nesting && !pve_lxc.this["dns1"].nesting
    error_message = "nesting is off by default and on where requested."
  }

  assert {
    condition     = !pve_lxc.this["dns1"].keyctl && !pve_lxc.this["dns1"].fuse
    error_message = "keyctl and fuse are off by default."
  }
}

run "module_nesting_default" {
  command = plan

  variables {
    nesting = true
  }

  assert {
    condition     = alltrue([for ct in pve_lxc.this : ct.nesting])
    error_message = "The module-wide nesting applies to every container without its own."
  }
}

run "resources" {
  command = plan

  assert {
    condition     = pve_lxc.this["proxy"].cores == 2 && pve_lxc.this["proxy"].memory == 1024 && pve_lxc.this["proxy"].swap == 512
    error_message = "cores, memory and swap come from the entry (swap defaults to 512 MiB)."
  }

  assert {
    condition     = pve_lxc.this["dns1"].memory == 512
    error_message = "memory defaults to 512 MiB."
  }
}

run "root_filesystem" {
  command = plan

  assert {
    condition     = pve_lxc.this["proxy"].rootfs.size == 16 && pve_lxc.this["proxy"].rootfs.storage == "local-lvm"
    error_message = "The root filesystem has the entry's size on the default storage."
  }

  assert {
    condition     = pve_lxc.this["dns1"].rootfs.size == 8
    error_message = "The root filesystem defaults to 8 GiB."
  }
}

run "mount_points" {
  command = plan

  assert {
    condition     = length(pve_lxc.this["proxy"].mount_point) == 2 && length(pve_lxc.this["dns1"].mount_point) == 0
    error_message = "Mount points are created only where listed."
  }

  assert {
    condition     = [for m in pve_lxc.this["proxy"].mount_point : m.slot] == ["mp0", "mp1"]
    error_message = "Mount points take the ids they are keyed by."
  }

  assert {
    condition     = pve_lxc.this["proxy"].mount_point[0].path == "/data" && pve_lxc.this["proxy"].mount_point[0].size == 10 && pve_lxc.this["proxy"].mount_point[0].storage == "local-lvm"
    error_message = "A mount point gets its path, size and the container's storage."
  }

  assert {
    condition     = pve_lxc.this["proxy"].mount_point[1].storage == "local-zfs" && pve_lxc.this["proxy"].mount_point[1].backup
    error_message = "A mount point's own storage and backup flag win."
  }

  assert {
    condition     = pve_lxc.this["proxy"].mount_point[0].backup == false
    error_message = "Mount points are left out of backups by default (PVE's default)."
  }
}

run "mount_points_in_id_number_order" {
  command = plan

  variables {
    containers = {
      a = {
        ip           = "10.10.10.60/24"
        mount_points = { mp10 = { path = "/c", size = 3 }, mp2 = { path = "/b", size = 2 }, mp0 = { path = "/a", size = 1 } }
      }
    }
  }

  assert {
    condition     = [for m in pve_lxc.this["a"].mount_point : "${m.slot}=${m.path}:${m.size}"] == ["mp0=/a:1", "mp2=/b:2", "mp10=/c:3"]
    error_message = "Mount points are planned in id-number order (mp2 before mp10), each with its own path and size."
  }
}

run "storage_override" {
  command = plan

  variables {
    storage    = "local-zfs"
    containers = { a = { ip = "10.10.10.60/24", storage = "ceph", mount_points = { mp0 = { path = "/data", size = 1 } } } }
  }

  assert {
    condition     = pve_lxc.this["a"].rootfs.storage == "ceph" && pve_lxc.this["a"].mount_point[0].storage == "ceph"
    error_message = "A container's storage applies to its rootfs and mount points."
  }
}

run "network" {
  command = plan

  assert {
    condition     = length(pve_lxc.this["dns1"].network) == 1 && pve_lxc.this["dns1"].network[0].name == "eth0"
    error_message = "Each container has one interface, eth0."
  }

  assert {
    condition     = pve_lxc.this["dns1"].network[0].ipv4 == "10.10.10.53/24" && pve_lxc.this["dns1"].network[0].gateway == "10.10.10.1"
    error_message = "A static ip is set with the module-wide gateway."
  }

  assert {
    condition     = pve_lxc.this["tmp"].network[0].ipv4 == "dhcp" && pve_lxc.this["tmp"].network[0].gateway == null
    error_message = "A DHCP container gets no gateway."
  }

  assert {
    condition     = pve_lxc.this["dns1"].network[0].bridge == "vmbr0" && pve_lxc.this["dns1"].network[0].vlan == null && !pve_lxc.this["dns1"].network[0].firewall
    error_message = "The interface defaults to vmbr0, untagged, without firewall."
  }
}

run "network_overrides" {
  command = plan

  variables {
    bridge     = "vmbr1"
    vlan       = 20
    containers = { a = { ip = "10.10.10.60/24", vlan = 21, firewall = true } }
  }

  assert {
    condition     = pve_lxc.this["a"].network[0].bridge == "vmbr1" && pve_lxc.this["a"].network[0].vlan == 21 && pve_lxc.this["a"].network[0].firewall
    error_message = "Module-wide bridge, the container's VLAN and firewall apply."
  }
}

run "dns_settings" {
  command = plan

  variables {
    search_domain = "home.lan"
  }

  assert {
    condition     = pve_lxc.this["dns1"].dns_servers == tolist(["1.1.1.1", "9.9.9.9"]) && pve_lxc.this["dns1"].dns_search_domain == "home.lan"
    error_message = "DNS servers and search domain reach every container."
  }
}

run "security_updates" {
  command = plan

  assert {
    condition     = pve_lxc.this["dns1"].security_updates && pve_lxc.this["proxy"].security_updates
    error_message = "Security updates are on by default."
  }

  assert {
    condition     = !pve_lxc.this["tmp"].security_updates
    error_message = "A container's security_updates = false opts it out."
  }
}

run "tags" {
  command = plan

  assert {
    condition     = pve_lxc.this["dns1"].tags == toset(["dns", "infra"]) && pve_lxc.this["proxy"].tags == null
    error_message = "Tags pass as a set; no tags plans null."
  }
}

run "lifecycle_in_prod" {
  command = plan

  assert {
    condition     = alltrue([for t in pve_lifecycle_tag.this : t.environment == "prod" && t.expiration_days == null && !t.no_expire])
    error_message = "Prod containers get environment prod and no expiry."
  }
}

run "lifecycle_in_lab" {
  command = plan

  variables {
    environment     = "lab"
    expiration_days = 14
    containers = {
      a = { ip = "10.10.10.60/24" }
      b = { ip = "10.10.10.61/24", expiration_days = 2 }
      c = { ip = "10.10.10.62/24", no_expire = true }
    }
  }

  assert {
    condition     = pve_lifecycle_tag.this["a"].expiration_days == 14 && pve_lifecycle_tag.this["b"].expiration_days == 2
    error_message = "Lab containers expire after the module-wide or their own expiration_days."
  }

  assert {
    condition     = pve_lifecycle_tag.this["c"].expiration_days == null && pve_lifecycle_tag.this["c"].no_expire
    error_message = "no_expire = true exempts a lab container."
  }
}

run "protection_and_boot" {
  command = plan

  variables {
    on_boot    = true
    protection = true
    containers = {
      a = { ip = "10.10.10.60/24" }
      b = { ip = "10.10.10.61/24", on_boot = false, started = false, startup = "order=1" }
    }
  }

  assert {
    condition     = pve_lxc.this["a"].on_boot && pve_lxc.this["a"].protection && pve_lxc.this["a"].started
    error_message = "Module-wide on_boot and protection apply; containers start by default."
  }

  assert {
    condition     = !pve_lxc.this["b"].on_boot && !pve_lxc.this["b"].started && pve_lxc.this["b"].startup == "order=1"
    error_message = "A container's own on_boot, started and startup win."
  }
}

run "outputs_after_apply" {
  override_resource {
    target = pve_lxc.this["dns1"]
    values = {
      vmid         = 153
      current_node = "pve2"
    }
  }

  assert {
    condition     = output.containers["dns1"].vmid == 153 && output.containers["dns1"].node == "pve2" && output.containers["dns1"].ip == "10.10.10.53"
    error_message = "The containers output carries vmid, node and the address without prefix."
  }

  assert {
    condition     = output.ips == { dns1 = "10.10.10.53", proxy = "10.10.10.80" }
    error_message = "ips lists only static addresses."
  }

  assert {
    condition     = length(output.vmids) == 3 && contains(output.vmids, 153)
    error_message = "vmids lists every container's VMID."
  }
}
