#!/usr/bin/env bash
# Regression test of the checkov custom policies in checkov-policies/ (scripts/test-hcl.sh runs it),
# from any working directory: runs checkov with only those policies' directory on
#   compliant/  where every policy must pass at least once and fail nowhere, and
#   violating/  where every policy must fail exactly the blocks named after it
#               (ckv2_pve_<n>[_<case>]: resource names, provider aliases), and nothing else.
# Every policy id in checkov-policies/*.yaml must appear, so a policy checkov could not load (it
# only logs a warning and skips it) or one without fixtures fails here.
# Keep .yaml/.yml/.json files out of tests/: checkov would load them as policies.
# Needs checkov (scripts/env.sh puts .venv/bin first on PATH) and python3 (PYTHON overrides).
# Prints "N passed, M failed" last and exits 1 if any assertion failed.
set -euo pipefail

tests="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
policies="$(dirname "$tests")"
repo="$(dirname "$policies")"
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/env.sh
source "$repo/scripts/env.sh"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Run from the scratch directory: no .checkov.yaml there for checkov to pick up.
cd "$work"
for set in compliant violating; do
  rc=0
  CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE \
    checkov -d "$tests/$set" --external-checks-dir "$policies" --framework terraform \
    --skip-download -o json >"$work/$set.json" 2>"$work/$set.err" || rc=$?
  # 0: nothing failed, 1: something failed (expected for violating/); anything else is an error.
  if [[ "$rc" -gt 1 ]]; then
    cat "$work/$set.err" >&2
    echo "checkov exited $rc on $set/" >&2
    exit 1
  fi
done

"$python" - "$policies" "$work/compliant.json" "$work/violating.json" <<'EOF'
import glob
import json
import os
import re
import sys

policies_dir, compliant_json, violating_json = sys.argv[1:]
ids = []
for path in sorted(glob.glob(os.path.join(policies_dir, "*.yaml"))):
    match = re.search(r'^\s+id:\s*"?([A-Z0-9_]+)"?\s*$', open(path).read(), re.M)
    ids.append(match.group(1) if match else f"(no id in {os.path.basename(path)})")


def results(path):
    """(check id, block name) pairs that passed and that failed, for our policies only."""
    doc = json.load(open(path))
    docs = doc if isinstance(doc, list) else [doc]
    out = {"passed": set(), "failed": set()}
    for d in docs:
        for kind in out:
            for c in d.get("results", {}).get(f"{kind}_checks", []):
                if re.match(r"CKV2?_PVE_", c["check_id"]):
                    # "pve_vm.name", "pve.alias" (provider): the block's own name is the last part.
                    out[kind].add((c["check_id"], c["resource"].rsplit(".", 1)[-1]))
    return out


def named_for(name):
    """The policy a violating block is named after: ckv2_pve_3_keeps_nothing -> CKV2_PVE_3."""
    match = re.match(r"(ckv2?_pve_[0-9]+)(_|$)", name)
    return match.group(1).upper() if match else None


compliant, violating = results(compliant_json), results(violating_json)
# The blocks are read from the fixtures themselves, so one checkov did not evaluate still counts.
violating_blocks = set()
for path in glob.glob(os.path.join(policies_dir, "tests", "violating", "*.tf")):
    text = open(path).read()
    violating_blocks |= set(re.findall(r'^(?:resource|data)\s+"[^"]+"\s+"([^"]+)"', text, re.M))
    violating_blocks |= set(re.findall(r'^\s+alias\s*=\s*"([^"]+)"', text, re.M))
passed = failed = 0


def check(ok, text):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {text}")
    else:
        failed += 1
        print(f"FAIL {text}")


for pid in ids:
    ok_blocks = sorted(n for i, n in compliant["passed"] if i == pid)
    bad_blocks = sorted(n for i, n in compliant["failed"] if i == pid)
    check(ok_blocks and not bad_blocks,
          f"{pid} compliant/: passes {', '.join(ok_blocks) or 'nothing'}; fails {', '.join(bad_blocks) or 'nothing'}")
    expected = {n for n in violating_blocks if named_for(n) == pid}
    got = {n for i, n in violating["failed"] if i == pid}
    check(expected and got == expected,
          f"{pid} violating/: fails {', '.join(sorted(got)) or 'nothing'}"
          + ("" if got == expected else f" (expected {', '.join(sorted(expected)) or 'a block named ' + pid.lower()})"))
# A violating block named after no loaded policy would test nothing.
for name in sorted(n for n in violating_blocks if named_for(n) not in ids):
    check(False, f"violating/: {name} is named after no policy in checkov-policies/")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
