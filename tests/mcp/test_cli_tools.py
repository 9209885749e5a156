"""``kaireon-mcp tools`` and the stdio command's argument checks (in-process, no server)."""

from __future__ import annotations

import json

import pytest

from kaireon_mcp.cli import main
from kaireon_mcp.tools import load_all


def test_tools_json_lists_the_route_subset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--route", "/algorithms/models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == {t.name for t in load_all().all() if t.exposed_on("AL")}
    assert {r["rw"] for r in rows} <= {"R", "W"} and all(r["title"] for r in rows)


def test_tools_table_has_one_line_per_tool(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--route", "/"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == len(load_all()) and "searchDocs" in captured.out
    assert f"{len(lines)} tools on route / (General)" in captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["tools", "--route", "bad route"],
        ["stdio", "--route", "/x?y=<z>"],
        ["stdio", "--tools", "noSuchTool"],
        ["stdio", "--exclude-tools", "searchDocs,alsoMissing"],
    ],
)
def test_bad_values_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1 and "Traceback" not in err
