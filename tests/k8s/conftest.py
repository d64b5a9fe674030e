"""Shared fixtures of the Kubernetes packaging tests: each value set is rendered once per session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.k8s import charts


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs_go: builds or downloads a tool with the Go toolchain (cached after the first run)"
    )
    config.addinivalue_line("markers", "needs_checkov: installs checkov into an isolated cached virtualenv")


class RenderCache:
    """Renders each value set at most once per test session."""

    def __init__(self) -> None:
        self._rendered: dict[str, dict[str, str]] = {}

    def rendered(self, value_set: charts.ValueSet) -> dict[str, str]:
        if value_set.id not in self._rendered:
            self._rendered[value_set.id] = charts.render_value_set(value_set)
        return self._rendered[value_set.id]

    def manifests(self, value_set: charts.ValueSet) -> list[charts.Manifest]:
        return charts.manifests(self.rendered(value_set))


@pytest.fixture(scope="session")
def render_cache() -> RenderCache:
    return RenderCache()


@pytest.fixture(scope="session", params=charts.ALL_VALUE_SETS, ids=lambda v: v.id)
def value_set(request: pytest.FixtureRequest) -> charts.ValueSet:
    chosen: charts.ValueSet = request.param
    return chosen


@pytest.fixture(scope="session", params=charts.APP_VALUE_SETS, ids=lambda v: v.id)
def app_value_set(request: pytest.FixtureRequest) -> charts.ValueSet:
    chosen: charts.ValueSet = request.param
    return chosen


@pytest.fixture(scope="session", params=charts.OPERATOR_VALUE_SETS, ids=lambda v: v.id)
def operator_value_set(request: pytest.FixtureRequest) -> charts.ValueSet:
    chosen: charts.ValueSet = request.param
    return chosen


@pytest.fixture(scope="session")
def app_by_name(render_cache: RenderCache) -> dict[str, list[charts.Manifest]]:
    """Manifests of the application chart, keyed by value set name."""
    return {v.name: render_cache.manifests(v) for v in charts.APP_VALUE_SETS}


@pytest.fixture(scope="session")
def operator_by_name(render_cache: RenderCache) -> dict[str, list[charts.Manifest]]:
    """Manifests of the operator chart, keyed by value set name."""
    return {v.name: render_cache.manifests(v) for v in charts.OPERATOR_VALUE_SETS}


def find(items: list[charts.Manifest], kind: str, name: str | None = None) -> list[charts.Manifest]:
    return [m for m in items if m.kind == kind and (name is None or m.name == name)]


def one(items: list[charts.Manifest], kind: str, name: str) -> dict[str, Any]:
    matches = find(items, kind, name)
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0].obj
