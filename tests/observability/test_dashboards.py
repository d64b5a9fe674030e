"""The dashboards are Grafana JSON that imports cleanly and reads well: a unique uid, unique panel
ids, panels inside the 24-column grid without overlapping, and every query panel bound to the
datasource variable with uniquely named queries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.observability.conftest import DASHBOARD_FILES

GRID_COLUMNS = 24


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def test_there_are_dashboards() -> None:
    assert DASHBOARD_FILES, "no dashboards under observability/dashboards"


def test_dashboard_uids_are_unique() -> None:
    uids = [json.loads(path.read_text())["uid"] for path in DASHBOARD_FILES]
    assert len(uids) == len(set(uids)), uids


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_panels_have_unique_ids_and_do_not_overlap(path: Path) -> None:
    panels = _panels(json.loads(path.read_text()))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    taken: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_COLUMNS, f"{panel['title']} leaves the grid"
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_query_panels_use_the_datasource_variable(path: Path) -> None:
    for panel in _panels(json.loads(path.read_text())):
        if panel["type"] == "row":
            continue
        # A fixed datasource uid would not exist in another Grafana; the variable lets users pick.
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), f"{panel['title']}: queries need unique refIds"
        assert panel.get("description"), f"{panel['title']} does not say what it shows"
