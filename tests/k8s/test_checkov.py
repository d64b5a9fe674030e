"""checkov finds no failed check in the rendered manifests of every value set or in the Dockerfile;
every check it skips is skipped by an annotation that states a reason."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from tests.k8s import charts, toolchain
from tests.k8s.conftest import RenderCache

# The first run installs checkov into its own virtualenv (about a minute).
pytestmark = [pytest.mark.needs_checkov, pytest.mark.timeout(900)]


def _checkov(args: list[str]) -> list[dict[str, Any]]:
    try:
        executable = toolchain.checkov()
    except toolchain.ToolUnavailable as error:
        pytest.skip(str(error))
    result = subprocess.run(
        [str(executable), *args, "--compact", "--output", "json", "--skip-download"],
        capture_output=True,
        text=True,
        check=False,
    )
    # Exit code 1 means failed checks; anything else non-zero is a crash.
    assert result.returncode in (0, 1), result.stderr
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def _failures(reports: list[dict[str, Any]]) -> list[str]:
    return [
        f"{f['check_id']} {f['check_name']}: {f['file_path']} {f['resource']}"
        for report in reports
        for f in report["results"]["failed_checks"]
    ]


@pytest.fixture(scope="module")
def kubernetes_reports(render_cache: RenderCache, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """One checkov run over every value set (one file per object), to keep the suite fast."""
    root = tmp_path_factory.mktemp("rendered")
    for value_set in charts.ALL_VALUE_SETS:
        folder = root / value_set.id.replace(":", "_")
        folder.mkdir()
        for index, m in enumerate(render_cache.manifests(value_set)):
            (folder / f"{index:03d}-{m.kind}-{m.name}.yaml").write_text(yaml.safe_dump(m.obj))
    return _checkov(["--directory", str(root), "--framework", "kubernetes"])


def test_rendered_manifests_have_no_failed_checks(kubernetes_reports: list[dict[str, Any]]) -> None:
    assert sum(r["summary"]["passed"] for r in kubernetes_reports) > 1000, "checkov scanned nothing"
    assert _failures(kubernetes_reports) == []


def test_every_skip_states_a_reason(kubernetes_reports: list[dict[str, Any]]) -> None:
    skipped = [s for r in kubernetes_reports for s in r["results"]["skipped_checks"]]
    assert skipped, "the charts declare skips; checkov must report them"
    unexplained = [
        f"{s['check_id']} {s['resource']}"
        for s in skipped
        if len((s.get("check_result", {}).get("suppress_comment") or "").split()) < 5
    ]
    assert unexplained == []


def test_dockerfile_has_no_failed_checks() -> None:
    dockerfile = charts.REPO_ROOT / "docker" / "Dockerfile"
    reports = _checkov(["--file", str(dockerfile), "--framework", "dockerfile"])
    assert sum(r["summary"]["passed"] for r in reports) > 10
    assert _failures(reports) == []


def test_skip_reasons_live_in_the_templates() -> None:
    """Skips are written next to the object they concern; no global skip list hides a check."""
    assert not (charts.REPO_ROOT / ".checkov.yaml").exists()
    templates = [p for chart in (charts.APP_CHART, charts.OPERATOR_CHART) for p in (chart / "templates").rglob("*")]
    assert any("checkov.io/skip" in p.read_text() for p in templates if p.is_file())
