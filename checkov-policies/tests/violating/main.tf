# Violating fixtures for checkov-policies/ (check.sh). Each block is named after the one policy it
# breaks (ckv2_pve_<n>[_<case>]) and satisfies every other one; check.sh asserts that each policy
# fails exactly the blocks named after it. Never applied; the credentials are fake.

variable "insecure" {
  type    = bool
  default = true
}

variable "lxc_password" {
  type      = string
  default   = "fixture-not-a-secret" # pragma: allowlist secret
  sensitive = true
}

locals {
  pve_password = "fixture-not-a-secret" # pragma: allowlist secret
}

provider "pve" {
  alias    = "ckv2_pve_1"
  insecure = true
}

# Through a variable's default.
provider "pve" {
  alias    = "ckv2_pve_1_variable"
  insecure = var.insecure
}

provider "pve" {
  alias     = "ckv2_pve_2_token"
  api_token = "fixture@pve!tf=not-a-secret" # pragma: allowlist secret
}

# Through a local.
provider "pve" {
  alias    = "ckv2_pve_2_password"
  username = "root@pam"
  password = local.pve_password
}

resource "pve_backup_job" "ckv2_pve_3_no_retention" {
  schedule = "*-*-* 01:00"
  storage  = "backup"
  vmids    = [101]
}

resource "pve_backup_job" "ckv2_pve_3_keeps_nothing" {
  schedule = "*-*-* 01:00"
  storage  = "backup"
  vmids    = [101]

  retention {
    keep_all = false
  }
}

resource "pve_backup_job" "ckv2_pve_4" {
  schedule = "*-*-* 01:00"
  storage  = "backup"
  vmids    = [101]
  enabled  = false

  retention {
    keep_daily = 7
  }
}

resource "pve_vm" "ckv2_pve_5_vm" {
  node = "pve1"
  name = "unset"
}

resource "pve_lxc" "ckv2_pve_5_lxc" {
  node     = "pve1"
  hostname = "unset"
}

resource "pve_lxc" "ckv2_pve_6" {
  node         = "pve1"
  hostname     = "privileged"
  unprivileged = false
  protection   = true
}

resource "pve_vm" "ckv2_pve_7_vm" {
  node        = "pve1"
  name        = "literal"
  protection  = true
  ci_password = "fixture-not-a-secret" # pragma: allowlist secret
}

# Through a variable's default.
resource "pve_lxc" "ckv2_pve_7_lxc" {
  node       = "pve1"
  hostname   = "literal"
  protection = true
  password   = var.lxc_password
}
