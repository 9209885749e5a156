"""Second gate after the conformance runner: an expected failure may fail only its named checks.

The runner's baseline works per scenario, so a listed scenario that also fails a check unrelated
to the fixtures (say a server-stateless check of the 2026-07-28 wire) would pass unnoticed. This
reads the runner's ``-o`` results and the ``checks:`` map of the expected-failures file and
exits 1 when any failing check of any scenario is not allowed there.

    python conformance/check_results.py RESULTS_DIR EXPECTED_FAILURES_YML
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

#: the runner's baseline counts a WARNING (a SHOULD not met) as a failure too
FAILING = ("FAILURE", "WARNING")
_STAMP = re.compile(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


def main(results_dir: str, expected_file: str) -> int:
    expected = yaml.safe_load(Path(expected_file).read_text()) or {}
    listed = set(expected.get("server") or [])
    allowed: dict[str, set[str]] = {k: set(v) for k, v in (expected.get("checks") or {}).items()}
    problems = [f"{name}: listed under server: but has no checks: entry" for name in listed - set(allowed)]
    problems += [f"{name}: has a checks: entry but is not under server:" for name in set(allowed) - listed]
    runs = sorted(Path(results_dir).glob("server-*/checks.json"))
    if not runs:
        problems.append(f"no results under {results_dir}")
    for path in runs:
        scenario = _STAMP.sub("", path.parent.name)[len("server-") :]
        for check in json.loads(path.read_text()):
            if check.get("status") not in FAILING:
                continue
            if check.get("id") not in allowed.get(scenario, set()):
                message = (check.get("errorMessage") or "")[:200]
                status = check["status"]
                problems.append(f"{scenario}: unexpected {status} check {check.get('id')}: {message}")
    for problem in problems:
        print(f"conformance check: {problem}", file=sys.stderr)
    print(f"conformance check: {len(runs)} scenarios, {'OK' if not problems else 'FAILED'}")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
