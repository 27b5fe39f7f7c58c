# One template on one node, from Ubuntu's 24.04 release image.
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
  nodes              = { pve1 = 9000 }
}

output "template_vmids" {
  value = module.ubuntu.template_vmids
}
