#!/usr/bin/env bash
# Runs every suite: formatting, lints, unit, property and integration tests (pve-api against the
# emulator), end-to-end tests that drive the real Terraform binary, and shellcheck.
# Installs what it needs first (scripts/setup-tools.sh), so it works on a fresh Debian machine.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/setup-tools.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "shellcheck"
shellcheck scripts/*.sh .ci/run modules/*/tests/*.sh checkov-policies/tests/*.sh

step "cargo build"
cargo build --workspace --locked --bins

step "HCL: fmt, validate, terraform test (mock provider), promtool/amtool, checkov, detect-secrets"
# terraform test needs the provider's schema: install the debug build into .work/mirror.
bash scripts/install-provider.sh debug >/dev/null
TF_CLI_CONFIG_FILE="$REPO/.work/terraformrc" bash scripts/test-hcl.sh

step "cargo test (unit, property, integration, end to end)"
# The end-to-end suites start the real terraform (from .venv) against the provider built here.
cargo test --workspace --locked
