#!/usr/bin/env bash
# Checks the files modules/monitoring-stack deploys, from any working directory:
#   promtool check config (with sample file_sd targets) and check rules, the per-group alert
#   counts (30 alerts), that every pve_* metric the alerts use is documented in docs/ops-cli.md
#   (or is prometheus-pve-exporter's), promtool test rules and that every alert has a firing and
#   a silent test,
#   amtool check-config on a rendered alertmanager.yml plus its routes and Telegram template, and
#   the Grafana dashboards (check_dashboards.py, then promtool parses every panel query).
# Needs promtool, amtool and python3 (PYTHON overrides). Runs every check, prints
# "N passed, M failed" and exits 1 if any failed.
set -euo pipefail

module="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
files="$module/files"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Alerts per group; each group lives in files/prometheus/alerts/<group>.yml.
declare -A expected=([node]=9 [proxmox]=5 [prometheus]=3 [backup]=3 [drift]=3 [orphans]=2 [health]=2 [lifecycle]=3)
expected_total=30

passed=0
failed=0
log="$work/step.log"

# step NAME COMMAND...: runs COMMAND, reports it, and shows its output only when it fails.
step() {
  local name="$1"
  shift
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/     /' "$log"
  fi
}

# --- Prometheus ---------------------------------------------------------------------------------

# The deployed layout under /etc/prometheus, with file_sd targets shaped like main.tf renders them.
prom="$work/prometheus"
mkdir -p "$prom/file_sd"
cp "$files/prometheus/prometheus.yml" "$prom/"
cp -r "$files/prometheus/alerts" "$prom/"
cat >"$prom/file_sd/node.json" <<'JSON'
[{"labels": {"instance": "monitoring", "role": "monitoring"}, "targets": ["localhost:9100"]},
 {"labels": {}, "targets": ["10.10.10.11:9100", "pve1.lan:9100"]}]
JSON
cat >"$prom/file_sd/pve.json" <<'JSON'
[{"labels": {}, "targets": ["pve1.lan", "10.10.10.2:8006"]}]
JSON
cat >"$prom/file_sd/prometheus.json" <<'JSON'
[{"labels": {}, "targets": ["localhost:9090"]}]
JSON
cat >"$prom/file_sd/alertmanager.json" <<'JSON'
[{"labels": {}, "targets": ["localhost:9093"]}]
JSON

check_prometheus_config() {
  local out
  out="$(promtool check config "$prom/prometheus.yml" 2>&1)" || { echo "$out"; return 1; }
  echo "$out"
  # promtool only warns about missing file_sd files or rule files that match nothing.
  if grep -q WARNING <<<"$out"; then
    echo "promtool warned"
    return 1
  fi
  # A rule_files glob that matches nothing is no error to promtool: every alert file must load.
  local want
  want="$(find "$prom/alerts" -name '*.yml' | wc -l)"
  grep -q "SUCCESS: $want rule files found" <<<"$out" || { echo "expected $want rule files"; return 1; }
}
step "promtool check config (prometheus.yml)" check_prometheus_config

