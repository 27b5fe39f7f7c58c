#!/usr/bin/env bash
# The main job: installs the tools, builds pve-home, and runs the lab on this machine with no
# Proxmox and no S3 at hand, the way a user starts with a fresh cluster:
#   - the Proxmox VE emulator on https://127.0.0.1:8006: a bare 3-node cluster (no template, no
#     container template, only root's token),
#   - a versioned S3 server (SeaweedFS) on http://127.0.0.1:18333 for the Terraform state,
#   - an OpenSSH sshd on 127.0.0.1:2222 standing in for the nodes' SSH (cloud-init snippets),
#   - a loopback HTTP server on 127.0.0.1:18080 with a small cloud image and container template,
# then, as root, `terraform apply` of environments/bootstrap (least-privilege users and tokens,
# the template built from the image), and with the terraform@pve token that wrote to
# .work/secrets, `terraform apply` of environments/lab. Everything listens on loopback only.
#
# Afterwards `source .work/lab.env` points terraform at them (as terraform@pve), and
# `source .work/ops.env` points pve-ops at them (as pve-ops@pve); stop them with
#   kill $(cat .work/*.pid)
#
# For tests of the script itself: PVE_HOME_BIN_DIR=DIR uses binaries built beforehand instead of
# building them, and PVE_HOME_LAB_PORT_OFFSET=N moves every port up by N.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/setup-tools.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh

if [[ -n "${PVE_HOME_BIN_DIR:-}" ]]; then
  BIN="$PVE_HOME_BIN_DIR"
else
  cargo build --release --locked --bins
  BIN="${CARGO_TARGET_DIR:-$REPO/target}/release"
fi
PVE_HOME_BIN_DIR="$BIN" bash scripts/install-provider.sh release

OFFSET="${PVE_HOME_LAB_PORT_OFFSET:-0}"
PVE_PORT=$((8006 + OFFSET)) S3_PORT=$((18333 + OFFSET)) SSH_PORT=$((2222 + OFFSET)) HTTP_PORT=$((18080 + OFFSET))

WORK="$REPO/.work"
mkdir -p "$WORK"
chmod 700 "$WORK"
# A second run replaces the services of the first, once they have let go of their ports
# (SeaweedFS takes a few seconds to stop).
old_pids=()
for pidfile in "$WORK"/emulator.pid "$WORK"/s3.pid "$WORK"/sshd.pid "$WORK"/images.pid; do
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    old_pids+=("$(cat "$pidfile")")
    kill "$(cat "$pidfile")"
  fi
  rm -f "$pidfile"
done
for pid in "${old_pids[@]}"; do
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
done

for port in "$PVE_PORT" "$S3_PORT" "$SSH_PORT" "$HTTP_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "lab: 127.0.0.1:$port is taken by another program; stop it, or move the lab's ports with PVE_HOME_LAB_PORT_OFFSET=N" >&2
    exit 1
  fi
done

wait_for_port() { # <port> <what>
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "lab: $2 did not start on 127.0.0.1:$1" >&2
  return 1
}

# --- the Proxmox VE emulator ------------------------------------------------------------
STARTED=$SECONDS
# A lab made before the bootstrap existed (a seeded cluster, root's token for everything) is
# kept aside, not reused: its template would collide with the one the bootstrap builds.
if [[ -f "$WORK/pve-token" && ! -f "$WORK/root-token" ]]; then
  echo "lab: keeping the previous lab's cluster in $WORK/pre-bootstrap/ and starting from a bare one"
  mkdir -p "$WORK/pre-bootstrap"
  for old in pve-token emulator-state.json storage; do
    [[ -e "$WORK/$old" ]] && mv "$WORK/$old" "$WORK/pre-bootstrap/"
  done
fi
# root@pam's API token: random, made once and kept in .work/root-token (0600); the emulator gets
# it through its environment, never its arguments. Only the bootstrap uses it.
if [[ ! -f "$WORK/root-token" ]]; then
  (
    umask 077
    printf 'root@pam!bootstrap=%s\n' "$(cat /proc/sys/kernel/random/uuid)" >"$WORK/root-token"
  )
fi
ROOT_TOKEN="$(cat "$WORK/root-token")"
# --bare: a fresh install's cluster, the first time (afterwards the state file holds it).
FRESH=true
[[ -f "$WORK/emulator-state.json" ]] && FRESH=false
PVE_EMULATOR_BARE=true PVE_EMULATOR_TOKENS="$ROOT_TOKEN" "$BIN/pve-emulator" \
  --listen "127.0.0.1:$PVE_PORT" \
  --cert-out "$WORK/emulator-ca.pem" \
  --state-file "$WORK/emulator-state.json" \
  --data-dir "$WORK/storage" \
  --request-log "$WORK/requests.jsonl" \
  >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
echo $! >"$WORK/emulator.pid"
wait_for_port "$PVE_PORT" "the emulator"

