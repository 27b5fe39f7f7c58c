# Inputs of the k8s environment: a Kubernetes-ready set of VMs (control planes and workers)
# spread over the cluster's nodes, with static addresses computed from one subnet.
# k8s's share of the defaults: VMIDs 150-169 (control planes 151-157, workers 161-169) and
# addresses 10.10.10.60-79 (.61-.67, .71-.79); monitoring has 110-119 / .20-.29, prod 120-149 /
# .30-.59, the lab 200 and up. More than 9 workers leave these ranges: move the starts first.

variable "nodes" {
  description = "PVE nodes to spread the Kubernetes VMs over, in order: VM i of each role goes to nodes[i % length(nodes)]."
  type        = list(string)
  default     = ["pve1", "pve2", "pve3"]

  validation {
    condition     = length(var.nodes) >= 1 && length(distinct(var.nodes)) == length(var.nodes)
    error_message = "nodes must list at least one node, each once."
  }

  validation {
    condition     = alltrue([for n in var.nodes : can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", n))])
    error_message = "Every node must be a PVE node name (lowercase letters, digits and '-')."
  }
}

variable "cluster_name" {
  description = "Prefix of the VM names: <cluster_name>-cp-<n> and <cluster_name>-worker-<n>."
  type        = string
  default     = "k8s"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,40}[a-z0-9]$", var.cluster_name))
    error_message = "cluster_name must be 2 to 42 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "control_plane_count" {
  description = "Number of control-plane VMs (odd, for an etcd quorum)."
  type        = number
  default     = 3

  validation {
    condition     = contains([1, 3, 5, 7], var.control_plane_count)
    error_message = "control_plane_count must be 1, 3, 5 or 7: etcd needs an odd number of members for a quorum."
  }
}

variable "worker_count" {
  description = "Number of worker VMs."
  type        = number
  default     = 3

  validation {
    condition     = var.worker_count == floor(var.worker_count) && var.worker_count >= 0 && var.worker_count <= 50
    error_message = "worker_count must be a whole number from 0 to 50."
  }
}

variable "control_plane" {
  description = "Size of each control-plane VM (memory in MiB, disk in GiB)."
  type = object({
    cores  = optional(number, 2)
    memory = optional(number, 4096)
    disk   = optional(number, 50)
  })
  default = {}

  validation {
    # kubeadm refuses control planes with fewer than 2 CPUs or about 1700 MiB of memory.
    condition     = var.control_plane.cores >= 2 && var.control_plane.memory >= 2048
    error_message = "A control plane needs at least 2 cores and 2048 MiB (kubeadm's preflight minimum)."
  }
}

variable "worker" {
  description = "Size of each worker VM (memory in MiB, disk in GiB)."
  type = object({
    cores  = optional(number, 3)
    memory = optional(number, 12288)
    disk   = optional(number, 100)
  })
  default = {}

  validation {
    condition     = var.worker.cores >= 1 && var.worker.memory >= 1024
    error_message = "A worker needs at least 1 core and 1024 MiB."
  }
}

variable "subnet" {
  description = "Subnet of the Kubernetes nodes (CIDR)."
  type        = string
  default     = "10.10.10.0/24"

  validation {
    condition     = can(cidrhost(var.subnet, 0)) && !strcontains(var.subnet, ":")
    error_message = "subnet must be an IPv4 CIDR block, e.g. 10.10.10.0/24."
  }
}

variable "gateway" {
  description = "Gateway of the Kubernetes subnet."
  type        = string
  default     = "10.10.10.1"
}

variable "control_plane_host_offset" {
  description = "Host number of the first control plane in the subnet (10.10.10.61 for offset 61)."
  type        = number
  default     = 61

  validation {
    condition     = var.control_plane_host_offset >= 2
    error_message = "control_plane_host_offset must be at least 2 (host 1 is usually the gateway)."
  }
}

variable "worker_host_offset" {
  description = "Host number of the first worker in the subnet (10.10.10.71 for offset 71)."
  type        = number
  default     = 71

  validation {
    condition     = var.worker_host_offset >= 2
    error_message = "worker_host_offset must be at least 2 (host 1 is usually the gateway)."
  }

  validation {
    # Overlapping ranges would give a control plane and a worker one address.
    condition = (
      var.worker_host_offset >= var.control_plane_host_offset + var.control_plane_count ||
      var.control_plane_host_offset >= var.worker_host_offset + var.worker_count
    )
    error_message = "The control-plane and worker address ranges overlap: move worker_host_offset or control_plane_host_offset apart."
  }

  validation {
    condition = try(
      max(var.worker_host_offset + var.worker_count, var.control_plane_host_offset + var.control_plane_count) <= pow(2, 32 - tonumber(split("/", var.subnet)[1])) - 1,
      false
    )
    error_message = "The control-plane or worker addresses run past the end of the subnet."
  }
}

variable "control_plane_vmid_start" {
  description = "VMID of the first control plane; the others follow."
  type        = number
  default     = 151

  validation {
    condition     = var.control_plane_vmid_start >= 100 && var.control_plane_vmid_start <= 999999990
    error_message = "control_plane_vmid_start must be within PVE's VMID range."
  }
}

variable "worker_vmid_start" {
  description = "VMID of the first worker; the others follow."
  type        = number
  default     = 161

  validation {
    condition     = var.worker_vmid_start >= 100 && var.worker_vmid_start <= 999999900
    error_message = "worker_vmid_start must be within PVE's VMID range."
  }

  validation {
    condition = (
      var.worker_vmid_start >= var.control_plane_vmid_start + var.control_plane_count ||
      var.control_plane_vmid_start >= var.worker_vmid_start + var.worker_count
    )
    error_message = "The control-plane and worker VMID ranges overlap."
  }
}

variable "template_name" {
  description = "Cloud-init template to clone, looked up by name. One template serves every node: where it is on local storage, the provider clones on its node and migrates the VM (template_vmids saves that copy)."
  type        = string
  default     = "ubuntu-2404-cloudinit"
}

variable "template_vmids" {
  description = "Per-node template VMIDs (node => VMID), optional: a template on each node clones there directly instead of cloning on the template's node and migrating."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for n, id in var.template_vmids : contains(var.nodes, n) && id >= 100])
    error_message = "template_vmids keys must be nodes from var.nodes and values VMIDs of at least 100."
  }

  validation {
    condition     = length(var.template_vmids) == 0 || alltrue([for n in var.nodes : contains(keys(var.template_vmids), n)])
    error_message = "When template_vmids is set it needs a template for every node in var.nodes."
  }
}

variable "storage" {
  description = "Storage for the VM disks."
  type        = string
  default     = "local-lvm"
}

variable "bridge" {
  description = "Bridge the Kubernetes VMs attach to."
  type        = string
  default     = "vmbr0"
}

variable "vlan" {
  description = "VLAN of the Kubernetes subnet (null: untagged)."
  type        = number
  default     = null
}

variable "dns_servers" {
  description = "Resolvers of the Kubernetes VMs."
  type        = list(string)
  default     = ["10.10.10.53", "10.10.10.54"]
}

variable "search_domain" {
  description = "DNS search domain of the Kubernetes VMs."
  type        = string
  default     = "home.lan"
}

variable "ci_user" {
  description = "Cloud-init user of the Kubernetes VMs."
  type        = string
  default     = "ubuntu"
}

variable "ssh_public_keys" {
  description = "SSH public keys for the cloud-init user."
  type        = list(string)
  default     = []
}

variable "backup_storage" {
  description = "Storage for the daily control-plane backups (etcd lives there)."
  type        = string
  default     = "backup"
}
