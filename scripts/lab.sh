#!/usr/bin/env bash
# The main job: installs the tools, builds pve-home, and runs the lab on this machine with no
# Proxmox and no S3 at hand:
#   - the Proxmox VE emulator on https://127.0.0.1:8006 (a 3-node cluster),
#   - a versioned S3 server (SeaweedFS) on http://127.0.0.1:18333 for the Terraform state,
#   - an OpenSSH sshd on 127.0.0.1:2222 standing in for the nodes' SSH (cloud-init snippets),
# then `terraform apply` of environments/lab against them. Everything listens on loopback only.
#
# Afterwards `source .work/lab.env` points terraform and pve-ops at them; stop them with
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
PVE_PORT=$((8006 + OFFSET)) S3_PORT=$((18333 + OFFSET)) SSH_PORT=$((2222 + OFFSET))

WORK="$REPO/.work"
mkdir -p "$WORK"
chmod 700 "$WORK"
# A second run replaces the services of the first, once they have let go of their ports
# (SeaweedFS takes a few seconds to stop).
old_pids=()
for pidfile in "$WORK"/emulator.pid "$WORK"/s3.pid "$WORK"/sshd.pid; do
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

for port in "$PVE_PORT" "$S3_PORT" "$SSH_PORT"; do
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
# The lab's API token: random, made once and kept in .work/pve-token (0600); the emulator gets it
# through its environment, never its arguments.
if [[ ! -f "$WORK/pve-token" ]]; then
  (
    umask 077
    printf 'root@pam!terraform=%s\n' "$(cat /proc/sys/kernel/random/uuid)" >"$WORK/pve-token"
  )
fi
PVE_TOKEN="$(cat "$WORK/pve-token")"
PVE_EMULATOR_TOKENS="$PVE_TOKEN" "$BIN/pve-emulator" \
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

# --- what terraform and pve-ops need, in one file (it holds credentials: mode 0600) --------
(
  umask 077
  cat >"$WORK/lab.env" <<EOF
export TF_CLI_CONFIG_FILE='$WORK/terraformrc' CHECKPOINT_DISABLE=1
export PVE_ENDPOINT='https://127.0.0.1:$PVE_PORT' PVE_API_TOKEN='$PVE_TOKEN' PVE_CA_FILE='$WORK/emulator-ca.pem'
export PVE_SSH_USER=root PVE_SSH_PORT=$SSH_PORT PVE_SSH_PRIVATE_KEY_FILE='$SSH_DIR/client_key' PVE_SSH_KNOWN_HOSTS='$SSH_DIR/known_hosts'
export PVE_SSH_NODE_ADDRESSES='pve1=127.0.0.1,pve2=127.0.0.1,pve3=127.0.0.1'
export AWS_ACCESS_KEY_ID='$AWS_ACCESS_KEY_ID' AWS_SECRET_ACCESS_KEY='$AWS_SECRET_ACCESS_KEY' PVE_OPS_S3_ENDPOINT='http://127.0.0.1:$S3_PORT'
export PATH='$REPO/.venv/bin:$BIN':"\$PATH"
EOF
)
# shellcheck source=/dev/null
source "$WORK/lab.env"

api() {
  curl --silent --show-error --fail --cacert "$WORK/emulator-ca.pem" \
    -H "Authorization: PVEAPIToken=$PVE_TOKEN" "https://127.0.0.1:$PVE_PORT/api2/json$1"
}
echo
echo "Proxmox VE $(api /version | jq -r .data.version), cluster resources:"
api /cluster/resources | jq -r '.data[] | select(.type != "storage") | [.type, .id, (.name // .node // ""), (.status // "")] | @tsv' | column -t

echo
echo "==> terraform apply environments/lab (state in s3://tfstate/lab/terraform.tfstate)"
# A rebuilt provider keeps its version but not its checksum, which Terraform's lock file pins
# even with -upgrade: the lock (gitignored here) is made anew from the provider just installed.
rm -f environments/lab/.terraform.lock.hcl
terraform -chdir=environments/lab init -input=false -reconfigure -backend-config="$WORK/lab-backend.hcl" >/dev/null
terraform -chdir=environments/lab apply -input=false -auto-approve

echo
echo "==> the state versions pve-ops restore tfstate can go back to"
pve-ops restore tfstate --env lab --list

echo
echo "The lab runs on loopback (pids in $WORK/*.pid). To use it from this shell:"
echo "  source $WORK/lab.env"
