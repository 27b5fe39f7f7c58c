terraform {
  # Write-only attributes (password, ssh_public_keys, template_volume) need Terraform 1.11.
  required_version = ">= 1.11"

  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}
