# Properties that must keep holding as the module changes: versioning on every bucket,
# secrets only in the write-only user-data, a user_data_wo_version that follows every
# non-secret change and no secret one, in-place updates for bucket changes, pinned binaries.
# The rendered user-data is read from local.user_data (ephemeral: assertions may read it, no
# output may) and local.user_data_redacted (the secret-free variant the version hashes).
# The values are fake: nothing here is a real credential.

mock_provider "pve" {}

variables {
  node                = "pve1"
  template_vmid       = 9000
  ip                  = "10.10.10.20/24"
  gateway             = "10.10.10.1"
  ssh_public_keys     = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly test@example"]
  minio_server_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
  minio_client_sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
  root_user           = "tfadmin"
  root_password       = join("-", ["fake", "root", "password", "for", "tests"])
  # Set, not left to its default: terraform test (before 1.17, hashicorp/terraform#38974)
  # refuses an unset optional ephemeral variable in an apply run.
  environment_credentials = {}
}

run "versioning_on_the_shared_bucket" {
  command = plan

  assert {
    # Whole lines of the decoded script: a commented-out command does not count.
    condition = alltrue([for b in output.bucket_names :
      strcontains(one([for f in yamldecode(local.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"]), "\nmc mb --ignore-existing 'local/${b}'\n") &&
      strcontains(one([for f in yamldecode(local.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"]), "\nmc version enable 'local/${b}'\n")
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
      strcontains(one([for f in yamldecode(local.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"]), "\nmc mb --ignore-existing 'local/${b}'\n") &&
      strcontains(one([for f in yamldecode(local.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"]), "\nmc version enable 'local/${b}'\n")
    ])
    error_message = "every per-environment bucket must be created and get versioning"
  }
}

run "secrets_stay_out_of_outputs" {
  command = plan
  override_resource {
    target          = module.vm.pve_vm.this
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
    condition     = output.ip == "10.10.10.20" && !can(regex("(local\\.(user_data|files|rendered|secret_variants)|var\\.(root_user|root_password|tls_private_key|environment_credentials))\\b", file("outputs.tf")))
    error_message = "outputs.tf must not export the user-data, the files or secrets built from the secrets, or a secret variable"
  }
  assert {
    condition     = !issensitive(output.backend_config) && !issensitive(output.endpoint)
    error_message = "backend_config and endpoint must stay usable (not sensitive)"
  }
  assert {
    condition     = strcontains(local.user_data, "MINIO_ROOT_PASSWORD='fake-root-password-for-tests'") && module.vm.pve_vm["minio"].user_data_wo == null && module.vm.pve_vm["minio"].user_data == null
    error_message = "the password belongs in the user-data's environment file, which goes only to the write-only user_data_wo"
  }
}

# --- user_data_wo_version: follows every non-secret change, no secret one -------------------

run "version_base" {
  command = plan
}

run "version_follows_non_secret_inputs" {
  command = plan
  variables {
    enable_console      = false
    environments        = ["prod", "lab", "monitoring", "k8s"]
    minio_server_sha256 = "2222222222222222222222222222222222222222222222222222222222222222"
  }

  assert {
    condition     = module.vm.pve_vm["minio"].user_data_wo_version != run.version_base.user_data_version && startswith(module.vm.pve_vm["minio"].user_data_wo_version, "1:")
    error_message = "a change of a non-secret input that changes the user-data must change user_data_wo_version"
  }
}

run "version_follows_one_ssh_key" {
  command = plan
  variables {
    ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAnotherFakeKeyForTests test@example"]
  }

  assert {
    condition     = module.vm.pve_vm["minio"].user_data_wo_version != run.version_base.user_data_version
    error_message = "a new SSH key must change user_data_wo_version"
  }
}

run "version_ignores_the_secrets" {
  command = plan
  variables {
    root_user     = "another-admin"
    root_password = "another-fake-root-password" # pragma: allowlist secret
    environment_credentials = {
      lab = { access_key = "lab-state", secret_key = "fake-lab-secret-value" }
    }
  }

  assert {
    condition     = module.vm.pve_vm["minio"].user_data_wo_version == run.version_base.user_data_version
    error_message = "user_data_wo_version must not depend on the secrets (it is stored, and a hash of a secret reveals a guess)"
  }
  assert {
    # The secrets did change what the VM gets, but not what the version sees.
    condition     = strcontains(local.user_data, "MINIO_ROOT_PASSWORD='another-fake-root-password'") && strcontains(local.user_data, "printf '%s\\\\n' 'fake-lab-secret-value' | mc admin user add local 'lab-state'")
    error_message = "the changed secrets must reach the (write-only) user-data"
  }
}

run "version_with_tls" {
  command = plan
  variables {
    tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key = "-----BEGIN PRIVATE KEY-----\nMIIEfakekeyone\n-----END PRIVATE KEY-----\n"
  }

  assert {
    condition     = output.user_data_version != run.version_base.user_data_version
    error_message = "turning TLS on (a certificate: not a secret) must change user_data_wo_version"
  }
}

run "version_ignores_a_new_tls_key" {
  command = plan
  variables {
    tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key = "-----BEGIN PRIVATE KEY-----\nMIIEfakekeytwo\n-----END PRIVATE KEY-----\n"
  }

  assert {
    condition     = output.user_data_version == run.version_with_tls.user_data_version
    error_message = "a new TLS private key alone must not change user_data_wo_version"
  }
}

run "secrets_version_pushes_rotated_secrets" {
  command = plan
  variables {
    root_password   = "another-fake-root-password" # pragma: allowlist secret
    secrets_version = "2"
  }

  assert {
    condition     = module.vm.pve_vm["minio"].user_data_wo_version == "2:${split(":", run.version_base.user_data_version)[1]}" && module.vm.pve_vm["minio"].user_data_wo_version != run.version_base.user_data_version
    error_message = "bumping secrets_version must change user_data_wo_version (and only its secrets_version part)"
  }
}

# No secret may be readable anywhere Terraform keeps or shows: not in the planned or applied
# VM (user_data_wo reads as null), not in the version, not in an output, not in the
# secret-free variant the version hashes; but every one of them in the user-data itself.
run "secrets_in_no_readable_attribute" {
  override_resource {
    target = module.vm.pve_vm.this
    values = { vmid = 140 }
  }
  variables {
    root_user       = "fake-root-user-name"
    tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key = "-----BEGIN PRIVATE KEY-----\nMIIEfakeprivatekeymaterial\n-----END PRIVATE KEY-----\n"
    environment_credentials = {
      lab = { access_key = "fake-lab-access-key", secret_key = "fake-lab-secret-value" }
    }
  }

  assert {
    condition = !anytrue([for s in ["fake-root-user-name", "fake-root-password-for-tests", "MIIEfakeprivatekeymaterial", "fake-lab-access-key", "fake-lab-secret-value"] :
      strcontains(jsonencode(module.vm.pve_vm["minio"]), s) || strcontains(local.user_data_redacted, s) || strcontains(jsonencode(output.backend_config), s) || strcontains(output.user_data_version, s)
    ])
    error_message = "a secret is readable in the VM's attributes, the secret-free user-data, the version or an output"
  }
  assert {
    condition     = module.vm.pve_vm["minio"].user_data == null && module.vm.pve_vm["minio"].user_data_wo == null && output.vmid == 140
    error_message = "the applied VM must hold no user-data in state"
  }
  assert {
    condition = alltrue([for s in ["fake-root-user-name", "fake-root-password-for-tests", "MIIEfakeprivatekeymaterial", "fake-lab-access-key", "fake-lab-secret-value"] :
      strcontains(local.user_data, s)
    ])
    error_message = "every secret must still reach the write-only user-data"
  }
  assert {
    # The secret-free variant is the real one with stand-ins: same files, same paths.
    condition = [for f in yamldecode(local.user_data_redacted).write_files : f.path] == [
      for f in yamldecode(local.user_data).write_files : f.path if !startswith(f.path, "/etc/minio/policies/")
    ]
    error_message = "the secret-free user-data the version hashes must have the same files as the real one (less the users' policies)"
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
      for f in yamldecode(local.user_data).write_files : f.path => "${f.owner} ${f.permissions}"
      if contains(["/etc/default/minio", "/usr/local/sbin/minio-bootstrap", "/etc/minio/certs/private.key"], f.path)
      } == {
      "/etc/default/minio"              = "root:minio-user 0640"
      "/usr/local/sbin/minio-bootstrap" = "root:root 0700"
      "/etc/minio/certs/private.key"    = "minio-user:minio-user 0600"
    }
    error_message = "the environment file, the bootstrap script and the TLS key must be readable only by their owners"
  }
  assert {
    condition     = alltrue([for f in yamldecode(local.user_data).write_files : f.defer == true])
    error_message = "files must be written deferred, after minio-user exists"
  }
}

# Adding an environment (a bucket, a prefix) must update the VM in place: none of the
# attributes that replace a pve_vm (vmid, node, template, a disk's storage) may depend on it.
# (TLS on in both: terraform test before 1.17 cannot apply with tls_private_key, an ephemeral
# variable, unset.)
run "initial_apply" {
  variables {
    tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key = "-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n"
  }
  override_resource {
    target = module.vm.pve_vm.this
    values = { vmid = 130 }
  }
}

run "adding_an_environment_keeps_the_vm" {
  variables {
    tls_certificate        = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    tls_private_key        = "-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n"
    environments           = ["prod", "lab", "monitoring", "k8s"]
    bucket_per_environment = true
  }

  assert {
    condition     = output.vmid == run.initial_apply.vmid && output.node == run.initial_apply.node
    error_message = "the VM's vmid and node must not change when environments change"
  }
  assert {
    condition     = tolist([for d in module.vm.pve_vm["minio"].disk : "${d.slot}:${d.storage}"]) == tolist(["scsi0:local-lvm", "scsi1:local-lvm"]) && module.vm.pve_vm["minio"].template == false
    error_message = "disk storages (replacing attributes) must not change when environments change"
  }
  assert {
    condition     = strcontains(local.user_data, "mc version enable 'local/tfstate-k8s'") && output.user_data_version != run.initial_apply.user_data_version
    error_message = "the new environment's bucket must reach the user-data, with a new user_data_wo_version (an in-place rewrite of the snippet)"
  }
}

run "state_keys_do_not_depend_on_the_bucket_layout" {
  command = plan
  variables { bucket_per_environment = true }

  assert {
    condition     = { for env, c in output.backend_config : env => c.key } == { prod = "prod/terraform.tfstate", lab = "lab/terraform.tfstate", k8s = "k8s/terraform.tfstate", monitoring = "monitoring/terraform.tfstate" }
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
    condition     = strcontains(local.user_data, "--certs-dir /etc/minio/certs") && strcontains(local.user_data, "| mc alias set local 'https://127.0.0.1:9000'") && strcontains(local.user_data, "/usr/local/bin/mc --insecure")
    error_message = "with TLS, MinIO must load /etc/minio/certs and the bootstrap must speak https"
  }
}

run "plain_http_never_skips_verification" {
  command = plan

  assert {
    condition     = !strcontains(local.user_data, "mc --insecure") && !strcontains(local.user_data, "--certs-dir")
    error_message = "without TLS there are no certificates to load and nothing to skip"
  }
}

run "noncurrent_versions_expire" {
  command = plan
  variables { noncurrent_version_expiration_days = 30 }

  assert {
    condition     = jsondecode(one([for f in yamldecode(local.user_data).write_files : f.content if f.path == "/etc/minio/lifecycle.json"])).Rules[0].NoncurrentVersionExpiration.NoncurrentDays == 30
    error_message = "the lifecycle rule must expire superseded versions after noncurrent_version_expiration_days"
  }
  assert {
    condition     = strcontains(one([for f in yamldecode(local.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"]), "mc ilm import 'local/tfstate' <'/etc/minio/lifecycle.json'")
    error_message = "the lifecycle must be imported for the bucket"
  }
}

run "zero_days_keeps_every_version" {
  command = plan
  variables { noncurrent_version_expiration_days = 0 }

  assert {
    condition     = !strcontains(local.user_data, "mc ilm") && !strcontains(local.user_data, "lifecycle.json")
    error_message = "with 0 days no lifecycle rule may be written or imported"
  }
  assert {
    condition     = strcontains(local.user_data, "mc version enable 'local/tfstate'")
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
    condition     = tolist(flatten([for st in jsondecode(one([for f in yamldecode(local.user_data).write_files : f.content if f.path == "/etc/minio/policies/tfstate-lab.json"])).Statement : st.Resource])) == tolist(["arn:aws:s3:::tfstate", "arn:aws:s3:::tfstate/lab/*"])
    error_message = "the lab user's policy must cover the bucket listing and lab/* only"
  }
  assert {
    condition     = strcontains(local.user_data, "mc admin policy attach local 'tfstate-prod' --user 'prod-state'") && !strcontains(local.user_data, "tfstate-monitoring")
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
      contains(one([for st in jsondecode(one([for f in yamldecode(local.user_data).write_files : f.content if f.path == "/etc/minio/policies/tfstate-lab.json"])).Statement : st.Action if contains(st.Resource, "arn:aws:s3:::tfstate")]), a)
    ])
    error_message = "the lab user must be allowed GetBucketVersioning, ListBucketVersions and ListBucket on its bucket (pve-ops restore tfstate)"
  }
  assert {
    condition = alltrue([for a in ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"] :
      contains(one([for st in jsondecode(one([for f in yamldecode(local.user_data).write_files : f.content if f.path == "/etc/minio/policies/tfstate-lab.json"])).Statement : st.Action if contains(st.Resource, "arn:aws:s3:::tfstate/lab/*")]), a)
    ])
    error_message = "the lab user must be allowed to read any version of, write and delete the objects under lab/"
  }
}

run "no_users_without_credentials" {
  command = plan

  assert {
    condition     = !strcontains(local.user_data, "mc admin user add") && !strcontains(local.user_data, "/etc/minio/policies/")
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
    ] : strcontains(local.user_data, want)])
    error_message = "both binaries must be downloaded from their pinned URLs and checked against their SHA-256"
  }
}

run "state_only_on_the_mounted_data_disk" {
  command = plan

  assert {
    condition     = strcontains(local.user_data, "if ! mountpoint -q '/var/lib/minio'; then") && strcontains(local.user_data, "RequiresMountsFor=/var/lib/minio")
    error_message = "MinIO must refuse to start when the data disk is not mounted"
  }
}

run "no_password_login" {
  command = plan

  assert {
    condition     = yamldecode(local.user_data).ssh_pwauth == false && alltrue([for u in yamldecode(local.user_data).users : u.lock_passwd == true])
    error_message = "SSH password login must be off and every user's password locked"
  }
}

# ps shows every process's arguments to every user on the VM: no mc command line carries the
# root password or an environment user's secret key; they reach mc on stdin.
run "mc_gets_no_secret_as_an_argument" {
  command = plan
  variables {
    environment_credentials = {
      lab = { access_key = "lab-state", secret_key = "fake-lab-secret-value" }
    }
  }

  assert {
    condition = length([
      for line in split("\n", one([for f in yamldecode(local.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"])) : line
      if can(regex("mc( |\\(\\))", line)) && can(regex("mc .*(fake-lab-secret-value|MINIO_ROOT_PASSWORD)", line))
    ]) == 0
    error_message = "No mc command line may carry a secret."
  }
  assert {
    condition     = strcontains(one([for f in yamldecode(local.user_data).write_files : f.content if f.path == "/usr/local/sbin/minio-bootstrap"]), "printf '%s\\n%s\\n' \"$MINIO_ROOT_USER\" \"$MINIO_ROOT_PASSWORD\" | mc alias set local 'http://127.0.0.1:9000'")
    error_message = "The root credentials reach mc alias set on stdin."
  }
}
