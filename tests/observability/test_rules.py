"""promtool accepts the alert and recording rules and passes their unit tests, and those tests
make every alert fire and stay silent at least once and evaluate every recording rule; every
alert has a runbook section."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.observability.conftest import REPO_ROOT, RULE_TEST_FILES, RULES_FILES

PROMTOOL_TIMEOUT_S = 120
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"


def _promtool(promtool: Path, *args: str) -> None:
    result = subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


def _rules() -> list[dict[str, Any]]:
    return [
        rule for path in RULES_FILES for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
    ]


def _tests() -> list[dict[str, Any]]:
    return [test for path in RULE_TEST_FILES for test in yaml.safe_load(path.read_text())["tests"]]


def test_there_are_rules_and_rule_tests() -> None:
    assert RULES_FILES, "no rules under observability/rules"
    assert RULE_TEST_FILES, "no promtool tests under observability/tests"


def test_promtool_accepts_the_rules(promtool: Path) -> None:
    _promtool(promtool, "check", "rules", *map(str, RULES_FILES))


def test_promtool_unit_tests_pass(promtool: Path) -> None:
    _promtool(promtool, "test", "rules", *map(str, RULE_TEST_FILES))


def test_every_alert_is_proven_to_fire_and_to_stay_silent() -> None:
    """An alert tested only where it fires could be `vector(1)`; one tested only where it stays
    silent could never fire. Each needs both."""
    checks = [check for test in _tests() for check in test.get("alert_rule_test", [])]
    for rule in _rules():
        if "alert" not in rule:
            continue
        name = rule["alert"]
        assert any(c["alertname"] == name and c.get("exp_alerts") for c in checks), f"{name} is never seen firing"
        assert any(c["alertname"] == name and not c.get("exp_alerts") for c in checks), (
            f"{name} is never seen staying silent"
        )


def test_every_recording_rule_is_evaluated_by_a_test() -> None:
    expressions = " ".join(check["expr"] for test in _tests() for check in test.get("promql_expr_test", []))
    missing = [rule["record"] for rule in _rules() if "record" in rule and rule["record"] not in expressions]
    assert not missing, f"no promql_expr_test reads {missing}"


def test_every_alert_has_a_runbook_section() -> None:
    """The on-call person paged by an alert finds a section of docs/runbook.md named after it."""
    sections = set(re.findall(r"^## (\w+)$", RUNBOOK.read_text(), flags=re.MULTILINE))
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert not alerts - sections, f"no runbook section for {sorted(alerts - sections)}"
    assert not sections - alerts, f"runbook sections for alerts that do not exist: {sorted(sections - alerts)}"
