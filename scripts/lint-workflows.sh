#!/usr/bin/env bash
# Lints the GitHub Actions workflows (scripts/test-hcl.sh runs it):
#   actionlint  syntax, expressions, runner labels, and shellcheck on every run: script;
#   zizmor      security audit, offline (no GitHub token, no network), pedantic persona, with
#               .github/zizmor.yml (every action pinned by full commit SHA).
#
# Usage: bash scripts/lint-workflows.sh [FILE...]   (default: .github/workflows/*.yml)
#        bash scripts/lint-workflows.sh --self-test
#          proves each linter can fail: workflows that break one rule each, written to a
#          temporary directory, must be refused by the linter that owns the rule, and a clean
#          one accepted by both. Prints "N passed, M failed" last.
# Needs scripts/setup-tools.sh (actionlint, zizmor in .venv/bin; shellcheck).
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$REPO/scripts/env.sh"
ZIZMOR_CONFIG="$REPO/.github/zizmor.yml"

# lint <file...>: both linters on the files, both always run; fails when either does.
lint() {
  local rc=0
  actionlint -no-color "$@" || { echo "lint-workflows: actionlint refused $*" >&2; rc=1; }
  zizmor --offline --no-progress --persona=pedantic --config "$ZIZMOR_CONFIG" "$@" ||
    { echo "lint-workflows: zizmor refused $*" >&2; rc=1; }
  return "$rc"
}

self_test() {
  local work passed=0 failed=0
  work="$(mktemp -d "${TMPDIR:-/tmp}/lint-workflows.XXXXXX")"
  # shellcheck disable=SC2064  # expand $work now
  trap "rm -rf -- '$work'" EXIT
  mkdir -p "$work/.github/workflows"

  # The common part of every case: what both linters accept.
  header() {
    cat <<'YAML'
name: case
on: push
permissions: {}
concurrency:
  group: case-${{ github.ref }}
  cancel-in-progress: true
jobs:
  build:
    name: build
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    steps:
YAML
  }
  { header; printf '      - run: echo clean\n'; } >"$work/.github/workflows/clean.yml"
  # actionlint's: a job that needs a job that does not exist.
  { header; printf '      - run: echo first\n  second:\n    name: second\n    needs: missing\n    runs-on: ubuntu-24.04\n    timeout-minutes: 5\n    steps:\n      - run: echo second\n'; } >"$work/.github/workflows/bad-needs.yml"
  # actionlint's (through shellcheck): an unquoted variable in a run: script (SC2086).
  # shellcheck disable=SC2016  # the $ is for the workflow's shell, not this one
  { header; printf '      - run: rm -rf $RUNNER_TEMP/x\n'; } >"$work/.github/workflows/bad-shell.yml"
  # zizmor's: an action by tag, not by commit (.github/zizmor.yml: hash-pin everywhere).
  { header; printf '      - uses: actions/checkout@v4\n        with:\n          persist-credentials: false\n'; } >"$work/.github/workflows/bad-pin.yml"
  # zizmor's: a checkout that leaves the token in .git/config for later steps.
  { header; printf '      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n'; } >"$work/.github/workflows/bad-credentials.yml"

  # expect <accept|refuse> <linter> <case>
  expect() {
    local want="$1" linter="$2" file="$work/.github/workflows/$3.yml" got=accept
    case "$linter" in
      actionlint) actionlint -no-color "$file" >"$work/out" 2>&1 || got=refuse ;;
      zizmor) zizmor --offline --no-progress --persona=pedantic --config "$ZIZMOR_CONFIG" "$file" >"$work/out" 2>&1 || got=refuse ;;
    esac
    if [[ "$got" == "$want" ]]; then
      passed=$((passed + 1))
      echo "ok: $linter ${got}s $3"
    else
      failed=$((failed + 1))
      echo "FAIL: $linter should $want $3, it did not:"
      cat "$work/out"
    fi
  }
  expect accept actionlint clean
  expect accept zizmor clean
  expect refuse actionlint bad-needs
  expect accept zizmor bad-needs
  expect refuse actionlint bad-shell
  expect refuse zizmor bad-pin
  expect accept actionlint bad-pin
  expect refuse zizmor bad-credentials
  expect accept actionlint bad-credentials
  # And lint() itself: one refusal fails it.
  if lint "$work/.github/workflows/bad-pin.yml" >"$work/out" 2>&1; then
    failed=$((failed + 1))
    echo "FAIL: lint accepted bad-pin"
  else
    passed=$((passed + 1))
    echo "ok: lint refuses bad-pin"
  fi
  echo "lint-workflows self-test: $passed passed, $failed failed"
  [[ "$failed" == 0 ]]
}

if [[ "${1:-}" == --self-test ]]; then
  self_test
  exit
fi
cd "$REPO"
if [[ $# -eq 0 ]]; then
  set -- .github/workflows/*.yml
fi
lint "$@"
echo "lint-workflows: $# workflow(s) pass actionlint and zizmor"
