terraform {
  required_version = ">= 1.11"

  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}
