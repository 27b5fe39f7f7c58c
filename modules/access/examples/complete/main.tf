# Without Sys.Modify for the provider (another user owns backup jobs and startup orders), so
# downloads need Sys.AccessNetwork on each node, and with an NFS storage for images.
terraform {
  required_version = ">= 1.6"
  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}

provider "pve" {} # endpoint and root's credentials from PVE_ENDPOINT and PVE_USERNAME/PVE_PASSWORD

module "access" {
  source = "../.."

  terraform_token_file = "${path.root}/.secrets/terraform.token" # mode 0600, USER!NAME=SECRET
  ops_token_file       = "${path.root}/.secrets/pve-ops.token"
  grant_sys_modify     = false                    # no backup jobs or startup orders by Terraform
  download_nodes       = ["pve1", "pve2", "pve3"] # so downloads need Sys.AccessNetwork here
  file_storages        = ["local", "nfs-images"]
}

output "roles" {
  value = module.access.roles
}
