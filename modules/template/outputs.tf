output "template_vmids" {
  description = "VMID of the template on each node (node => VMID), for clone_vmid."
  value       = { for node, vm in pve_vm.template : node => vm.vmid }
}

output "image_volume_ids" {
  description = "Volume ID of the downloaded image on each node (node => volume ID)."
  value       = { for node, image in pve_download_file.image : node => image.volume_id }
}

output "lxc_template_volume_ids" {
  description = "Volume IDs of the container templates: key of lxc_templates => node => volume ID, for pve_lxc's template_volume."
  value = {
    for key in keys(var.lxc_templates) : key => {
      for id, download in pve_download_file.lxc : local.lxc_downloads[id].node => download.volume_id if local.lxc_downloads[id].key == key
    }
  }
}
