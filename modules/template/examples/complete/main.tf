# A template on each of three nodes (their disks are local), a container template beside each,
# and a VM cloned on every node from that node's template.
terraform {
  required_version = ">= 1.11"
  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}

provider "pve" {} # endpoint and token from PVE_ENDPOINT and PVE_API_TOKEN

module "ubuntu" {
  source = "../.."

  url                = "https://cloud-images.ubuntu.com/releases/noble/release-20250115/ubuntu-24.04-server-cloudimg-amd64.img"
  file_name          = "ubuntu-24.04-server-cloudimg-amd64.qcow2"                         # PVE's import content takes .qcow2, not .img
  checksum           = "0000000000000000000000000000000000000000000000000000000000000000" # from the release's SHA256SUMS
  checksum_algorithm = "sha256"
  nodes              = { pve1 = 9000, pve2 = 9001, pve3 = 9002 }

  lxc_templates = {
    debian = { url = "http://download.proxmox.com/images/system/debian-12-standard_12.7-1_amd64.tar.zst" }
  }
}

resource "pve_vm" "app" {
  for_each   = module.ubuntu.template_vmids
  node       = each.key
  name       = "app-${each.key}"
  clone_vmid = each.value
  protection = false
  disk {
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 16
  }
  network {}
}

output "lxc_templates" {
  value = module.ubuntu.lxc_template_volume_ids
}
