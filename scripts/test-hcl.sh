#!/usr/bin/env bash
# The HCL suite (scripts/test.sh runs it; CI too):
#
#   1. terraform fmt -check -recursive modules environments; modules/vm and modules/lxc share
#      guest_inputs.tf byte for byte; every hcl snippet of a module's README is part of one of
#      its examples/
#   2. for every modules/*/ and environments/*/: terraform init -backend=false, terraform
#      validate, and terraform test when it has tests/ (mock providers: no PVE needed)
#   3. every modules/*/tests/*.sh check script, and checkov-policies/tests/check.sh (the
#      project's checkov policies against their fixtures; without DIRs only)
#   4. checkov on modules/ and environments/ (settings, skipped checks and the project's own
#      policies for the pve_* resources, checkov-policies/: .checkov.yaml)
#   5. detect-secrets on the git-tracked files against .secrets.baseline: a secret that is
#      not in the baseline fails. It stands in for gitleaks, which none of the package
#      registries this project installs from serves.
#   6. the GitHub workflows: actionlint and zizmor (offline), and their self-test, which proves
#      each linter refuses a workflow breaking one of its rules (scripts/lint-workflows.sh)
#
# Usage: bash scripts/test-hcl.sh [DIR...]   (DIRs, e.g. modules/minio, limit steps 2 and 3)
#        bash scripts/test-hcl.sh --update-secrets-baseline
#          rewrites .secrets.baseline from the tracked and the new (not ignored) files, after
#          a reviewed change in what detect-secrets reports (e.g. a new fake credential in a
#          test), and lists the findings per file. Commit the result.
#
# Needs scripts/setup-tools.sh (terraform, checkov, detect-secrets, actionlint, zizmor, shellcheck) and a CLI
# config whose filesystem mirror holds the provider: TF_CLI_CONFIG_FILE, or else
# .work/terraformrc as scripts/install-provider.sh writes it.
#
# Steps 2 and 3 work on a copy of modules/ and environments/ in a temporary directory with a
# TF_DATA_DIR per directory, so no .terraform/ or lock file is left in the tree and an edit
# made during a run cannot confuse it. Steps 4 and 5 only read, and run in the background
# meanwhile (2 cores: one for Terraform, one for the scanners).
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=scripts/env.sh
source scripts/env.sh # (it drops a TF_CLI_CONFIG_FILE that names no file)
if [[ -z "${TF_CLI_CONFIG_FILE:-}" && -f "$REPO/.work/terraformrc" ]]; then
  export TF_CLI_CONFIG_FILE="$REPO/.work/terraformrc"
fi
[[ -n "${TF_CLI_CONFIG_FILE:-}" ]] ||
  { echo "test-hcl: no CLI config: run scripts/install-provider.sh or set TF_CLI_CONFIG_FILE" >&2; exit 2; }
export TF_IN_AUTOMATION=1 TF_INPUT=0

if [[ "${1:-}" == --update-secrets-baseline ]]; then
  mapfile -d '' files < <(git ls-files -z --cached --others --exclude-standard)
  # The baseline holds hashes of what it lists, which would be findings themselves.
  detect-secrets scan --exclude-files '^\.secrets\.baseline$' "${files[@]}" >.secrets.baseline.new
  mv .secrets.baseline.new .secrets.baseline
  python3 - <<'EOF'
import json

results = json.load(open(".secrets.baseline"))["results"]
for path, found in sorted(results.items()):
    print(f"  {path}: " + ", ".join(f"{s['type']} (line {s['line_number']})" for s in found))
print(f"test-hcl: .secrets.baseline lists {sum(map(len, results.values()))} findings in {len(results)} files")
EOF
  exit 0
fi

