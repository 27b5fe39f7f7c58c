# Applied once, and again when a template or an identity changes, with root credentials
# (PVE_API_TOKEN of a root@pam token, or PVE_USERNAME=root@pam and PVE_PASSWORD). Every other
# environment then runs with the least-privilege token this one writes to a file.
provider "pve" {}