step "promtool check rules (alerts/*.yml)" promtool check rules "$files"/prometheus/alerts/*.yml

check_alert_counts() {
  local total=0 group file alerts groups rules problems=0
  for file in "$files"/prometheus/alerts/*.yml; do
    group="$(basename "$file" .yml)"
    if [[ -z "${expected[$group]:-}" ]]; then
      echo "$file: not one of the expected groups (${!expected[*]})"
      problems=1
    fi
  done
  for group in "${!expected[@]}"; do
    file="$files/prometheus/alerts/$group.yml"
    if [[ ! -f "$file" ]]; then
      echo "$file missing"
      problems=1
      continue
    fi
    alerts="$(grep -cE '^      - alert: [A-Za-z0-9_]+$' "$file" || true)"
    groups="$(grep -cE '^  - name: ' "$file" || true)"
    # promtool counts every rule, so a recording rule or a mis-indented alert shows up here.
    rules="$(promtool check rules "$file" | sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p')"
    echo "$group: $alerts alerts, $rules rules, $groups groups (expected ${expected[$group]} alerts in 1 group)"
    if ! grep -qE "^  - name: $group\$" "$file" || [[ "$groups" != 1 || "$alerts" != "${expected[$group]}" || "$rules" != "$alerts" ]]; then
      problems=1
    fi
    total=$((total + alerts))
  done
  echo "total: $total alerts (expected $expected_total)"
  [[ $problems == 0 && $total == "$expected_total" ]]
}
step "alert counts per group (30 in 8 groups)" check_alert_counts

check_alert_annotations() {
  # Every alert has a severity label, summary and description annotations and a for: clause;
  # the awk walks each rule block (from "- alert:" to the next one).
  awk '
    function finish() {
      if (name != "" && !(sev && sum && desc && dur)) {
        printf "%s: %s lacks%s%s%s%s\n", FILENAME, name, sev ? "" : " severity", sum ? "" : " summary", desc ? "" : " description", dur ? "" : " for"
        bad = 1
      }
    }
    FNR == 1 { finish(); name = "" }
    /^      - alert: / { finish(); name = $3; sev = sum = desc = dur = 0 }
    /^          severity: (critical|warning|info)$/ { sev = 1 }
    /^          summary: "/ { sum = 1 }
    /^          description: "/ { desc = 1 }
    /^        for: [0-9]+[smhd]$/ { dur = 1 }
    END { finish(); exit bad }
  ' "$files"/prometheus/alerts/*.yml
}
step "every alert has severity, summary, description and for" check_alert_annotations

# pve-ops writes the pve_* metrics the alerts are about; docs/ops-cli.md's Metrics table lists
# them. An alert on a metric that is not there (renamed, or never written) would never fire, so
# every pve_* name in the alert files (expressions and annotation queries; comments aside) must be
# in that table or be one of prometheus-pve-exporter's. OPS_CLI_DOC overrides the document.
ops_cli_doc="${OPS_CLI_DOC:-$module/../../docs/ops-cli.md}"
check_alert_metrics_documented() {
  "$python" - "$ops_cli_doc" "$files"/prometheus/alerts/*.yml <<'PY'
import fnmatch
import re
import sys

doc_path, alert_files = sys.argv[1], sys.argv[2:]
# prometheus-pve-exporter's metrics (job "pve"); * stands for any part of a name.
exporter = [
    "pve_up", "pve_node_info", "pve_cpu_usage_ratio", "pve_memory_usage_bytes", "pve_memory_size_bytes",
    "pve_disk_usage_bytes", "pve_disk_size_bytes", "pve_storage_info", "pve_guest_info", "pve_ha_state",
    "pve_onboot_status", "pve_version_info", "pve_cpu_usage_limit", "pve_uptime_seconds",
    "pve_network_*_bytes", "pve_disk_*_bytes",
]
try:
    doc = open(doc_path, encoding="utf-8").read().splitlines()
except OSError as e:
    sys.exit(f"cannot read {doc_path}: {e}")
# The "## Metrics" section's table: its second column names the metrics, in backticks.
documented, in_section = set(), False
for line in doc:
    if line.startswith("## "):
        in_section = line.strip() == "## Metrics"
        continue
    if in_section and line.startswith("|"):
        cells = line.split("|")
        if len(cells) > 2:
            documented.update(re.findall(r"`(pve_[A-Za-z0-9_]+)`", cells[2]))
if not documented:
    sys.exit(f"{doc_path}: no metrics found in the table of its '## Metrics' section")
name = re.compile(r"(?<![A-Za-z0-9_:])pve_[A-Za-z0-9_:]*")
used = {}
for path in alert_files:
    for number, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.lstrip().startswith("#"):
            continue
        for metric in name.findall(line):
            used.setdefault(metric, f"{path.rsplit('/', 1)[-1]}:{number}")
bad = 0
for metric in sorted(used):
    if metric in documented:
        source = "docs/ops-cli.md"
    elif any(fnmatch.fnmatchcase(metric, pattern) for pattern in exporter):
        source = "prometheus-pve-exporter"
    else:
        source, bad = "MISSING from the Metrics table of docs/ops-cli.md", 1
    print(f"{metric} ({used[metric]}): {source}")
print(f"{len(used)} pve_* metrics used by the alerts, {len(documented)} in the Metrics table")
sys.exit(bad)
PY
}
step "every pve_* metric of the alerts is in docs/ops-cli.md or the pve exporter's" check_alert_metrics_documented

step "promtool test rules (tests/*.yml)" promtool test rules "$files"/prometheus/tests/*.yml

check_alert_tests() {
  # Each alert_rule_test names an alertname, then its exp_alerts: "[]" is a silent case, a list
  # is a firing case (promtool compares the labels and annotations of each).
  local names
  names="$(sed -n 's/^      - alert: \([A-Za-z0-9_]*\)$/\1/p' "$files"/prometheus/alerts/*.yml | sort)"
  awk -v names="$names" '
    BEGIN { n = split(names, list, "\n") }
    /^ *alertname: / { current = $2 }
    /^ *exp_alerts: *\[\] *$/ { silent[current]++; next }
    /^ *exp_alerts: *$/ { firing[current]++ }
    END {
      for (i = 1; i <= n; i++) {
        a = list[i]
        if (!firing[a] || !silent[a]) { printf "%s: %d firing, %d silent test cases\n", a, firing[a], silent[a]; bad = 1 }
      }
      printf "%d alerts checked\n", n
      exit bad
    }
  ' "$files"/prometheus/tests/*.yml
}
step "every alert has a firing and a silent test case" check_alert_tests

# --- Alertmanager -------------------------------------------------------------------------------

am="$work/alertmanager"
mkdir -p "$am"
cp -r "$files/alertmanager/alertmanager_templates" "$am/"

render_alertmanager() {
  local template="$files/alertmanager/alertmanager.yml.tftpl"
  # The token only ever comes from a file.
  grep -qE '^ +- bot_token_file: /' "$template" || { echo "no bot_token_file"; return 1; }
  if grep -qE '^ +-? *bot_token:' "$template"; then
    echo "inline bot_token in the template"
    return 1
  fi
  # Stand-in for Terraform's templatefile(): the template's only variable is telegram_chat_id.
  # shellcheck disable=SC2016 # the ${...} is Terraform's, matched literally
  sed 's/\${telegram_chat_id}/-1001234567890/g' "$template" >"$am/alertmanager.yml"
  if grep -nE '[$%]\{' "$am/alertmanager.yml"; then
    echo "template directives left after rendering"
    return 1
  fi
  # bot_token_file needs Alertmanager 0.26; an older amtool checks the rest with a fake inline token.
  local version
  version="$(amtool --version 2>&1 | sed -n 's/.*version \([0-9]*\.[0-9]*\).*/\1/p' | head -n1)"
  if [[ "${version%%.*}" == 0 && "${version#*.}" -lt 26 ]]; then
    sed -i 's|bot_token_file: .*|bot_token: "123456789:FAKE-token-only-for-amtool-check"|' "$am/alertmanager.yml"
    echo "amtool $version predates bot_token_file: checked with a fake inline token instead"
  fi
}
step "render alertmanager.yml" render_alertmanager

