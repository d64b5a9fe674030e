"""Both charts render and pass `helm lint --strict` (real Helm v4) for every value set."""

from __future__ import annotations

from tests.k8s import charts
from tests.k8s.conftest import RenderCache

SEVERITY = {0: "unknown", 1: "info", 2: "warning", 3: "error"}


def test_lint_strict_is_clean(value_set: charts.ValueSet) -> None:
    report = charts.lint(value_set)
    problems = [
        f"{SEVERITY.get(m['severity'])}: {m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2
    ]
    assert report["total_charts_linted"] == 1
    assert not problems and not report["errors"], "\n".join(problems + report["errors"])


def test_renders_objects_and_notes(value_set: charts.ValueSet, render_cache: RenderCache) -> None:
    rendered = render_cache.rendered(value_set)
    notes = [text for path, text in rendered.items() if path.endswith("NOTES.txt")]
    assert notes and "kubectl" in notes[0], "NOTES.txt must tell the user what to run next"
    assert len(render_cache.manifests(value_set)) >= 4


def test_upgrade_render_matches_install_objects(value_set: charts.ValueSet) -> None:
    """An upgrade renders the same objects as an install (no install-only resources)."""
    install = charts.manifests(charts.render_value_set(value_set))
    upgrade = charts.manifests(
        charts.render(
            value_set.chart,
            value_set.values(),
            release=value_set.release,
            namespace=value_set.namespace,
            api_versions=value_set.api_versions,
            is_upgrade=True,
        )
    )
    assert sorted(str(m) for m in install) == sorted(str(m) for m in upgrade)
