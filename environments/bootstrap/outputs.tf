output "terraform_token_id" {
  description = "The provider's token ID; its secret is in SECRETS_DIR/terraform.token."
  value       = module.access.terraform_token_id
}

output "ops_token_id" {
  description = "pve-ops' token ID; its secret is in SECRETS_DIR/pve-ops.token."
  value       = module.access.ops_token_id
}

output "roles" {
  description = "The roles made, with their privileges and paths (docs/permissions.md explains each)."
  value       = module.access.roles
}

output "template_vmids" {
  description = "Node => VMID of its template."
  value       = module.templates.template_vmids
}

output "lxc_template_volume_ids" {
  description = "Container template volume IDs: key => node => volume ID."
  value       = module.templates.lxc_template_volume_ids
}
