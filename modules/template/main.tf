# Per node: the cloud image downloaded to its image storage, and a template VM built from it
# (disk imported from the image, cloud-init drive, serial console, guest agent), plus the
# container templates. A new image (url, checksum or file name) replaces the download and with
# it the template: a disk's import_from is used at creation only.

resource "pve_download_file" "image" {
  for_each = var.nodes

  node                = each.key
  storage             = var.image_storage
  content             = "import"
  url                 = var.url
  file_name           = var.file_name
  checksum            = var.checksum
  checksum_algorithm  = var.checksum == null ? null : var.checksum_algorithm
  verify_certificates = var.verify_certificates
}

resource "pve_vm" "template" {
  for_each = var.nodes

  node               = each.key
  vmid               = each.value
  name               = var.name
  tags               = var.tags
  template           = true
  started            = false
  protection         = var.protection
  cores              = var.cores
  memory             = var.memory
  scsihw             = "virtio-scsi-pci"
  os_type            = "l26"
  agent              = true
  serial_console     = true
  cloud_init_storage = var.storage

  disk {
    slot        = "scsi0"
    storage     = var.storage
    size        = var.disk_size
    discard     = true
    import_from = pve_download_file.image[each.key].volume_id
  }

  network {
    bridge = var.bridge
  }

  ip_config {
    ipv4 = "dhcp"
  }

  lifecycle {
    replace_triggered_by = [pve_download_file.image[each.key]]
  }
}

locals {
  # "NODE/KEY" => the download of container template KEY on NODE.
  lxc_downloads = {
    for pair in setproduct(keys(var.nodes), keys(var.lxc_templates)) : "${pair[0]}/${pair[1]}" => {
      node     = pair[0]
      key      = pair[1]
      template = var.lxc_templates[pair[1]]
    }
  }
}

resource "pve_download_file" "lxc" {
  for_each = local.lxc_downloads

  node                = each.value.node
  storage             = var.image_storage
  content             = "vztmpl"
  url                 = each.value.template.url
  file_name           = each.value.template.file_name
  checksum            = each.value.template.checksum
  checksum_algorithm  = each.value.template.checksum == null ? null : each.value.template.checksum_algorithm
  verify_certificates = var.verify_certificates
}
