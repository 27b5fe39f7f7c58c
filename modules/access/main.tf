# Two least-privilege identities for a cluster: the Terraform provider's and pve-ops'. Each is a
# pve-realm user with an API token; the token keeps privilege separation on and holds ACL
# entries of its own, so it can do exactly what is granted to it here even if someone later
# gives the user more. (A privsep token's privileges are the intersection of its user's and its
# own, so both get the same entries.)
#
# The privilege lists are derived from the permission checks of the calls each tool makes
# (docs/permissions.md gives the call behind every privilege); tests/tests/least_privilege.rs
# proves the lists are enough and that each privilege is needed.

locals {
  # On / (propagated): guests, their disks and networks, pools, reads of nodes and jobs.
  terraform_privileges = sort(concat(
    [
      "Datastore.AllocateSpace", # disks on any storage (create, clone, resize, move)
      "Datastore.Audit",         # storages and their content (plan-time checks, templates)
      "Pool.Allocate",           # pve_pool, and adding guests to pools
      "Pool.Audit",
      "SDN.Use",     # a NIC on a bridge (/sdn/zones/localnetwork/BRIDGE)
      "Sys.Audit",   # node status, backup and HA reads, tasks
      "VM.Allocate", # create, destroy, convert to template
      "VM.Audit",
      "VM.Clone",
      "VM.Config.CPU",
      "VM.Config.Disk",
      "VM.Config.HWType",
      "VM.Config.Memory",
      "VM.Config.Network", # also cloud-init settings: PVE takes it or VM.Config.Cloudinit
      "VM.Config.Options",
      "VM.Migrate", # moving a guest, and clones of a template on another node
      "VM.PowerMgmt",
      "VM.Snapshot", # pve_snapshot
    ],
    # pve_backup_job, and a guest's startup order (qemu-server checks Sys.Modify on / for it).
    var.grant_sys_modify ? ["Sys.Modify"] : [],
    var.manage_ha ? ["Sys.Console"] : [],
  ))

  # On each of var.file_storages only: snippets need the storage's directory (GET /storage/ID),
  # and a downloaded image or template is a volume Terraform may delete.
  terraform_file_privileges = ["Datastore.Allocate", "Datastore.AllocateTemplate"]

  # On each of var.download_nodes, unless Sys.Modify is granted: download-url takes
  # Sys.AccessNetwork on the node, or Sys.Audit and Sys.Modify on / (pve-storage download_url).
  terraform_download_privileges = ["Sys.AccessNetwork"]
  download_nodes                = var.grant_sys_modify ? [] : var.download_nodes

  # On / (propagated): read everything, back up and restore, snapshots, power.
  ops_privileges = sort([
    "Datastore.AllocateSpace", # backups: to list, restore and write them (with VM.Backup)
    "SDN.Use",                 # a restored guest's NICs
    "Sys.Audit",               # backup jobs, node status, tasks
    "VM.Allocate",             # restore to a new VMID (restore vm --as, rebuild)
    "VM.Audit",
    "VM.Backup",           # vzdump, seeing archives, restore over an existing guest
    "VM.GuestAgent.Audit", # health: agent ping
    "VM.PowerMgmt",        # lab expiry (shutdown), restores (stop, start)
    "VM.Snapshot",         # snapshots, rollback included (PVE takes it or VM.Snapshot.Rollback)
  ])


  identities = {
    terraform = { user = var.terraform_user, file = var.terraform_token_file, comment = "Terraform provider (pve-home)" }
    ops       = { user = var.ops_user, file = var.ops_token_file, comment = "pve-ops (pve-home)" }
  }

  # Every ACL entry, for the user and for its token: KEY => { path, role, identity }. On a
  # storage or node path the Terraform role is granted again beside the narrower one: in PVE an
  # entry on a path replaces what is inherited from above for that user (AccessControl.pm
  # `permissions`), so without it the provider would lose Datastore.Audit on its file storages
  # and Sys.Audit on its download nodes.
  grants = merge(
    { "terraform /" = { path = "/", role = pve_role.terraform.role_id, identity = "terraform" } },
    merge([for s in var.file_storages : {
      "terraform /storage/${s}"       = { path = "/storage/${s}", role = pve_role.terraform.role_id, identity = "terraform" }
      "terraform /storage/${s} files" = { path = "/storage/${s}", role = pve_role.terraform_files.role_id, identity = "terraform" }
    }]...),
    merge([for n in local.download_nodes : {
      "terraform /nodes/${n}"          = { path = "/nodes/${n}", role = pve_role.terraform.role_id, identity = "terraform" }
      "terraform /nodes/${n} download" = { path = "/nodes/${n}", role = pve_role.terraform_download.role_id, identity = "terraform" }
    }]...),
    { "ops /" = { path = "/", role = pve_role.ops.role_id, identity = "ops" } },
  )
}

resource "pve_role" "terraform" {
  role_id    = "Terraform"
  privileges = local.terraform_privileges
}

resource "pve_role" "terraform_files" {
  role_id    = "TerraformFiles"
  privileges = local.terraform_file_privileges
}

resource "pve_role" "terraform_download" {
  role_id    = "TerraformDownload"
  privileges = local.terraform_download_privileges
}

resource "pve_role" "ops" {
  role_id    = "Operations"
  privileges = local.ops_privileges
}

resource "pve_user" "this" {
  for_each = local.identities

  user_id = each.value.user
  comment = each.value.comment
}

resource "pve_api_token" "this" {
  for_each = local.identities

  user_id              = pve_user.this[each.key].user_id
  token_name           = var.token_name
  comment              = each.value.comment
  expire               = var.token_expire
  privilege_separation = true
  secret_file          = each.value.file
}

resource "pve_acl" "user" {
  for_each = local.grants

  path      = each.value.path
  role_id   = each.value.role
  user_id   = pve_user.this[each.value.identity].user_id
  propagate = true
}

resource "pve_acl" "token" {
  for_each = local.grants

  path      = each.value.path
  role_id   = each.value.role
  token_id  = pve_api_token.this[each.value.identity].token_id
  propagate = true
}
