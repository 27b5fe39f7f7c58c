terraform {
  # The disks' import_from is write-only: Terraform 1.11 or later.
  required_version = ">= 1.11"

  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}
