# Static addresses, nesting for Docker inside, a mount point and a write-only root password.
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

variable "root_password" {
  description = "Root password of the containers (write-only: never in state). From TF_VAR_root_password."
  type        = string
  sensitive   = true
}

module "containers" {
  source = "../.."

  environment     = "prod"
  node            = "pve2"
  gateway         = "10.10.10.1"
  dns_servers     = ["1.1.1.1", "9.9.9.9"]
  ssh_public_keys = var.ssh_public_keys
  root_password   = var.root_password

  containers = {
    dns1 = { ip = "10.10.10.53/24", tags = ["dns"] }
    app1 = {
      ip           = "10.10.10.60/24"
      node         = "pve3"
      memory       = 2048
      nesting      = true # Docker inside
      keyctl       = true
      mount_points = { mp0 = { path = "/data", size = 50, backup = true } }
    }
  }
}

output "containers" {
  value = module.containers.containers
}
