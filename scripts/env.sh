# shellcheck shell=bash
# Source this file (bash): `source scripts/env.sh`
# Puts the tools installed by scripts/setup-tools.sh ($REPO/.venv/bin: terraform,
# weed) first on PATH and turns off Terraform's update checkpoint.

_pve_home_repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
_pve_home_bin="$_pve_home_repo/.venv/bin"

# Move (or add) the venv's bin to the front of PATH, without duplicates.
_pve_home_path=":${PATH:-}:"
while [[ "$_pve_home_path" == *":$_pve_home_bin:"* ]]; do
  _pve_home_path="${_pve_home_path//:"$_pve_home_bin":/:}"
done
_pve_home_path="${_pve_home_path#:}"
_pve_home_path="${_pve_home_path%:}"
export PATH="$_pve_home_bin${_pve_home_path:+:$_pve_home_path}"

export CHECKPOINT_DISABLE=1

# A TF_CLI_CONFIG_FILE naming a file that does not exist only makes Terraform
# print a warning on every command: drop it.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "$TF_CLI_CONFIG_FILE" ]]; then
  unset TF_CLI_CONFIG_FILE
fi

unset _pve_home_repo _pve_home_bin _pve_home_path
