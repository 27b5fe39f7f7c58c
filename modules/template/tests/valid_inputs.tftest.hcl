# Input validation of the template module: each mistake rejected by its own rule.

mock_provider "pve" {}

variables {
  url       = "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"
  file_name = "noble-server-cloudimg-amd64.qcow2"
  nodes     = { pve1 = 9000 }
}

run "defaults_are_valid" {
  command = plan

  assert {
    condition     = pve_vm.template["pve1"].cores == 2 && pve_vm.template["pve1"].memory == 2048 && pve_download_file.image["pve1"].checksum == null
    error_message = "The defaults plan a 2-core, 2048 MiB template from an unverified download."
  }
}

run "img_name_rejected_for_import" {
  command = plan

  variables {
    file_name = "noble-server-cloudimg-amd64.img"
  }

  expect_failures = [var.file_name]
}

run "url_without_path_rejected" {
  command = plan

  variables {
    url = "https://cloud-images.ubuntu.com"
  }

  expect_failures = [var.url]
}

run "non_hex_checksum_rejected" {
  command = plan

  variables {
    checksum = "not-a-digest"
  }

  expect_failures = [var.checksum]
}

run "unknown_algorithm_rejected" {
  command = plan

  variables {
    checksum_algorithm = "crc32"
  }

  expect_failures = [var.checksum_algorithm]
}

run "no_nodes_rejected" {
  command = plan

  variables {
    nodes = {}
  }

  expect_failures = [var.nodes]
}

run "shared_vmid_rejected" {
  command = plan

  variables {
    nodes = { pve1 = 9000, pve2 = 9000 }
  }

  expect_failures = [var.nodes]
}

run "vmid_below_100_rejected" {
  command = plan

  variables {
    nodes = { pve1 = 99 }
  }

  expect_failures = [var.nodes]
}

run "container_template_extension_checked" {
  command = plan

  variables {
    lxc_templates = { bad = { url = "https://example.com/images/debian.qcow2" } }
  }

  expect_failures = [var.lxc_templates]
}

run "uppercase_tag_rejected" {
  command = plan

  variables {
    tags = ["Template"]
  }

  expect_failures = [var.tags]
}
