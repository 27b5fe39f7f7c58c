# The two identities with their defaults; the token secrets go to files beside this configuration.
terraform {
  required_version = ">= 1.6"
  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}

provider "pve" {} # endpoint and root's credentials from PVE_ENDPOINT and PVE_USERNAME/PVE_PASSWORD

module "access" {
  source = "../.."

  terraform_token_file = "${path.root}/terraform.token"
  ops_token_file       = "${path.root}/pve-ops.token"
}

output "terraform_token_id" {
  value = module.access.terraform_token_id
}
