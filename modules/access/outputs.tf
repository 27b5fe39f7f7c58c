output "terraform_token_id" {
  description = "The provider's token ID (USER!NAME); its secret is in terraform_token_file."
  value       = pve_api_token.this["terraform"].token_id
}

output "ops_token_id" {
  description = "pve-ops' token ID (USER!NAME); its secret is in ops_token_file."
  value       = pve_api_token.this["ops"].token_id
}

output "roles" {
  description = "Every role this module made, with its privileges and where it is granted."
  value = {
    for role in [pve_role.terraform, pve_role.terraform_files, pve_role.terraform_download, pve_role.ops] :
    role.role_id => {
      privileges = sort(tolist(role.privileges))
      paths      = sort(distinct([for g in local.grants : g.path if g.role == role.role_id]))
    }
  }
}
