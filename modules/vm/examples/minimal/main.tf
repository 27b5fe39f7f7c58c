# The smallest useful call: one VM on DHCP, cloned from the template found by name.
terraform {
  required_version = ">= 1.11"
  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}

provider "pve" {} # endpoint and token from PVE_ENDPOINT and PVE_API_TOKEN

variable "ssh_public_keys" {
  description = "Your public key lines, e.g. [file(\"~/.ssh/id_ed25519.pub\")] (the trailing newline is trimmed)."
  type        = list(string)
}

module "vms" {
  source = "../.."

  environment     = "prod"
  ssh_public_keys = var.ssh_public_keys

  vms = {
    web1 = {} # DHCP, 2 cores, 2048 MiB, 20 GiB
  }
}

output "vmids" {
  value = module.vms.vmids
}
