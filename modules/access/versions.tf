terraform {
  # No write-only attribute here: a fresh cluster can be bootstrapped with any Terraform the
  # provider supports.
  required_version = ">= 1.6"

  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}
