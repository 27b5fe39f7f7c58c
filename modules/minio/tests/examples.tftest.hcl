# The examples plan as written (examples/minimal, examples/complete). What a user puts in the
# placeholders: their public key line, the binaries' SHA-256 digests, real secrets; fakes here.

mock_provider "pve" {}

variables {
  ssh_public_keys     = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly000000000000000000000 you@laptop\n"]
  minio_server_sha256 = join("", [for i in range(64) : "0"])
  minio_client_sha256 = join("", [for i in range(64) : "1"])
  minio_root_password = join("-", ["fake", "root", "password", "for", "tests"])
}

run "minimal" {
  command = plan
  module { source = "./examples/minimal" }

  assert {
    condition     = output.backend_config["prod"].endpoints.s3 == "http://10.10.10.20:9000"
    error_message = "The minimal example serves plain HTTP on its address."
  }
}

run "complete" {
  command = plan
  module { source = "./examples/complete" }
  variables {
    minio_tls_certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    minio_tls_private_key = format("-----BEGIN %s-----\nMIIEfake\n-----END %s-----\n", "PRIVATE KEY", "PRIVATE KEY")
    state_credentials     = { prod = { access_key = "prod-state", secret_key = join("-", ["fake", "prod", "secret", "value"]) } }
  }

  assert {
    condition     = output.endpoint == "https://minio.lan:9000"
    error_message = "The complete example serves TLS under minio.lan."
  }
}
