# Every guest but the template, weekly, with a retention of its own.
terraform {
  required_version = ">= 1.11"
  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}

provider "pve" {} # endpoint and token from PVE_ENDPOINT and PVE_API_TOKEN

module "backup_everything_weekly" {
  source = "../.."

  environment = "lab"
  id          = "all-weekly"
  all         = true
  exclude     = [9000]                                # the template
  retention   = { keep_weekly = 8, keep_monthly = 6 } # replaces the policy's retention
}

output "retention" {
  value = module.backup_everything_weekly.retention
}
