#!/usr/bin/env bash
# Renders the module's shell templates (files/*.sh.tftpl) with sample values and checks them
# with `sh -n` and shellcheck: they run on the VM at first boot, where a mistake only shows as a
# server without buckets. Also sources the rendered /etc/default/minio with a password made of
# every character the module's validation allows, to prove the quoting holds.
# Needs terraform (templatefile through `terraform console`, no providers) and shellcheck.
set -euo pipefail

MODULE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT

# render <template> <HCL object of its variables> <out file>
render() {
  local expr
  expr="base64encode(templatefile(\"$MODULE/files/$1\", $2))"
  # The empty directory has no configuration: console needs no init and no provider. It reads
  # one expression per line, hence the newlines turned into spaces.
  (cd "$tmp" && printf '%s\n' "${expr//$'\n'/ }" | terraform console) | tr -d '"' | base64 -d >"$3"
}

checks=0
check_sh() { # <file>
  sh -n "$1"
  shellcheck --shell=sh "$1"
  checks=$((checks + 1))
}

render minio-install.sh.tftpl '{
  server_url = "https://mirror.lan/minio", server_sha256 = "00", client_url = "https://mirror.lan/mc",
  client_sha256 = "11", data_dir = "/var/lib/minio", data_device = "/dev/sdb" }' "$tmp/install.sh"
check_sh "$tmp/install.sh"

for tls in false true; do
  render minio-bootstrap.sh.tftpl "{
    local_url = \"https://127.0.0.1:9000\", tls = $tls, buckets = [\"tfstate-prod\", \"tfstate-lab\"],
    lifecycle_file = \"/etc/minio/lifecycle.json\",
    users = [{ policy = \"tfstate-lab\", policy_file = \"/etc/minio/policies/tfstate-lab.json\",
               access_key = \"lab-state\", secret_key = \"fake-lab-secret\" }] }" "$tmp/bootstrap-$tls.sh"
  check_sh "$tmp/bootstrap-$tls.sh"
done
render minio-bootstrap.sh.tftpl '{
  local_url = "http://127.0.0.1:9000", tls = false, buckets = ["tfstate"], lifecycle_file = "", users = [] }' \
  "$tmp/bootstrap-minimal.sh"
check_sh "$tmp/bootstrap-minimal.sh"
if grep -q 'mc ilm\|mc admin' "$tmp/bootstrap-minimal.sh"; then
  echo "render_scripts: bootstrap without lifecycle or users still runs mc ilm / mc admin" >&2
  exit 1
fi

# Every character root_password's validation admits (see variables.tf), in one value.
password='aA0!#%&()*+,./:;<=>?@^_{|}~[]-z'
render minio.env.tftpl "{
  root_user = \"tf.admin@home\", root_password = \"$password\", data_dir = \"/var/lib/minio\",
  opts = \"--address :9000 --console-address :9001\", server_url = \"https://minio.lan:9000\",
  browser = \"on\" }" "$tmp/minio.env"
got="$(sh -c '. "$1"; printf "%s|%s|%s" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" "$MINIO_OPTS"' sh "$tmp/minio.env")"
want="tf.admin@home|$password|--address :9000 --console-address :9001"
if [[ "$got" != "$want" ]]; then
  echo "render_scripts: /etc/default/minio does not read back: got '$got', want '$want'" >&2
  exit 1
fi
checks=$((checks + 1))

echo "render_scripts: $checks rendered files checked"
