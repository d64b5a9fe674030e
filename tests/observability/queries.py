"""Every PromQL expression Ledgerline ships: each dashboard panel's queries and each rule's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from tests.observability.conftest import DASHBOARD_FILES, RULES_FILES

# `{{service}}` in a Grafana legend; `{{ $labels.service }}` in an alert's annotations.
_LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_ANNOTATION_LABEL = re.compile(r"\$labels\.(\w+)")


@dataclass
class Query:
    where: str
    expr: str
    # Placeholders that must be labels of the result: a legend or an alert's annotations.
    placeholders: frozenset[str] = frozenset()
    recording: bool = False


def dashboard_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))


def rules() -> list[dict[str, Any]]:
    return [
        rule for path in RULES_FILES for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
    ]


def dashboard_queries() -> list[Query]:
    queries = []
    for path in DASHBOARD_FILES:
        for panel in dashboard_panels(json.loads(path.read_text())["panels"]):
            for target in panel.get("targets", []):
                placeholders = frozenset(_LEGEND_LABEL.findall(target.get("legendFormat", "")))
                where = f"{path.name}: {panel['title']} ({target['refId']})"
                queries.append(Query(where, target["expr"], placeholders))
    return queries


def rule_queries() -> list[Query]:
    queries = []
    for rule in rules():
        placeholders = frozenset(_ANNOTATION_LABEL.findall(" ".join(rule.get("annotations", {}).values())))
        name = rule.get("record") or rule["alert"]
        queries.append(Query(f"rule {name}", rule["expr"], placeholders, recording="record" in rule))
    return queries
