#!/usr/bin/env bash
# Usage: scripts/write-cli-config.sh <mirror_dir> <out_file>
#
# Writes a Terraform CLI configuration whose only provider installation method
# is a filesystem mirror at <mirror_dir>, for the project's own provider
# (registry.terraform.io/pve-home/pve). There is no `direct {}` block: nothing
# is ever fetched from the network, so any other provider fails `init` with
# an error instead of hanging on a registry that cannot be reached.
# Terraform's builtin providers (terraform_data, terraform_remote_state) need
# no installation and work as usual.
#
# Use it with: export TF_CLI_CONFIG_FILE=<out_file>
#
# Mirror layout (Terraform's "unpacked" layout), e.g. for version 0.1.0:
#   <mirror_dir>/registry.terraform.io/pve-home/pve/0.1.0/linux_amd64/terraform-provider-pve_v0.1.0
# (the packed layout, ...pve-home/pve/terraform-provider-pve_0.1.0_linux_amd64.zip,
# works too).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 <mirror_dir> <out_file>" >&2
  exit 2
fi
mirror_dir="$1"
out_file="$2"

# Terraform resolves a relative mirror path against its working directory,
# which -chdir changes: always write an absolute path.
mirror_abs="$(realpath -m -- "$mirror_dir")"

# HCL string escaping: backslash, double quote, and template sequences.
hcl_escape() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="${s//\$\{/\$\$\{}"
  s="${s//%\{/%%\{}"
  printf '%s' "$s"
}

out_dir="$(dirname -- "$out_file")"
mkdir -p -- "$out_dir"
tmp="$(mktemp "$out_dir/.cli-config.XXXXXX")"
trap 'rm -f -- "$tmp"' EXIT
cat >"$tmp" <<EOF
# Written by scripts/write-cli-config.sh: filesystem mirror only, no network.
provider_installation {
  filesystem_mirror {
    path    = "$(hcl_escape "$mirror_abs")"
    include = ["registry.terraform.io/pve-home/pve"]
  }
}
EOF
chmod 644 "$tmp"
mv -f -- "$tmp" "$out_file"
trap - EXIT
