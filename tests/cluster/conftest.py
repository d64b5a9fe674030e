"""The `control_plane` session fixture: a real Kubernetes control plane (see harness.py), built
from source on first use and started once per session.

A cold build takes tens of minutes, so tests here get a timeout that covers the test function
only (func_only), not this fixture's setup; the build and the start have their own limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import build
from tests.cluster.harness import ControlPlane

CLUSTER_TEST_TIMEOUT_S = 180
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(CLUSTER_TEST_TIMEOUT_S, func_only=True))


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane()
    if not plane.built():
        try:
            plane.build()
            problem = ""
        except build.ToolchainMissing as exc:
            problem = f"cannot build the test control plane: {exc}"
        except build.BuildError as exc:
            problem = f"building the test control plane failed: {exc}"
        if problem:
            pytest.fail(problem, pytrace=False)
    plane.start(tmp_path_factory.mktemp("control-plane"))
    try:
        yield plane
    finally:
        plane.stop()
