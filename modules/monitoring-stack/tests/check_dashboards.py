#!/usr/bin/env python3
"""Checks the Grafana dashboards of modules/monitoring-stack (run by check-files.sh).

Usage: check_dashboards.py GRAFANA_DIR RULES_OUT

Every dashboard in GRAFANA_DIR/dashboards must be valid JSON with a unique uid and title; every
panel needs a unique id, a gridPos inside the 24-column grid, the provisioned Prometheus
datasource (by uid) and at least one target, each with a non-empty expr. Template variables must
use that datasource too. Every expr is written to RULES_OUT as a recording rule (JSON is YAML),
with Grafana's $variables replaced, so that `promtool check rules RULES_OUT` parses the PromQL.
Exits 1 listing every problem found.
"""

import json
import pathlib
import re
import sys

EXPECTED_DASHBOARDS = 5
# Grafana's built-in and this module's dashboard variables, replaced by something PromQL parses.
VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$instance": "localhost:9100",
}


def provisioned_uid(grafana: pathlib.Path, problems: list) -> str:
    """The uid of the one datasource in provisioning/datasources (a .yaml, or a .yaml.tftpl Terraform renders; no YAML parser in the stdlib)."""
    files = sorted((grafana / "provisioning" / "datasources").glob("*.yaml*"))
    uids = []
    for f in files:
        uids += re.findall(r"^\s+uid:\s*\"?([A-Za-z0-9_-]+)\"?\s*$", f.read_text(), re.MULTILINE)
    if len(uids) != 1:
        problems.append(f"provisioning/datasources: expected exactly one datasource uid, found {uids}")
        return ""
    return uids[0]


def check_panel(where: str, panel, uid: str, ids: set, exprs: list, problems: list) -> None:
    if not isinstance(panel, dict):
        problems.append(f"{where}: not an object")
        return
    pid = panel.get("id")
    if not isinstance(pid, int) or isinstance(pid, bool):
        problems.append(f"{where}: id missing or not an integer")
    elif pid in ids:
        problems.append(f"{where}: duplicate panel id {pid}")
    else:
        ids.add(pid)
    if not str(panel.get("title") or "").strip():
        problems.append(f"{where}: no title")
    grid = panel.get("gridPos")
    if not isinstance(grid, dict) or not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")):
        problems.append(f"{where}: gridPos missing or incomplete (h, w, x, y)")
    elif not (grid["h"] > 0 and 0 < grid["w"] <= 24 and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["y"] >= 0):
        problems.append(f"{where}: gridPos {grid} is outside the 24-column grid")
    ds = panel.get("datasource")
    if not isinstance(ds, dict) or ds.get("uid") != uid or ds.get("type") != "prometheus":
        problems.append(f"{where}: datasource {ds!r} is not the provisioned Prometheus datasource (uid {uid!r})")
    targets = panel.get("targets")
    if not isinstance(targets, list) or not targets:
        problems.append(f"{where}: no targets")
        return
    for n, target in enumerate(targets):
        expr = target.get("expr") if isinstance(target, dict) else None
        if not isinstance(expr, str) or not expr.strip():
            problems.append(f"{where}: target {n} has no expr")
            continue
        tds = target.get("datasource")
        if tds is not None and (not isinstance(tds, dict) or tds.get("uid") != uid):
            problems.append(f"{where}: target {n} uses datasource {tds!r}")
        exprs.append((f"{where} target {n}", expr))


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    grafana, rules_out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    problems: list = []
    uid = provisioned_uid(grafana, problems)
    files = sorted((grafana / "dashboards").glob("*.json"))
    if len(files) != EXPECTED_DASHBOARDS:
        problems.append(f"expected {EXPECTED_DASHBOARDS} dashboards, found {len(files)}: {[f.name for f in files]}")
    seen_uids: dict = {}
    seen_titles: dict = {}
    exprs: list = []
    for f in files:
        try:
            dash = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            problems.append(f"{f.name}: invalid JSON: {e}")
            continue
        if not isinstance(dash, dict):
            problems.append(f"{f.name}: not a JSON object")
            continue
        duid, title = dash.get("uid"), dash.get("title")
        if not isinstance(duid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", duid):
            problems.append(f"{f.name}: uid {duid!r} missing or not a Grafana uid (1-40 of A-Za-z0-9_-)")
        elif duid in seen_uids:
            problems.append(f"{f.name}: uid {duid!r} already used by {seen_uids[duid]}")
        else:
            seen_uids[duid] = f.name
        if not isinstance(title, str) or not title.strip():
            problems.append(f"{f.name}: no title")
        elif title in seen_titles:
            problems.append(f"{f.name}: title {title!r} already used by {seen_titles[title]}")
        else:
            seen_titles[title] = f.name
        panels = dash.get("panels")
        if not isinstance(panels, list) or not panels:
            problems.append(f"{f.name}: no panels")
            panels = []
        ids: set = set()
        for i, panel in enumerate(panels):
            title_of = panel.get("title") if isinstance(panel, dict) else None
            check_panel(f"{f.name} panel {i} ({title_of!r})", panel, uid, ids, exprs, problems)
        for v in (dash.get("templating") or {}).get("list") or []:
            if v.get("type") == "query" and (v.get("datasource") or {}).get("uid") != uid:
                problems.append(f"{f.name}: variable {v.get('name')!r} does not use datasource {uid!r}")
    rules = []
    for n, (where, expr) in enumerate(exprs):
        for var, value in VARIABLES.items():
            expr = expr.replace(var, value)
        if "$" in expr:
            problems.append(f"{where}: unknown Grafana variable in {expr!r}")
        rules.append({"record": f"dashboard_expr_{n}", "expr": expr})
    rules_out.write_text(json.dumps({"groups": [{"name": "dashboard-exprs", "rules": rules}]}, indent=1))
    for p in problems:
        print(f"dashboards: {p}", file=sys.stderr)
    print(f"dashboards: {len(files)} dashboards, {len(exprs)} queries, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
