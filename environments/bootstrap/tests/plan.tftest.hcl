# The bootstrap wires the identities to the templates' nodes and storages.

mock_provider "pve" {
  mock_resource "pve_api_token" {
    defaults = {
      token_id = "terraform@pve!iac"
    }
  }
  mock_resource "pve_download_file" {
    defaults = {
      volume_id = "local:import/ubuntu-24.04-server-cloudimg-amd64.qcow2"
      size      = 65536
    }
  }
}

variables {
  image_checksum = "0000000000000000000000000000000000000000000000000000000000000000"
  secrets_dir    = "/root/.config/pve-home"
  template_nodes = { pve1 = 9000, pve2 = 9001 }
}

run "identities_follow_the_template_nodes" {
  command = plan

  variables {
    grant_sys_modify = false
  }

  assert {
    condition     = toset(keys(module.access.roles)) == toset(["Terraform", "TerraformFiles", "TerraformDownload", "Operations"])
    error_message = "The bootstrap makes the provider's three roles and pve-ops' one."
  }

  assert {
    condition     = toset(module.access.roles["TerraformDownload"].paths) == toset(["/nodes/pve1", "/nodes/pve2"])
    error_message = "Without Sys.Modify on /, every template node may download (Sys.AccessNetwork there), and only those."
  }
}

run "checksum_is_required_in_full" {
  command = plan

  variables {
    image_checksum = "REPLACE-with-the-sha256-of-the-image"
  }

  expect_failures = [var.image_checksum]
}

run "secrets_dir_is_absolute" {
  command = plan

  variables {
    secrets_dir = ".secrets"
  }

  expect_failures = [var.secrets_dir]
}