if [[ $# -gt 0 ]]; then
  dirs=()
  for d in "$@"; do
    d="${d%/}"
    [[ -d "$d" ]] || { echo "test-hcl: no directory $d" >&2; exit 2; }
    dirs+=("$d")
  done
else
  mapfile -t dirs < <(for d in modules/*/ environments/*/; do [[ -d "$d" ]] && echo "${d%/}"; done)
fi
scripts=()
for d in "${dirs[@]}"; do
  [[ "$d" == modules/* ]] || continue
  for s in "$d"/tests/*.sh; do
    [[ -f "$s" ]] && scripts+=("$s")
  done
done
[[ $# -gt 0 ]] || scripts+=(checkov-policies/tests/check.sh)

tmp="$(mktemp -d "${TMPDIR:-/tmp}/pve-home-hcl.XXXXXX")"
bg_pids=()
cleanup() {
  local pid
  # Only on an early exit: the scanners (children of these subshells) are still running.
  for pid in "${bg_pids[@]}"; do
    pkill -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  rm -rf -- "$tmp"
}
trap cleanup EXIT

failures=()
fail() { failures+=("$1"); printf 'FAIL: %s\n' "$1"; }
step() { printf '\n==> %s\n' "$*"; }
# Prints a log with the temporary copy's paths turned back into the tree's.
show() { sed "s|$tmp/tree/||g" "$1"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
t_start="$(now)"

# --- 4 and 5 in the background ---------------------------------------------------
# checkov: its config names the frameworks and any skipped check with its reason. JSON
# output, summarised below (one report per directory).
(
  cd "$REPO"
  rc=0
  CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE \
    checkov --config-file .checkov.yaml -d modules -d environments -o json >"$tmp/checkov.json" 2>"$tmp/checkov.err" || rc=$?
  echo "$rc" >"$tmp/checkov.rc"
) &
bg_pids+=("$!")

# detect-secrets: its pre-commit hook compares the scan with the baseline and exits 1 on a
# secret the baseline does not list. It is given a copy, because it also rewrites the
# baseline it reads (line numbers) and exits 3 for that, which is not a finding here.
(
  cd "$REPO"
  cp .secrets.baseline "$tmp/secrets.baseline"
  mapfile -d '' tracked < <(git ls-files -z)
  rc=0
  detect-secrets-hook --baseline "$tmp/secrets.baseline" "${tracked[@]}" >"$tmp/secrets.log" 2>&1 || rc=$?
  echo "$rc ${#tracked[@]}" >"$tmp/secrets.rc"
) &
bg_pids+=("$!")

# --- 1. formatting -----------------------------------------------------------------
step "terraform fmt -check -recursive modules environments"
if terraform fmt -check -recursive modules environments; then
  echo "formatted"
else
  fail "terraform fmt (run: terraform fmt -recursive modules environments)"
fi

# --- 1a. the shared conventions file ---------------------------------------------------
# The inputs modules/vm and modules/lxc share are one file, copied verbatim into both (why: its
# banner); a copy edited alone would let the two modules drift apart again.
step "modules/vm/guest_inputs.tf and modules/lxc/guest_inputs.tf are identical"
if cmp -s modules/vm/guest_inputs.tf modules/lxc/guest_inputs.tf; then
  echo "identical"
else
  diff -u modules/vm/guest_inputs.tf modules/lxc/guest_inputs.tf || true
  fail "guest_inputs.tf differs between modules/vm and modules/lxc (edit one, copy it over the other)"
fi

# --- 1b. README snippets ------------------------------------------------------------
# Every hcl snippet in a module's README is part of one of its examples/ (which terraform test
# plans), so a snippet a user copies is one that runs.
step "README snippets are examples (modules/*/README.md)"
if python3 - "${dirs[@]}" <<'EOF'
import pathlib
import re
import sys

bad = 0
for d in sys.argv[1:]:
    readme = pathlib.Path(d, "README.md")
    if not d.startswith("modules/") or not readme.is_file():
        continue
    examples = [p.read_text() for p in pathlib.Path(d, "examples").glob("*/*.tf")]
    for n, snippet in enumerate(re.findall(r"^```hcl\n(.*?)^```", readme.read_text(), re.S | re.M), 1):
        if not any(snippet.strip() in text for text in examples):
            print(f"  {readme}: hcl snippet {n} is in none of {d}/examples/*/*.tf")
            bad += 1
sys.exit(1 if bad else 0)
EOF
then
  echo "every snippet is part of an example"
else
  fail "README snippets (copy them from the module's examples/)"
fi

# --- 2 and 3: directories and check scripts, HCL_JOBS (default 2) at a time --------------
mkdir -p "$tmp/tree" "$tmp/data" "$tmp/out"
tar -C "$REPO" --exclude=.terraform --exclude=.terraform.lock.hcl -cf - modules environments | tar -C "$tmp/tree" -xf -
# One provider for every directory (init links it instead of copying 40 MB each time).
export TF_PLUGIN_CACHE_DIR="$tmp/plugin-cache"
mkdir -p "$TF_PLUGIN_CACHE_DIR"

# check_dir <dir> <out>: init, validate, test. Writes <out>.log and <out>.result:
# "ok|fail <passed runs> <failed runs> <what>".
check_dir() {
  local d="$1" out="$2" t0 rc=0 summary passed failed
  t0="$(now)"
  export TF_DATA_DIR="$tmp/data/${d//\//_}"
  if ! compgen -G "$d/*.tf" >/dev/null; then
    echo "ok 0 0 no .tf files, skipped" >"$out.result"
    return
  fi
  # Two inits filling the shared plugin cache at once can collide on its first directory
  # ("file exists"); the second attempt finds the provider there.
  if ! terraform -chdir="$tmp/tree/$d" init -backend=false -input=false -upgrade=false -no-color >"$out.log" 2>&1 &&
    ! terraform -chdir="$tmp/tree/$d" init -backend=false -input=false -upgrade=false -no-color >"$out.log" 2>&1; then
    echo "fail 0 0 terraform init" >"$out.result"
    return
  fi
  if ! terraform -chdir="$tmp/tree/$d" validate -no-color >"$out.log" 2>&1; then
    echo "fail 0 0 terraform validate" >"$out.result"
    return
  fi
  if ! compgen -G "$d/tests/*.tftest.hcl" >/dev/null; then
    echo "ok 0 0 valid, no tests ($(since "$t0"))" >"$out.result"
    return
  fi
  terraform -chdir="$tmp/tree/$d" test -no-color >"$out.log" 2>&1 || rc=$?
  # Terraform's closing line: "Success! N passed, 0 failed." or "Failure! N passed, M failed[, K skipped]."
  summary="$(grep -E '^(Success|Failure)! [0-9]+ passed, [0-9]+ failed' "$out.log" | tail -n 1 || true)"
  passed="$(sed -nE 's/^(Success|Failure)! ([0-9]+) passed.*/\2/p' <<<"$summary")"
  failed="$(sed -nE 's/^(Success|Failure)! [0-9]+ passed, ([0-9]+) failed.*/\2/p' <<<"$summary")"
  if [[ "$rc" -ne 0 || "$summary" != Success!* ]]; then
    echo "fail ${passed:-0} ${failed:-0} terraform test (${summary:-no summary line})" >"$out.result"
  else
    echo "ok $passed 0 valid, $passed test runs passed ($(since "$t0"))" >"$out.result"
  fi
}

# check_script <script> <out>
check_script() {
  local s="$1" out="$2" t0
  t0="$(now)"
  if bash "$s" >"$out.log" 2>&1; then
    echo "ok 0 0 $(tail -n 1 "$out.log") ($(since "$t0"))" >"$out.result"
  else
    echo "fail 0 0 check script" >"$out.result"
  fi
}

# A pool of HCL_JOBS workers; `wait -n` on the pool's own PIDs (not the scanners').
jobs_max="${HCL_JOBS:-2}"
pool=()
i=0
for item in "${dirs[@]}" "${scripts[@]}"; do
  while [[ ${#pool[@]} -ge "$jobs_max" ]]; do
    wait -n "${pool[@]}" || true
    alive=()
    for pid in "${pool[@]}"; do
      kill -0 "$pid" 2>/dev/null && alive+=("$pid")
    done
    pool=("${alive[@]}")
  done
  if [[ "$item" == *.sh ]]; then
    check_script "$item" "$tmp/out/$i" &
  else
    check_dir "$item" "$tmp/out/$i" &
  fi
  pool+=("$!")
  i=$((i + 1))
done
for pid in "${pool[@]}"; do
  wait "$pid" || true
done

runs_passed=0
runs_failed=0
report() { # <heading> <first index> <items...>
  local heading="$1" n="$2" item status passed failed what
  shift 2
  step "$heading"
  [[ $# -gt 0 ]] || echo "  none"
  for item in "$@"; do
    read -r status passed failed what <"$tmp/out/$n.result" || { status=fail passed=0 failed=0 what="no result"; }
    runs_passed=$((runs_passed + passed))
    runs_failed=$((runs_failed + failed))
    if [[ "$status" == ok ]]; then
      echo "  $item: $what"
    else
      [[ -f "$tmp/out/$n.log" ]] && show "$tmp/out/$n.log"
      fail "$item: $what"
    fi
    n=$((n + 1))
  done
}
report "terraform init / validate / test (${#dirs[@]} directories)" 0 "${dirs[@]}"
report "check scripts (modules/*/tests/*.sh, checkov-policies/tests/check.sh)" "${#dirs[@]}" "${scripts[@]}"

# --- 4 and 5: collect --------------------------------------------------------------------
for pid in "${bg_pids[@]}"; do
  wait "$pid" || true
done
bg_pids=()

step "checkov (modules, environments)"
checkov_rc="$(cat "$tmp/checkov.rc" 2>/dev/null || echo 1)"
if ! checkov_summary="$(python3 - "$tmp/checkov.json" <<'EOF'
import json
import sys

text = open(sys.argv[1]).read()
# One JSON document per scanned directory, one after the other (or a list of them).
decoder, docs, i = json.JSONDecoder(), [], 0
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    doc, i = decoder.raw_decode(text, i)
    docs.extend(doc if isinstance(doc, list) else [doc])
passed = failed = skipped = parse_errors = 0
for doc in docs:
    summary = doc.get("summary", doc)
    passed += summary.get("passed", 0)
    failed += summary.get("failed", 0)
    skipped += summary.get("skipped", 0)
    parse_errors += summary.get("parsing_errors", 0)
    for check in doc.get("results", {}).get("failed_checks", []):
        print(f"  {check['check_id']} {check['check_name']}: {check['file_path']} ({check['resource']})", file=sys.stderr)
print(f"{passed} passed, {failed} failed, {skipped} skipped, {parse_errors} files it could not parse")
# checkov exits 0 on files it cannot parse: those are failures here.
sys.exit(1 if parse_errors else 0)
EOF
)"; then
  cat "$tmp/checkov.err" "$tmp/checkov.json" 2>/dev/null || true
  fail "checkov: unreadable output or parse errors ${checkov_summary:-}"
elif [[ "$checkov_rc" != 0 ]]; then
  cat "$tmp/checkov.err" 2>/dev/null || true
  fail "checkov: $checkov_summary"
else
  echo "  checkov: $checkov_summary"
fi

step "detect-secrets (git-tracked files against .secrets.baseline)"
read -r secrets_rc secrets_files <"$tmp/secrets.rc" || secrets_rc=1
case "$secrets_rc" in
  0 | 3) echo "  no secrets beyond the baseline in ${secrets_files:-?} tracked files" ;;
  *)
    cat "$tmp/secrets.log" 2>/dev/null || true
    fail "detect-secrets: secrets not in .secrets.baseline (remove them; a fake one is reviewed and added to the baseline)"
    ;;
esac

# --- 6. workflows --------------------------------------------------------------------------
step "GitHub workflows: actionlint, zizmor --offline, and their self-test"
if bash scripts/lint-workflows.sh >"$tmp/workflows.log" 2>&1; then
  tail -n 1 "$tmp/workflows.log" | sed 's/^/  /'
else
  cat "$tmp/workflows.log"
  fail "workflows: actionlint or zizmor refused .github/workflows (scripts/lint-workflows.sh)"
fi
if bash scripts/lint-workflows.sh --self-test >"$tmp/workflows-self-test.log" 2>&1; then
  tail -n 1 "$tmp/workflows-self-test.log" | sed 's/^/  /'
else
  cat "$tmp/workflows-self-test.log"
  fail "workflows: the linters' self-test failed (scripts/lint-workflows.sh --self-test)"
fi

# --- summary -----------------------------------------------------------------------------
echo
if [[ ${#failures[@]} -gt 0 ]]; then
  echo "test-hcl: FAILED ($(since "$t_start")):"
  printf '  %s\n' "${failures[@]}"
  # Failed steps count too, so this line never reads as a pass.
  echo "hcl: $runs_passed passed, $((runs_failed + ${#failures[@]})) failed"
  exit 1
fi
echo "test-hcl: ok: ${#dirs[@]} directories, ${#scripts[@]} check scripts, checkov, detect-secrets, workflows ($(since "$t_start"))"
echo "hcl: $runs_passed passed, 0 failed"
