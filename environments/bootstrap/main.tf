# What a fresh PVE 9 cluster needs before any other environment can run: the least-privilege
# identities of the provider and pve-ops (modules/access), and cloud-init templates built from a
# cloud image (modules/template). No Packer, no hand work on the nodes.

module "access" {
  source = "../../modules/access"

  terraform_token_file = "${var.secrets_dir}/terraform.token"
  ops_token_file       = "${var.secrets_dir}/pve-ops.token"
  file_storages        = distinct(["local", var.image_storage])
  download_nodes       = keys(var.template_nodes) # used only without grant_sys_modify
  grant_sys_modify     = var.grant_sys_modify
  manage_ha            = var.manage_ha
}

module "templates" {
  source = "../../modules/template"

  url                = var.image_url
  checksum           = var.image_checksum
  checksum_algorithm = "sha256"
  file_name          = var.image_file_name
  name               = var.template_name
  nodes              = var.template_nodes
  storage            = var.template_storage
  image_storage      = var.image_storage
  lxc_templates      = { for key, t in var.lxc_templates : key => merge(t, { checksum_algorithm = "sha256" }) }
}