# --- S3 for the Terraform state (credentials made once, kept in .work/s3.env) --------------
if [[ ! -f "$WORK/s3.env" ]]; then
  (
    umask 077
    printf 'AWS_ACCESS_KEY_ID=lab-%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" \
      "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >"$WORK/s3.env"
  )
fi
set -a
# shellcheck source=/dev/null
source "$WORK/s3.env"
set +a
mkdir -p "$WORK/s3"
weed mini -dir="$WORK/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false -admin.ui=false -webdav=false \
  -s3.port="$S3_PORT" -master.port=$((19333 + OFFSET)) -volume.port=$((19340 + OFFSET)) -filer.port=$((18888 + OFFSET)) \
  -admin.port=$((23646 + OFFSET)) \
  -s3.port.iceberg=0 -s3.port.lance=0 -bucket=tfstate >"$WORK/s3.log" 2>&1 &
echo $! >"$WORK/s3.pid"
wait_for_port "$S3_PORT" "SeaweedFS"
for _ in $(seq 50); do
  echo "s3.bucket.versioning -name tfstate -enable" | weed shell -master=127.0.0.1:$((19333 + OFFSET)) 2>/dev/null | grep -q "set to Enabled" && break
  sleep 0.2
done
echo "s3.bucket.versioning -name tfstate" | weed shell -master=127.0.0.1:$((19333 + OFFSET)) 2>/dev/null | grep -q "Versioning: Enabled" ||
  { echo "lab: could not turn on versioning of the state bucket" >&2; exit 1; }
printf 'bucket    = "tfstate"\nendpoints = { s3 = "http://127.0.0.1:%s" }\n' "$S3_PORT" >"$WORK/lab-backend.hcl"

# --- SSH to the "nodes": an sshd on loopback with its own host key ---------------------------
SSH_DIR="$WORK/ssh"
mkdir -p "$SSH_DIR" /run/sshd
chmod 700 "$SSH_DIR"
[[ -f "$SSH_DIR/host_key" ]] || ssh-keygen -q -t ed25519 -N "" -C pve-home-lab-node -f "$SSH_DIR/host_key"
[[ -f "$SSH_DIR/client_key" ]] || ssh-keygen -q -t ed25519 -N "" -C pve-home-lab -f "$SSH_DIR/client_key"
# sshd (StrictModes) refuses an authorized_keys file under a group- or world-writable directory,
# such as a checkout in /tmp: the file lives in a private directory under root's home instead,
# one per checkout.
KEYS_DIR="$HOME/.cache/pve-home-lab/$(printf '%s' "$REPO" | sha256sum | cut -c1-16)"
mkdir -p "$KEYS_DIR"
chmod 700 "$HOME/.cache/pve-home-lab" "$KEYS_DIR"
install -m 600 "$SSH_DIR/client_key.pub" "$KEYS_DIR/authorized_keys"
cat >"$SSH_DIR/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSH_DIR/host_key
PidFile $SSH_DIR/sshd.pid
AuthorizedKeysFile $KEYS_DIR/authorized_keys
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
LogLevel ERROR
EOF
"$(command -v sshd || echo /usr/sbin/sshd)" -D -e -f "$SSH_DIR/sshd_config" >/dev/null 2>"$WORK/sshd.log" &
echo $! >"$WORK/sshd.pid"
wait_for_port "$SSH_PORT" "sshd"
printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1-2 "$SSH_DIR/host_key.pub")" >"$SSH_DIR/known_hosts"

# --- a cloud image and a container template, served on loopback ---------------------------
# Small stand-ins for Ubuntu's: a qcow2 header of a 2 GiB disk (64 KiB; the emulator reads the
# virtual size from it, as qemu-img would) and an empty zstd tarball.
IMAGES="$WORK/images"
mkdir -p "$IMAGES"
IMAGE=ubuntu-24.04-server-cloudimg-amd64.qcow2 CT_TEMPLATE=ubuntu-24.04-standard_24.04-2_amd64.tar.zst
if [[ ! -f "$IMAGES/$IMAGE" ]]; then
  # magic, version 3, no backing file (8 + 4 bytes), cluster_bits 16, virtual size 2 GiB
  {
    printf 'QFI\xfb\x00\x00\x00\x03'
    printf '\x00%.0s' {1..12}
    printf '\x00\x00\x00\x10'
    printf '\x00\x00\x00\x00\x80\x00\x00\x00'
  } >"$IMAGES/$IMAGE"
  truncate -s 65536 "$IMAGES/$IMAGE"
fi
[[ -f "$IMAGES/$CT_TEMPLATE" ]] || tar -C "$IMAGES" --zstd -cf "$IMAGES/$CT_TEMPLATE" --files-from /dev/null
python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1 --directory "$IMAGES" >"$WORK/images.log" 2>&1 &
echo $! >"$WORK/images.pid"
wait_for_port "$HTTP_PORT" "the image server"

