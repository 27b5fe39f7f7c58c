# Properties that must keep holding as the module changes: versioning on every bucket,
# secrets only in sensitive places, in-place updates for bucket changes, pinned binaries.
# The values are fake: nothing here is a real credential.

mock_provider "pve" {}

variables {
  node                = "pve1"
  template_vmid       = 9000
  ip_address          = "10.10.10.20/24"
  gateway             = "10.10.10.1"
  ssh_public_keys     = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly test@example"]
  minio_server_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
  minio_client_sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
  root_user           = "tfadmin"
  root_password       = "fake-root-password-for-tests"
}

run "versioning_on_the_shared_bucket" {
  command = plan

  assert {
    # Whole lines of the decoded script: a commented-out command does not count.
    condition = alltrue([for b in output.bucket_names :
      strcontains(one([for f in yamldecode(pve_vm.this.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"]), "\nmc mb --ignore-existing 'local/${b}'\n") &&
      strcontains(one([for f in yamldecode(pve_vm.this.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"]), "\nmc version enable 'local/${b}'\n")
    ])
    error_message = "every bucket must be created and get versioning"
  }
}

run "versioning_on_every_bucket_per_environment" {
  command = plan
  variables {
    bucket_per_environment = true
    environments           = ["prod", "lab", "monitoring", "k8s"]
  }

  assert {
    condition     = length(output.bucket_names) == 4
    error_message = "one bucket per environment"
  }
  assert {
    # Whole lines of the decoded script: a commented-out command does not count.
    condition = alltrue([for b in output.bucket_names :
      strcontains(one([for f in yamldecode(pve_vm.this.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"]), "\nmc mb --ignore-existing 'local/${b}'\n") &&
      strcontains(one([for f in yamldecode(pve_vm.this.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"]), "\nmc version enable 'local/${b}'\n")
    ])
    error_message = "every per-environment bucket must be created and get versioning"
  }
}

run "secrets_stay_out_of_outputs" {
  command = plan
  override_resource {
    target          = pve_vm.this
    values          = { vmid = 110 }
    override_during = plan
  }
  variables {
    tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key = "-----BEGIN PRIVATE KEY-----\nMIIEfakeprivatekeymaterial\n-----END PRIVATE KEY-----\n"
    environment_credentials = {
      lab = { access_key = "lab-state", secret_key = "fake-lab-secret-value" }
    }
  }

  assert {
    # Every output of the module (outputs.tf).
    condition = !anytrue([for s in ["fake-root-password-for-tests", "MIIEfakeprivatekeymaterial", "fake-lab-secret-value"] :
      strcontains(jsonencode([output.vmid, output.node, output.ip, output.endpoint, output.console_url, output.tls_enabled, output.bucket_names, output.buckets, output.backend_config]), s)
    ])
    error_message = "no output may contain the root password, the TLS key or a secret key"
  }
  assert {
    # Sensitive outputs still print in `terraform output -json`: the rendered user-data (and
    # everything built from the secrets) must not be an output at all. (An assert must refer to
    # the configuration, hence output.ip.)
    condition     = output.ip == "10.10.10.20" && !can(regex("(local\\.(user_data|files|users)|var\\.(root_user|root_password|tls_private_key|environment_credentials))\\b", file("outputs.tf")))
    error_message = "outputs.tf must not export the user-data, the files or users built from the secrets, or a secret variable"
  }
  assert {
    condition     = !issensitive(output.backend_config) && !issensitive(output.endpoint)
    error_message = "backend_config and endpoint must stay usable (not sensitive)"
  }
  assert {
    condition     = strcontains(pve_vm.this.user_data, "MINIO_ROOT_PASSWORD='fake-root-password-for-tests'") && issensitive(pve_vm.this.user_data)
    error_message = "the password belongs in the (sensitive) user-data's environment file"
  }
}

run "secret_files_are_not_world_readable" {
  command = plan
  variables {
    tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key = "-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n"
  }

  assert {
    condition = {
      for f in yamldecode(pve_vm.this.user_data).write_files : f.path => "${f.owner} ${f.permissions}"
      if contains(["/etc/default/minio", "/usr/local/sbin/minio-bootstrap", "/etc/minio/certs/private.key"], f.path)
      } == {
      "/etc/default/minio"              = "root:minio-user 0640"
      "/usr/local/sbin/minio-bootstrap" = "root:root 0700"
      "/etc/minio/certs/private.key"    = "minio-user:minio-user 0600"
    }
    error_message = "the environment file, the bootstrap script and the TLS key must be readable only by their owners"
  }
  assert {
    condition     = alltrue([for f in yamldecode(pve_vm.this.user_data).write_files : f.defer == true])
    error_message = "files must be written deferred, after minio-user exists"
  }
}

# Adding an environment (a bucket, a prefix) must update the VM in place: none of the
# attributes that replace a pve_vm (vmid, node, template, a disk's storage) may depend on it.
run "initial_apply" {
  override_resource {
    target = pve_vm.this
    values = { vmid = 130 }
  }
}

run "adding_an_environment_keeps_the_vm" {
  variables {
    environments           = ["prod", "lab", "monitoring", "k8s"]
    bucket_per_environment = true
  }

  assert {
    condition     = output.vmid == run.initial_apply.vmid && output.node == run.initial_apply.node
    error_message = "the VM's vmid and node must not change when environments change"
  }
  assert {
    condition     = tolist([for d in pve_vm.this.disk : "${d.slot}:${d.storage}"]) == tolist(["scsi0:local-lvm", "scsi1:local-lvm"]) && pve_vm.this.template == false
    error_message = "disk storages (replacing attributes) must not change when environments change"
  }
  assert {
    condition     = strcontains(pve_vm.this.user_data, "mc version enable 'local/tfstate-k8s'")
    error_message = "the new environment's bucket must reach the user-data (an in-place update)"
  }
}

run "state_keys_do_not_depend_on_the_bucket_layout" {
  command = plan
  variables { bucket_per_environment = true }

  assert {
    condition     = { for env, c in output.backend_config : env => c.key } == { prod = "prod/terraform.tfstate", lab = "lab/terraform.tfstate", monitoring = "monitoring/terraform.tfstate" }
    error_message = "switching to a bucket per environment must keep every key (environments' backend.tf files name them)"
  }
}

run "tls_serves_certs_and_bootstrap_uses_https" {
  command = plan
  variables {
    tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key = "-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n"
  }

  assert {
    condition     = strcontains(pve_vm.this.user_data, "--certs-dir /etc/minio/certs") && strcontains(pve_vm.this.user_data, "mc alias set local 'https://127.0.0.1:9000'") && strcontains(pve_vm.this.user_data, "/usr/local/bin/mc --insecure")
    error_message = "with TLS, MinIO must load /etc/minio/certs and the bootstrap must speak https"
  }
}

run "plain_http_never_skips_verification" {
  command = plan

  assert {
    condition     = !strcontains(pve_vm.this.user_data, "mc --insecure") && !strcontains(pve_vm.this.user_data, "--certs-dir")
    error_message = "without TLS there are no certificates to load and nothing to skip"
  }
}

run "noncurrent_versions_expire" {
  command = plan
  variables { noncurrent_version_expiration_days = 30 }

  assert {
    condition     = jsondecode(one([for f in yamldecode(pve_vm.this.user_data).write_files : f.content if f.path == "/etc/minio/lifecycle.json"])).Rules[0].NoncurrentVersionExpiration.NoncurrentDays == 30
    error_message = "the lifecycle rule must expire superseded versions after noncurrent_version_expiration_days"
  }
  assert {
    condition     = strcontains(one([for f in yamldecode(pve_vm.this.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"]), "mc ilm import 'local/tfstate' <'/etc/minio/lifecycle.json'")
    error_message = "the lifecycle must be imported for the bucket"
  }
}

run "zero_days_keeps_every_version" {
  command = plan
  variables { noncurrent_version_expiration_days = 0 }

  assert {
    condition     = !strcontains(pve_vm.this.user_data, "mc ilm") && !strcontains(pve_vm.this.user_data, "lifecycle.json")
    error_message = "with 0 days no lifecycle rule may be written or imported"
  }
  assert {
    condition     = strcontains(pve_vm.this.user_data, "mc version enable 'local/tfstate'")
    error_message = "versioning stays on without a lifecycle"
  }
}

run "environment_user_is_limited_to_its_prefix" {
  command = plan
  variables {
    environment_credentials = {
      lab  = { access_key = "lab-state", secret_key = "fake-lab-secret-value" }
      prod = { access_key = "prod-state", secret_key = "fake-prod-secret-value" }
    }
  }

  assert {
    condition     = tolist(flatten([for st in jsondecode(one([for f in yamldecode(pve_vm.this.user_data).write_files : f.content if f.path == "/etc/minio/policies/tfstate-lab.json"])).Statement : st.Resource])) == tolist(["arn:aws:s3:::tfstate", "arn:aws:s3:::tfstate/lab/*"])
    error_message = "the lab user's policy must cover the bucket listing and lab/* only"
  }
  assert {
    condition     = strcontains(pve_vm.this.user_data, "mc admin policy attach local 'tfstate-prod' --user 'prod-state'") && !strcontains(pve_vm.this.user_data, "tfstate-monitoring")
    error_message = "policies are created and attached only for environments with credentials"
  }
}

# `pve-ops restore tfstate` runs with an environment's keys: it checks that versioning is on,
# lists the state's versions and reads the one it restores. Terraform's S3 backend needs
# ListBucket, GetObject, PutObject and DeleteObject (the .tflock file).
run "environment_user_can_list_and_read_versions" {
  command = plan
  variables {
    environment_credentials = {
      lab = { access_key = "lab-state", secret_key = "fake-lab-secret-value" }
    }
  }

  assert {
    condition = alltrue([for a in ["s3:GetBucketVersioning", "s3:ListBucketVersions", "s3:ListBucket"] :
      contains(one([for st in jsondecode(one([for f in yamldecode(pve_vm.this.user_data).write_files : f.content if f.path == "/etc/minio/policies/tfstate-lab.json"])).Statement : st.Action if contains(st.Resource, "arn:aws:s3:::tfstate")]), a)
    ])
    error_message = "the lab user must be allowed GetBucketVersioning, ListBucketVersions and ListBucket on its bucket (pve-ops restore tfstate)"
  }
  assert {
    condition = alltrue([for a in ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"] :
      contains(one([for st in jsondecode(one([for f in yamldecode(pve_vm.this.user_data).write_files : f.content if f.path == "/etc/minio/policies/tfstate-lab.json"])).Statement : st.Action if contains(st.Resource, "arn:aws:s3:::tfstate/lab/*")]), a)
    ])
    error_message = "the lab user must be allowed to read any version of, write and delete the objects under lab/"
  }
}

run "no_users_without_credentials" {
  command = plan

  assert {
    condition     = !strcontains(pve_vm.this.user_data, "mc admin user add") && !strcontains(pve_vm.this.user_data, "/etc/minio/policies/")
    error_message = "without environment_credentials no MinIO users or policies are created"
  }
}

run "binaries_are_pinned_and_checked" {
  command = plan

  assert {
    condition = alltrue([for want in [
      "fetch 'https://dl.min.io/server/minio/release/linux-amd64/archive/minio.RELEASE.2025-04-22T22-12-26Z' '${var.minio_server_sha256}' /usr/local/bin/minio",
      "fetch 'https://dl.min.io/client/mc/release/linux-amd64/archive/mc.RELEASE.2025-04-16T18-13-26Z' '${var.minio_client_sha256}' /usr/local/bin/mc",
      "sha256sum -c --status",
    ] : strcontains(pve_vm.this.user_data, want)])
    error_message = "both binaries must be downloaded from their pinned URLs and checked against their SHA-256"
  }
}

run "state_only_on_the_mounted_data_disk" {
  command = plan

  assert {
    condition     = strcontains(pve_vm.this.user_data, "if ! mountpoint -q '/var/lib/minio'; then") && strcontains(pve_vm.this.user_data, "RequiresMountsFor=/var/lib/minio")
    error_message = "MinIO must refuse to start when the data disk is not mounted"
  }
}

run "no_password_login" {
  command = plan

  assert {
    condition     = yamldecode(pve_vm.this.user_data).ssh_pwauth == false && alltrue([for u in yamldecode(pve_vm.this.user_data).users : u.lock_passwd == true])
    error_message = "SSH password login must be off and every user's password locked"
  }
}
