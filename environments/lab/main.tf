# The lab environment. Connection settings come from the environment (PVE_ENDPOINT,
# PVE_API_TOKEN, PVE_CA_FILE), so the same configuration runs against the emulator
# (scripts/lab.sh) and a real cluster.

terraform {
  required_version = ">= 1.11"
  required_providers {
    pve = {
      source  = "pve-home/pve"
      version = "~> 0.1"
    }
  }
}

provider "pve" {}

data "pve_version" "cluster" {}

data "pve_nodes" "all" {}

data "pve_storages" "vm_disks" {
  content = "images"
}

data "pve_template" "ubuntu" {
  name = var.template_name
}

data "pve_next_vmid" "lab" {
  min = var.vmid_range_start
}

# A sandbox VM for experiments: cloned from the template, tagged lab, expiring after
# `expiration_days` (pve-ops expire-lab stops expired lab guests).
resource "pve_vm" "sandbox" {
  node       = data.pve_template.ubuntu.node
  name       = "lab-sandbox"
  clone_vmid = data.pve_template.ubuntu.vmid
  cores      = 2
  memory     = 2048
  tags       = ["lab"]
  ci_user    = "ubuntu"

  disk {
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 10
  }

  network {}

  ip_config {
    ipv4 = "dhcp"
  }
}

resource "pve_lifecycle_tag" "sandbox" {
  vmid            = pve_vm.sandbox.vmid
  environment     = "lab"
  expiration_days = var.expiration_days
}
