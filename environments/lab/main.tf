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

data "pve_guests" "lab" {
  tags = ["lab"]
}

data "pve_next_vmid" "lab" {
  min = var.vmid_range_start
}
