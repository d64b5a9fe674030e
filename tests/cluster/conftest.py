"""The `control_plane` session fixture: a real Kubernetes control plane (see harness.py), built
from source on first use and started once per session.

A cold build takes tens of minutes, so tests here get a timeout that covers the test function
only (func_only), not this fixture's setup; the build and the start have their own limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerline.infra.launcher import Infrastructure
from tests.cluster import build
from tests.cluster.harness import ControlPlane
from tests.cluster.releases import LocalOperator, ensure_operator_release

CLUSTER_TEST_TIMEOUT_S = 180
OPERATOR_CHART_TIMEOUT_S = 90
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


@pytest.fixture
def local_operator(control_plane: ControlPlane, infra: Infrastructure, tmp_path: Path) -> Iterator[LocalOperator]:
    """The operator chart installed (ServiceAccount, RBAC, CRDs, peering) and the operator running
    locally as that ServiceAccount against the test broker; stopped with SIGTERM afterwards."""
    ensure_operator_release(control_plane, OPERATOR_CHART_TIMEOUT_S)
    operator = LocalOperator(control_plane, infra.kafka.bootstrap_servers, tmp_path)
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()
