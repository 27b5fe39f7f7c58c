#!/usr/bin/env bash
# The main job: installs the tools, builds pve-home, starts the Proxmox VE emulator on
# https://127.0.0.1:8006, installs the provider into a local mirror and runs
# `terraform apply` of environments/lab against the emulator.
# Stop the emulator with: kill "$(cat .work/emulator.pid)"
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/setup-tools.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh

cargo build --release --locked --bins
bash scripts/install-provider.sh release

WORK="$REPO/.work"
mkdir -p "$WORK"
if [[ -f "$WORK/emulator.pid" ]] && kill -0 "$(cat "$WORK/emulator.pid")" 2>/dev/null; then
  kill "$(cat "$WORK/emulator.pid")"
  sleep 0.5
fi

export PVE_EMULATOR_TOKENS="root@pam!terraform=00000000-0000-0000-0000-000000000000"
./target/release/pve-emulator \
  --listen 127.0.0.1:8006 \
  --cert-out "$WORK/emulator-ca.pem" \
  --state-file "$WORK/emulator-state.json" \
  --data-dir "$WORK/storage" \
  --request-log "$WORK/requests.jsonl" \
  >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
echo $! >"$WORK/emulator.pid"

for _ in $(seq 50); do
  grep -q "listening on" "$WORK/emulator.out" 2>/dev/null && break
  sleep 0.1
done
grep "listening on" "$WORK/emulator.out"

api() {
  curl --silent --show-error --fail --cacert "$WORK/emulator-ca.pem" \
    -H "Authorization: PVEAPIToken=$PVE_EMULATOR_TOKENS" "https://127.0.0.1:8006/api2/json$1"
}

echo
echo "Proxmox VE $(api /version | jq -r .data.version), cluster resources:"
api /cluster/resources | jq -r '.data[] | select(.type != "storage") | [.type, .id, (.name // .node // ""), (.status // "")] | @tsv' | column -t

export TF_CLI_CONFIG_FILE="$WORK/terraformrc" PVE_ENDPOINT=https://127.0.0.1:8006 PVE_API_TOKEN="$PVE_EMULATOR_TOKENS" PVE_CA_FILE="$WORK/emulator-ca.pem"
echo
echo "==> terraform apply environments/lab"
terraform -chdir=environments/lab init -input=false -upgrade >/dev/null
terraform -chdir=environments/lab apply -input=false -auto-approve

echo
echo "Emulator running (pid $(cat "$WORK/emulator.pid")). To use it from this shell:"
echo "export TF_CLI_CONFIG_FILE=$TF_CLI_CONFIG_FILE PVE_ENDPOINT=$PVE_ENDPOINT PVE_API_TOKEN='$PVE_API_TOKEN' PVE_CA_FILE=$PVE_CA_FILE"