step "amtool check-config (alertmanager.yml)" amtool check-config "$am/alertmanager.yml"

check_routes() {
  local severity want got problems=0
  for severity in critical:telegram warning:telegram info:telegram-silent unknown:telegram; do
    want="${severity#*:}"
    got="$(amtool config routes test --config.file="$am/alertmanager.yml" "severity=${severity%%:*}" 2>/dev/null)"
    echo "severity=${severity%%:*} -> $got (want $want)"
    [[ "$got" == "$want" ]] || problems=1
  done
  return "$problems"
}
step "amtool config routes test (severity routes)" check_routes

check_telegram_template() {
  local out
  out="$(cd "$am" && amtool template render --template.glob='alertmanager_templates/*.tmpl' \
    --template.text='{{ template "pve_home.telegram.message" . }}')"
  echo "$out"
  grep -q '^<b>RESOLVED \[' <<<"$out"
}
step "amtool template render (Telegram message)" check_telegram_template

# --- Grafana ------------------------------------------------------------------------------------

step "dashboards: JSON, uids, panels, datasource, targets" "$python" "$module/tests/check_dashboards.py" "$files/grafana" "$work/dashboard-exprs.yml"
step "promtool parses every dashboard query" promtool check rules "$work/dashboard-exprs.yml"

echo "check-files: $passed passed, $failed failed"
[[ $failed == 0 ]]
