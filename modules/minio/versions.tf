terraform {
  # 1.11: cross-variable validation and the provider's write-only attributes.
  required_version = ">= 1.11"

  required_providers {
    pve = {
      source  = "pve-home/pve"
      version = "~> 0.1"
    }
  }
}
