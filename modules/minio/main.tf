# A MinIO server holding the Terraform state of every environment: one VM, cloned from a
# cloud-init template, with the buckets on a data disk of their own. Versioning is on for every
# bucket, so each state write keeps the previous version.

locals {
  ip          = split("/", var.ip)[0]
  host        = coalesce(var.endpoint_host, local.ip)
  tls         = var.tls_certificate != null
  scheme      = local.tls ? "https" : "http"
  endpoint    = "${local.scheme}://${local.host}:${var.api_port}"
  console_url = var.enable_console ? "${local.scheme}://${local.host}:${var.console_port}" : null

  data_dir   = "/var/lib/minio"
  data_label = "minio-data"
  # QEMU names SCSI disks after their PVE slot, so this path does not depend on probe order.
  data_device = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi1"
  certs_dir   = "/etc/minio/certs"

  # One shared bucket with a prefix per environment (the default), or a bucket per environment.
  # The state key is <env>/terraform.tfstate either way, so an environment's backend.tf never
  # changes when the layout does.
  buckets      = { for env in var.environments : env => var.bucket_per_environment ? "${var.bucket_name}-${env}" : var.bucket_name }
  bucket_names = distinct([for env in var.environments : local.buckets[env]])
  state_keys   = { for env in var.environments : env => "${env}/terraform.tfstate" }

  lifecycle_file = var.noncurrent_version_expiration_days > 0 ? "/etc/minio/lifecycle.json" : ""
  lifecycle = {
    Rules = [{
      ID                          = "expire-noncurrent-state"
      Status                      = "Enabled"
      Filter                      = { Prefix = "" }
      NoncurrentVersionExpiration = { NoncurrentDays = var.noncurrent_version_expiration_days }
    }]
  }

  # What one environment's user may do: list its bucket (key names and versions), check that
  # versioning is on, and read (any version), write and delete the objects under its own prefix
  # (the state and its .tflock lock file). `pve-ops restore tfstate` refuses a bucket without
  # versioning (GetBucketVersioning), lists the state's versions (ListBucketVersions) and reads
  # the one it restores (GetObjectVersion).
  policies = {
    for env in var.environments : env => {
      Version = "2012-10-17"
      Statement = [
        {
          Effect   = "Allow"
          Action   = ["s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions"]
          Resource = ["arn:aws:s3:::${local.buckets[env]}"]
        },
        {
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"]
          Resource = ["arn:aws:s3:::${local.buckets[env]}/${env}/*"]
        },
      ]
    }
  }
  # The secrets, and fixed stand-ins for them. The user-data is rendered twice from the same
  # expressions: with the secrets (user_data_wo: write-only, never in state or plan) and with
  # the stand-ins (secret-free, so its hash can be user_data_wo_version, which is stored).
  # The stand-in variant knows no environment users: which environments have credentials, and
  # their keys, come from environment_credentials, a secret input like the rest.
  secret_variants = {
    real = {
      root_user       = var.root_user
      root_password   = var.root_password
      tls_private_key = var.tls_private_key
      # Sorted by environment so the rendered user-data does not depend on map order.
      users = [
        for env in sort(keys(var.environment_credentials)) : {
          env         = env
          policy      = "tfstate-${env}"
          policy_file = "/etc/minio/policies/tfstate-${env}.json"
          access_key  = var.environment_credentials[env].access_key
          secret_key  = var.environment_credentials[env].secret_key
        }
      ]
    }
    redacted = {
      root_user       = "(secret)"
      root_password   = "(secret)"
      tls_private_key = "(secret)"
      users           = []
    }
  }

  local_url = "${local.scheme}://127.0.0.1:${var.api_port}"
  opts      = join(" ", compact(["--address :${var.api_port}", "--console-address :${var.console_port}", local.tls ? "--certs-dir ${local.certs_dir}" : ""]))

  # Per variant (real, redacted): the files cloud-init writes.
  files = { for v, secrets in local.secret_variants : v => concat(
    [
      {
        path        = "/etc/default/minio"
        owner       = "root:minio-user"
        permissions = "0640"
        content = templatefile("${path.module}/files/minio.env.tftpl", {
          root_user     = secrets.root_user
          root_password = secrets.root_password
          data_dir      = local.data_dir
          opts          = local.opts
          server_url    = local.endpoint
          browser       = var.enable_console ? "on" : "off"
        })
      },
      {
        path        = "/etc/systemd/system/minio.service"
        owner       = "root:root"
        permissions = "0644"
        content     = templatefile("${path.module}/files/minio.service.tftpl", { data_dir = local.data_dir })
      },
      {
        path        = "/usr/local/sbin/minio-install"
        owner       = "root:root"
        permissions = "0700"
        content = templatefile("${path.module}/files/minio-install.sh.tftpl", {
          server_url    = var.minio_server_url
          server_sha256 = var.minio_server_sha256
          client_url    = var.minio_client_url
          client_sha256 = var.minio_client_sha256
          data_dir      = local.data_dir
          data_device   = local.data_device
        })
      },
      {
        # Holds the environment users' secret keys: root only.
        path        = "/usr/local/sbin/minio-bootstrap"
        owner       = "root:root"
        permissions = "0700"
        content = templatefile("${path.module}/files/minio-bootstrap.sh.tftpl", {
          local_url      = local.local_url
          tls            = local.tls
          buckets        = local.bucket_names
          lifecycle_file = local.lifecycle_file
          users          = secrets.users
        })
      },
    ],
    local.lifecycle_file == "" ? [] : [{
      path        = local.lifecycle_file
      owner       = "root:root"
      permissions = "0644"
      content     = jsonencode(local.lifecycle)
    }],
    [for u in secrets.users : {
      path        = u.policy_file
      owner       = "root:root"
      permissions = "0644"
      content     = jsonencode(local.policies[u.env])
    }],
    local.tls ? [
      {
        path        = "${local.certs_dir}/public.crt"
        owner       = "root:minio-user"
        permissions = "0644"
        content     = var.tls_certificate
      },
      {
        path        = "${local.certs_dir}/private.key"
        owner       = "minio-user:minio-user"
        permissions = "0600"
        content     = secrets.tls_private_key
      },
    ] : [],
  ) }

  rendered = { for v, files in local.files : v => templatefile("${path.module}/files/cloud-init.yaml.tftpl", {
    hostname        = var.name
    admin_user      = var.admin_user
    ssh_public_keys = [for k in var.ssh_public_keys : trimspace(k)]
    data_label      = local.data_label
    data_device     = local.data_device
    data_dir        = local.data_dir
    files           = files
  }) }
  # Ephemeral (it holds the secrets): only pve_vm.this.user_data_wo may use it.
  user_data = local.rendered["real"]
  # The same user-data with the stand-ins: no secret, safe to hash and to show.
  user_data_redacted = local.rendered["redacted"]
  # Changes whenever a non-secret input changes the user-data; a change of a secret alone is
  # invisible to Terraform (write-only values are never compared): secrets_version covers it.
  user_data_version = "${var.secrets_version}:${sha256(local.user_data_redacted)}"
}

