#!/usr/bin/env bash
# Builds terraform-provider-pve and installs it into a local filesystem mirror under its source
# address (registry.terraform.io/pve-home/pve), with a Terraform CLI config that uses only that
# mirror, so `terraform init` works offline. Works the same for the emulator and real clusters.
#
#   bash scripts/install-provider.sh [release|debug]
#   PVE_HOME_BIN_DIR=DIR bash scripts/install-provider.sh   # a provider built beforehand
#   export TF_CLI_CONFIG_FILE="$PWD/.work/terraformrc"
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE="${1:-release}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)"
MIRROR="$REPO/.work/mirror"
TARGET="$MIRROR/registry.terraform.io/pve-home/pve/$VERSION/linux_amd64"

cd "$REPO"
# PVE_HOME_BIN_DIR: install the provider already built there instead of building it.
BIN_DIR="${PVE_HOME_BIN_DIR:-}"
if [[ -z "$BIN_DIR" ]]; then
  if [[ "$PROFILE" == "release" ]]; then
    cargo build --release --locked -p terraform-provider-pve
  else
    cargo build --locked -p terraform-provider-pve
  fi
  BIN_DIR="${CARGO_TARGET_DIR:-target}/$PROFILE"
fi
mkdir -p "$TARGET"
install -m 0755 "$BIN_DIR/terraform-provider-pve" "$TARGET/terraform-provider-pve_v$VERSION"
bash scripts/write-cli-config.sh "$MIRROR" "$REPO/.work/terraformrc"
echo "installed pve-home/pve $VERSION into $MIRROR"
echo "export TF_CLI_CONFIG_FILE=$REPO/.work/terraformrc"