# --- bootstrap, as root: least-privilege users and tokens, templates from the image ----------
SECRETS="$WORK/secrets"
mkdir -p "$SECRETS"
chmod 700 "$SECRETS"
sha256() { sha256sum "$1" | cut -d' ' -f1; }
cat >"$WORK/bootstrap.tfvars" <<EOF
image_url      = "http://127.0.0.1:$HTTP_PORT/$IMAGE"
image_checksum = "$(sha256 "$IMAGES/$IMAGE")"
image_file_name = "$IMAGE"
secrets_dir    = "$SECRETS"
lxc_templates = {
  ubuntu = { url = "http://127.0.0.1:$HTTP_PORT/$CT_TEMPLATE", checksum = "$(sha256 "$IMAGES/$CT_TEMPLATE")" }
}
EOF
tf_env() { # what terraform needs besides the token
  env TF_CLI_CONFIG_FILE="$WORK/terraformrc" CHECKPOINT_DISABLE=1 PVE_ENDPOINT="https://127.0.0.1:$PVE_PORT" \
    PVE_CA_FILE="$WORK/emulator-ca.pem" PATH="$REPO/.venv/bin:$BIN:$PATH" "$@"
}
echo
echo "==> terraform apply environments/bootstrap as root@pam (state in s3://tfstate/bootstrap/terraform.tfstate)"
rm -f environments/bootstrap/.terraform.lock.hcl
tf_env PVE_API_TOKEN="$ROOT_TOKEN" terraform -chdir=environments/bootstrap init -input=false -reconfigure \
  -backend-config="$WORK/lab-backend.hcl" >/dev/null
tf_env PVE_API_TOKEN="$ROOT_TOKEN" terraform -chdir=environments/bootstrap apply -input=false -auto-approve \
  -var-file="$WORK/bootstrap.tfvars"

# --- what terraform and pve-ops need (they hold credentials: mode 0600) ---------------------
(
  umask 077
  cat >"$WORK/lab.env" <<EOF
export TF_CLI_CONFIG_FILE='$WORK/terraformrc' CHECKPOINT_DISABLE=1
export PVE_ENDPOINT='https://127.0.0.1:$PVE_PORT' PVE_API_TOKEN='$(cat "$SECRETS/terraform.token")' PVE_CA_FILE='$WORK/emulator-ca.pem'
export PVE_SSH_USER=root PVE_SSH_PORT=$SSH_PORT PVE_SSH_PRIVATE_KEY_FILE='$SSH_DIR/client_key' PVE_SSH_KNOWN_HOSTS='$SSH_DIR/known_hosts'
export PVE_SSH_NODE_ADDRESSES='pve1=127.0.0.1,pve2=127.0.0.1,pve3=127.0.0.1'
export AWS_ACCESS_KEY_ID='$AWS_ACCESS_KEY_ID' AWS_SECRET_ACCESS_KEY='$AWS_SECRET_ACCESS_KEY' PVE_OPS_S3_ENDPOINT='http://127.0.0.1:$S3_PORT'
export PATH='$REPO/.venv/bin:$BIN':"\$PATH"
EOF
  printf "export PVE_API_TOKEN='%s'\n" "$(cat "$SECRETS/pve-ops.token")" >"$WORK/ops.env"
)
# shellcheck source=/dev/null
source "$WORK/lab.env"

api() {
  curl --silent --show-error --fail --cacert "$WORK/emulator-ca.pem" \
    -H "Authorization: PVEAPIToken=$PVE_API_TOKEN" "https://127.0.0.1:$PVE_PORT/api2/json$1"
}
echo
echo "Proxmox VE $(api /version | jq -r .data.version), cluster resources:"
api /cluster/resources | jq -r '.data[] | select(.type != "storage") | [.type, .id, (.name // .node // ""), (.status // "")] | @tsv' | column -t

echo
echo "==> terraform apply environments/lab as $(cut -d= -f1 "$SECRETS/terraform.token") (state in s3://tfstate/lab/terraform.tfstate)"
# A rebuilt provider keeps its version but not its checksum, which Terraform's lock file pins
# even with -upgrade: the lock (gitignored here) is made anew from the provider just installed.
rm -f environments/lab/.terraform.lock.hcl
terraform -chdir=environments/lab init -input=false -reconfigure -backend-config="$WORK/lab-backend.hcl" >/dev/null
terraform -chdir=environments/lab apply -input=false -auto-approve
if [[ "$FRESH" == true ]]; then
  echo "lab: from a bare cluster to the applied lab in $((SECONDS - STARTED)) s"
else
  echo "lab: the cluster of the last run, applied again in $((SECONDS - STARTED)) s"
fi

echo
echo "==> the state versions pve-ops restore tfstate can go back to"
pve-ops restore tfstate --env lab --list

echo
echo "The lab runs on loopback (pids in $WORK/*.pid). To use it from this shell:"
echo "  source $WORK/lab.env                       # terraform, as terraform@pve"
echo "  source $WORK/lab.env; source $WORK/ops.env  # pve-ops, as pve-ops@pve"
