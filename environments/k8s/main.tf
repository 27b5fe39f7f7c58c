# A Kubernetes-ready cluster of VMs: control planes and workers spread round-robin over
# var.nodes (with 3 nodes and 3 of each, one control plane and one worker per node), static
# addresses from var.subnet, host CPU type, virtio-scsi-single with an I/O thread per disk.
# The VMs are prepared for kubeadm/k3s/RKE2; installing Kubernetes itself is left to those tools.

locals {
  control_planes = {
    for i in range(var.control_plane_count) : format("%s-cp-%d", var.cluster_name, i + 1) => {
      index = i
      role  = "control-plane"
      node  = var.nodes[i % length(var.nodes)]
      vmid  = var.control_plane_vmid_start + i
      host  = var.control_plane_host_offset + i
      size  = var.control_plane
    }
  }

  workers = {
    for i in range(var.worker_count) : format("%s-worker-%d", var.cluster_name, i + 1) => {
      index = i
      role  = "worker"
      node  = var.nodes[i % length(var.nodes)]
      vmid  = var.worker_vmid_start + i
      host  = var.worker_host_offset + i
      size  = var.worker
    }
  }

  prefix_length = split("/", var.subnet)[1]

  # Names, nodes, VMIDs and addresses derive from the index only, so adding a worker at the end
  # never renumbers or moves the existing ones.
  vms = {
    for name, m in merge(local.control_planes, local.workers) : name => {
      ip            = "${cidrhost(var.subnet, m.host)}/${local.prefix_length}"
      node          = m.node
      vmid          = m.vmid
      template_vmid = lookup(var.template_vmids, m.node, null)
      cores         = m.size.cores
      memory        = m.size.memory
      # Kubernetes schedules on requested memory; a balloon taking it back makes the kubelet evict pods.
      balloon       = 0
      disk          = m.size.disk
      node_exporter = true
      tags          = [var.cluster_name, m.role]
      startup       = m.role == "control-plane" ? "order=1" : "order=2"
    }
  }
}

module "vms" {
  source = "../../modules/vm"

  environment     = "k8s"
  template_name   = var.template_name
  storage         = var.storage
  bridge          = var.bridge
  vlan            = var.vlan
  gateway         = var.gateway
  dns_servers     = var.dns_servers
  search_domain   = var.search_domain
  ci_user         = var.ci_user
  ssh_public_keys = var.ssh_public_keys
  cpu_type        = "host"
  scsihw          = "virtio-scsi-single"
  disk_iothread   = true
  on_boot         = true

  vms = local.vms

  # HA for the control planes, kept on different nodes by a negative resource-affinity rule
  # (PVE 9), so that losing a node never costs etcd its quorum.
  ha = var.control_plane_count >= 2 ? {
    vms        = toset(keys(local.control_planes))
    keep_apart = true
    rule       = "${var.cluster_name}-control-planes-apart"
  } : null
}

# etcd and the cluster's PKI live on the control planes; workers are cattle and rebuilt instead.
module "backup" {
  source = "../../modules/backup"

  environment = "k8s" # the k8s policy: prod's schedule and retention
  id          = "${var.cluster_name}-control-plane"
  storage     = var.backup_storage
  vmids       = [for name in keys(local.control_planes) : module.vms.vms[name].vmid]
  comment     = "${var.cluster_name} control planes (managed by Terraform)"
}