# The VM comes from modules/vm, the one place a pve_vm is declared, so a fix to how VMs are
# built (placement, disks, validation) reaches MinIO too. The map key is fixed ("minio"), so the
# moved block below can name the address; var.name is the VM's PVE name.
module "vm" {
  source = "../vm"

  environment   = var.environment
  node          = var.node
  template_vmid = var.template_vmid
  clone_full    = var.clone_full
  storage       = var.storage
  bridge        = var.bridge
  vlan          = var.vlan
  gateway       = var.gateway
  dns_servers   = var.dns_servers
  # MinIO's disks had no I/O thread of their own before the module was built on modules/vm;
  # kept, so existing servers plan no change.
  disk_iothread   = false
  snippet_storage = var.snippet_storage

  vms = {
    minio = {
      name        = var.name
      vmid        = var.vmid
      description = "MinIO S3 server for Terraform state (${join(", ", var.environments)}). Managed by Terraform (pve-home minio module)."
      tags        = var.tags
      ip          = var.ip
      cores       = var.cores
      memory      = var.memory
      agent       = var.agent
      disk        = var.os_disk_size
      # The buckets, on a disk of their own, included in vzdump backups (the provider's
      # default): they are every environment's state.
      data_disks = { scsi1 = var.data_disk_size }
      # Environments' plans need their state: by default it starts with the node, first.
      on_boot    = var.on_boot
      startup    = var.startup
      protection = var.protection
      # The user-data carries the whole cloud-init user part (PVE's ci_user, keys and password
      # do not apply to a custom snippet), so the login user is in it too.
      user_data_version = local.user_data_version
      # The state server outlives any lab by policy.
      no_expire = true
    }
  }
  # Write-only: the secrets in it never reach the state; the snippet is rewritten when the
  # version changes.
  user_data = { minio = local.user_data }
}

moved {
  from = pve_vm.this
  to   = module.vm.pve_vm.this["minio"]
}
