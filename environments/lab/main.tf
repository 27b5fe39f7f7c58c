# The lab environment: short-lived guests for experiments. Every lab guest expires after
# var.expiration_days (pve-ops expire-lab stops expired lab guests) and is backed up weekly.
# Lab VMIDs are 200 and up (the sandbox is 200); the other environments' fixed VMIDs are below.

data "pve_version" "cluster" {}

data "pve_storages" "vm_disks" {
  content = "images"
}

data "pve_template" "ubuntu" {
  name = var.template_name
}

module "vms" {
  source = "../../modules/vm"

  environment     = "lab"
  expiration_days = var.expiration_days

  # The template is looked up once here (its VMID and node are outputs too) and handed down.
  template_vmid   = data.pve_template.ubuntu.vmid
  node            = var.node != null ? var.node : data.pve_template.ubuntu.node
  storage         = var.storage
  bridge          = var.bridge
  gateway         = var.gateway
  ci_user         = var.ci_user
  ssh_public_keys = var.ssh_public_keys
  ci_password     = var.ci_password

  vms = merge(var.vms, {
    "lab-sandbox" = {
      vmid          = var.sandbox.vmid
      ip            = var.sandbox.ip
      cores         = var.sandbox.cores
      memory        = var.sandbox.memory
      disk          = var.sandbox.disk
      docker        = var.sandbox.docker
      node_exporter = var.sandbox.node_exporter
      tags          = var.sandbox.tags
    }
  })
}

module "containers" {
  source = "../../modules/lxc"
  # The lxc module needs at least one container; the lab has none by default.
  count = length(var.containers) > 0 ? 1 : 0

  environment     = "lab"
  expiration_days = var.expiration_days
  node            = var.node != null ? var.node : data.pve_template.ubuntu.node
  storage         = var.storage
  bridge          = var.bridge
  gateway         = var.gateway
  ssh_public_keys = var.ssh_public_keys
  root_password   = var.container_root_password
  containers      = var.containers
}

module "backup" {
  source = "../../modules/backup"

  environment = "lab"
  storage     = var.backup_storage
  # Only the lab's own guests: an `all` job would also sweep up guests of other environments.
  vmids = concat(module.vms.vmids, flatten(module.containers[*].vmids))
}

# The sandbox was a root resource before the vm module; these keep existing state in place.
moved {
  from = pve_vm.sandbox
  to   = module.vms.pve_vm.this["lab-sandbox"]
}

moved {
  from = pve_lifecycle_tag.sandbox
  to   = module.vms.pve_lifecycle_tag.this["lab-sandbox"]
}
