# What the template module plans: per node a download and a template VM built from it, and the
# container templates on every node.

mock_provider "pve" {
  mock_resource "pve_download_file" {
    defaults = {
      volume_id = "local:import/noble-server-cloudimg-amd64.qcow2"
      id        = "pve1/local:import/noble-server-cloudimg-amd64.qcow2"
      size      = 614400000
    }
  }

  mock_resource "pve_vm" {
    defaults = {
      current_node = "pve1"
    }
  }
}

variables {
  url                = "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"
  file_name          = "noble-server-cloudimg-amd64.qcow2"
  checksum           = join("", [for i in range(64) : "a"]) # a sha256-shaped value, not a real digest
  checksum_algorithm = "sha256"
  nodes              = { pve1 = 9000, pve2 = 9001, pve3 = 9002 }
  lxc_templates = {
    debian = { url = "http://download.proxmox.com/images/system/debian-12-standard_12.7-1_amd64.tar.zst" }
  }
}

run "one_download_and_one_template_per_node" {
  command = plan

  assert {
    condition     = length(pve_download_file.image) == 3 && length(pve_vm.template) == 3
    error_message = "Each of the 3 nodes gets its own download (local storage is per node) and template."
  }

  assert {
    condition     = alltrue([for node, image in pve_download_file.image : image.node == node && image.content == "import" && image.storage == "local"])
    error_message = "Each image is downloaded with content import to the node's local storage."
  }

  assert {
    condition     = alltrue([for node, vm in pve_vm.template : vm.node == node && vm.vmid == var.nodes[node]])
    error_message = "Each template is on its node with the VMID the nodes map gives it."
  }

  assert {
    condition     = pve_download_file.image["pve2"].checksum_algorithm == "sha256" && pve_download_file.image["pve2"].file_name == var.file_name
    error_message = "The checksum, its algorithm and the file name reach the download."
  }
}

run "templates_are_cloud_init_templates" {
  command = plan

  assert {
    condition     = alltrue([for vm in pve_vm.template : vm.template && !vm.started && vm.serial_console && vm.agent])
    error_message = "Each template is a stopped template with a serial console and the guest agent."
  }

  assert {
    condition     = alltrue([for vm in pve_vm.template : vm.cloud_init_storage == "local-lvm" && vm.disk[0].storage == "local-lvm" && vm.disk[0].size == 8])
    error_message = "The cloud-init drive and the 8 GiB boot disk are on var.storage."
  }

  assert {
    condition     = alltrue([for vm in pve_vm.template : vm.disk[0].import_from == null])
    error_message = "import_from is write-only: never in the plan."
  }

  assert {
    condition     = alltrue([for vm in pve_vm.template : toset(vm.tags) == toset(["cloudinit", "template"])])
    error_message = "Templates carry the default tags."
  }
}

run "container_templates_on_every_node" {
  command = plan

  assert {
    condition     = toset(keys(pve_download_file.lxc)) == toset(["pve1/debian", "pve2/debian", "pve3/debian"])
    error_message = "Each container template is downloaded to every node."
  }

  assert {
    condition     = alltrue([for d in pve_download_file.lxc : d.content == "vztmpl" && d.checksum == null && d.checksum_algorithm == null])
    error_message = "Container templates are vztmpl content; without a checksum no algorithm is sent."
  }
}

run "outputs_by_node" {
  command = apply

  assert {
    condition     = output.template_vmids == { pve1 = 9000, pve2 = 9001, pve3 = 9002 }
    error_message = "template_vmids maps each node to its template's VMID."
  }

  assert {
    condition     = length(output.lxc_template_volume_ids["debian"]) == 3
    error_message = "lxc_template_volume_ids has the debian template's volume on each node."
  }
}
