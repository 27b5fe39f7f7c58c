# The environment's policy (schedule and retention) for a list of guests.
terraform {
  required_version = ">= 1.11"
  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}

provider "pve" {} # endpoint and token from PVE_ENDPOINT and PVE_API_TOKEN

module "backup" {
  source = "../.."

  environment = "prod"
  vmids       = [101, 102]
}

output "schedule" {
  value = module.backup.schedule
}
