terraform {
  # Write-only attributes (ci_password, container passwords) need Terraform 1.11.
  required_version = ">= 1.11"

  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}
