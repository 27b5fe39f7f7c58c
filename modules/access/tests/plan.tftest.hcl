# What the access module grants, and where: the least-privilege lists are the contract
# docs/permissions.md and tests/tests/least_privilege.rs hold it to.

mock_provider "pve" {
  mock_resource "pve_api_token" {
    defaults = {
      token_id = "terraform@pve!iac"
    }
  }
}

variables {
  terraform_token_file = "/tmp/terraform.token"
  ops_token_file       = "/tmp/ops.token"
}

run "defaults" {
  command = apply

  assert {
    condition     = contains(pve_role.terraform.privileges, "Sys.Modify") && contains(pve_role.terraform.privileges, "Sys.Console")
    error_message = "By default the provider may manage backup jobs and startup orders (Sys.Modify) and HA (Sys.Console)."
  }

  assert {
    condition     = !contains(pve_role.terraform.privileges, "Datastore.Allocate") && !contains(pve_role.terraform.privileges, "Permissions.Modify")
    error_message = "The provider's role on / holds neither Datastore.Allocate (only on file storages) nor Permissions.Modify."
  }

  assert {
    condition     = toset(keys(pve_acl.user)) == toset(["terraform /", "terraform /storage/local", "terraform /storage/local files", "ops /"])
    error_message = "Grants: the provider on / and on /storage/local (with TerraformFiles), pve-ops on /; no download node by default."
  }

  assert {
    condition     = keys(pve_acl.user) == keys(pve_acl.token)
    error_message = "Each privilege-separated token holds the same entries as its user."
  }

  assert {
    condition     = alltrue([for t in pve_api_token.this : t.privilege_separation && t.secret_file != null])
    error_message = "Both tokens keep privilege separation and write their secret to a file, not the state."
  }

  assert {
    condition     = toset(output.roles["Operations"].paths) == toset(["/"]) && contains(output.roles["Operations"].privileges, "VM.Backup")
    error_message = "pve-ops backs up and restores with its role on /."
  }
}

run "without_sys_modify_and_ha" {
  command = plan

  variables {
    grant_sys_modify = false
    manage_ha        = false
    download_nodes   = ["pve1", "pve2"]
    file_storages    = ["local", "nfs-images"]
  }

  assert {
    condition     = !contains(pve_role.terraform.privileges, "Sys.Modify") && !contains(pve_role.terraform.privileges, "Sys.Console")
    error_message = "Without grant_sys_modify and manage_ha the provider gets neither Sys.Modify nor Sys.Console."
  }

  assert {
    condition = toset(keys(pve_acl.token)) == toset([
      "terraform /", "terraform /storage/local", "terraform /storage/local files", "terraform /storage/nfs-images",
      "terraform /storage/nfs-images files", "terraform /nodes/pve1", "terraform /nodes/pve1 download", "terraform /nodes/pve2",
      "terraform /nodes/pve2 download", "ops /",
    ])
    error_message = "Each file storage and each download node gets its own entry."
  }
}

run "bad_user" {
  command = plan

  variables {
    terraform_user = "terraform"
  }

  expect_failures = [var.terraform_user]
}

run "bad_storage" {
  command = plan

  variables {
    file_storages = ["local", "/var/lib/vz"]
  }

  expect_failures = [var.file_storages]
}

run "example_minimal" {
  command = plan
  module { source = "./examples/minimal" }
}

run "example_complete" {
  command = plan
  module { source = "./examples/complete" }

  assert {
    condition     = !contains(output.roles["Terraform"].privileges, "Sys.Modify") && length(output.roles["TerraformDownload"].paths) == 3
    error_message = "The complete example grants no Sys.Modify, so every node gets TerraformDownload."
  }
}
