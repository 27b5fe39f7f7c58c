# The smallest useful call: one container on DHCP from the default template volume.
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

module "containers" {
  source = "../.."

  environment     = "prod"
  node            = "pve1"
  ssh_public_keys = var.ssh_public_keys

  containers = {
    dns1 = {} # DHCP
  }
}

output "vmids" {
  value = module.containers.vmids
}
