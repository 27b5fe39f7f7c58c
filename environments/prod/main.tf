# The prod environment: the homelab's long-lived services. Guests have fixed VMIDs and static
# addresses, are protected against removal, start with their node, never expire and are
# backed up daily (7 daily + 4 weekly).

module "vms" {
  source = "../../modules/vm"

  environment     = "prod"
  template_name   = var.template_name
  storage         = var.storage
  bridge          = var.bridge
  gateway         = var.gateway
  dns_servers     = var.dns_servers
  search_domain   = var.search_domain
  ci_user         = var.ci_user
  ssh_public_keys = var.ssh_public_keys
  on_boot         = true
  protection      = var.protection
  # Services get the host's CPU flags; prod VMs are not live-migrated between CPU generations.
  cpu_type = "host"

  # Prod's policy: every VM runs the node exporter unless its entry says otherwise.
  vms = { for name, vm in var.vms : name => merge({ node_exporter = true }, vm) }
}

module "containers" {
  source = "../../modules/lxc"
  # The lxc module needs at least one container.
  count = length(var.containers) > 0 ? 1 : 0

  environment     = "prod"
  template_volume = var.container_template
  storage         = var.storage
  bridge          = var.bridge
  gateway         = var.gateway
  dns_servers     = var.upstream_dns_servers
  search_domain   = var.search_domain
  ssh_public_keys = var.ssh_public_keys
  root_password   = var.container_root_password
  on_boot         = true
  protection      = var.protection

  containers = var.containers
}

module "backup" {
  source = "../../modules/backup"

  environment = "prod"
  storage     = var.backup_storage
  vmids       = concat(module.vms.vmids, flatten(module.containers[*].vmids))
  comment     = "prod guests, daily (managed by Terraform)"
}
