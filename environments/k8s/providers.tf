# Connection settings come from the environment (PVE_ENDPOINT, PVE_API_TOKEN, PVE_CA_FILE, and
# PVE_SSH_* for cloud-init snippets), so the same configuration runs against the emulator
# and a real cluster, and no secret is ever written here.
provider "pve" {}
