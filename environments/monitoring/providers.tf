# Connection settings come from the environment (PVE_ENDPOINT, PVE_API_TOKEN, PVE_CA_FILE, and
# PVE_SSH_* for the cloud-init snippets both VMs use), so no secret is ever written here.
provider "pve" {}
