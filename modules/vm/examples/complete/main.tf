# Static addresses, sizes, data disks keyed by slot, Docker, the node exporter, placement, a VLAN
# and HA that keeps two VMs on different nodes.
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
  gateway         = "10.10.10.1"
  dns_servers     = ["10.10.10.53", "10.10.10.54"]
  search_domain   = "home.lan"
  ssh_public_keys = var.ssh_public_keys
  storage         = "local-lvm"
  vlan            = 10
  on_boot         = true

  vms = {
    docker1 = { ip = "10.10.10.101/24", cores = 4, memory = 8192, disk = 100, docker = true, tags = ["docker"], startup = "order=2" }
    db1     = { ip = "10.10.10.102/24", node = "pve2", vmid = 121, data_disks = { scsi1 = 100 }, node_exporter = true, balloon = 1024 }
    db2     = { ip = "10.10.10.103/24", node = "pve3", vmid = 122, data_disks = { scsi1 = 100 }, node_exporter = true, balloon = 1024 }
    scratch = {} # DHCP, 2 cores, 2048 MiB, 20 GiB
  }

  ha = { vms = ["db1", "db2"], keep_apart = true }
}

output "vms" {
  value = module.vms.vms
}
