terraform {
  # Cross-variable validation (gateway against ip) needs 1.9; the project targets 1.11+.
  required_version = ">= 1.11"

  required_providers {
    pve = {
      source  = "pve-home/pve"
      version = "~> 0.1"
    }
  }
}
