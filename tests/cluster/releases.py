"""Helpers for the cluster tests: third-party CRDs, Helm releases through helm-python (Helm v4
as a library, the same code path as `helm install/upgrade/uninstall`) against the test API server,
and named waits that fail with what they waited for."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python

from ledgerline.infra.process import ManagedProcess, free_port, log_tail
from tests.cluster.harness import ControlPlane
from tests.k8s import toolchain
from tests.k8s.charts import APP_CHART, OPERATOR_CHART, SHARED_CRDS

CRD_ESTABLISHED_TIMEOUT = "60s"  # kubectl wait syntax
POLL_INTERVAL_S = 0.5

# Third-party CRDs the ledgerline chart's dev values create objects of (Strimzi, CloudNativePG,
# Prometheus operator), plus kopf's peering CRD the operator chart expects.
THIRD_PARTY_CRD_FILES = (
    "kafka.strimzi.io_kafkas.yaml",
    "kafka.strimzi.io_kafkanodepools.yaml",
    "postgresql.cnpg.io_clusters.yaml",
    "monitoring.coreos.com_servicemonitors.yaml",
    "monitoring.coreos.com_podmonitors.yaml",
    "monitoring.coreos.com_prometheusrules.yaml",
)

OPERATOR_RELEASE = "ledgerline-operator"
OPERATOR_NAMESPACE = "ledgerline-system"
APP_RELEASE = "ledgerline"


def apply_third_party_crds(plane: ControlPlane) -> None:
    """Apply the CRDs (server-side: the Strimzi ones exceed the client-side annotation limit)
    and wait until the API server serves them."""
    paths = [SHARED_CRDS / name for name in THIRD_PARTY_CRD_FILES] + [toolchain.cnpg_crd("databases")]
    args: list[str] = ["apply", "--server-side", "--force-conflicts"]
    for path in paths:
        args += ["-f", str(path)]
    plane.kubectl(*args)
    plane.kubectl("wait", "--for=condition=Established", f"--timeout={CRD_ESTABLISHED_TIMEOUT}", "crd", "--all")


def provide_volumes(plane: ControlPlane, count: int, size: str = "2Gi") -> None:
    """Pre-provisioned PersistentVolumes (the test cluster has no provisioner and no default
    StorageClass), so the chart's StatefulSet claims (Redis) bind and their pods get scheduled.
    hostPath is never mounted: kwok runs no container."""
    volumes = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"test-volume-{index}"},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "hostPath": {"path": f"/tmp/ledgerline-test-volume-{index}"},
            },
        }
        for index in range(count)
    ]
    plane.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": volumes}))


def helm_config(plane: ControlPlane, namespace: str) -> helm_python.Config:
    return helm_python.Config(kubeconfig_path=plane.admin_kubeconfig, namespace=namespace)


def chart_values(chart: Path, *files: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in files:
        merged = _merge(merged, helm_python.values_from_yaml((chart / name).read_text()) or {})
    return merged


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def operator_values(**overrides: Any) -> dict[str, Any]:
    return _merge(chart_values(OPERATOR_CHART, "values-dev.yaml"), overrides)


def app_values(**overrides: Any) -> dict[str, Any]:
    return _merge(chart_values(APP_CHART, "values-dev.yaml"), overrides)


def install_operator_chart(plane: ControlPlane, timeout_s: int) -> dict[str, Any]:
    """`helm install ledgerline-operator charts/ledgerline-operator -n ledgerline-system
    --create-namespace -f values-dev.yaml --wait` (its crds/ are installed by Helm)."""
    with helm_config(plane, OPERATOR_NAMESPACE) as config:
        return config.install(
            OPERATOR_CHART,
            OPERATOR_RELEASE,
            operator_values(),
            namespace=OPERATOR_NAMESPACE,
            create_namespace=True,
            wait="watcher",
            timeout=timeout_s,
        )


def objects(plane: ControlPlane, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    args = ["get", kind, "-n", namespace, "-o", "json"]
    if selector:
        args += ["-l", selector]
    items: list[dict[str, Any]] = json.loads(plane.kubectl(*args))["items"]
    return items


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, diagnostics: Callable[[], str] = str) -> None:
    """Poll until check() holds; on timeout fail with what was awaited plus diagnostics()."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(POLL_INTERVAL_S)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}\n{diagnostics()}")


def ensure_operator_release(plane: ControlPlane, timeout_s: int) -> None:
    """Install the operator chart once per cluster (the tests share one session control plane)."""
    with helm_config(plane, OPERATOR_NAMESPACE) as config:
        if any(r["name"] == OPERATOR_RELEASE for r in config.list(all_states=True)):
            return
    install_operator_chart(plane, timeout_s)


class LocalOperator:
    """The operator as a local process (`kopf run`, exactly the chart's arguments), authenticated as
    the chart's ServiceAccount so every missing RBAC rule shows, talking to the test broker."""

    READY_TIMEOUT_S = 30.0

    def __init__(self, plane: ControlPlane, bootstrap_servers: str, log_dir: Path) -> None:
        self.plane = plane
        self.bootstrap_servers = bootstrap_servers
        self.log_path = log_dir / "operator.log"
        self.kubeconfig = plane.kubeconfig_for_service_account(OPERATOR_NAMESPACE, OPERATOR_RELEASE)
        self.process: ManagedProcess | None = None
        self.starts = 0

    def start(self) -> None:
        port = free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "LEDGERLINE_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "LEDGERLINE_ENVIRONMENT": "test",
            "LEDGERLINE_LOG_LEVEL": "DEBUG",
        }
        self.starts += 1
        with self.log_path.open("a") as log:
            log.write(f"===== operator start #{self.starts} =====\n")
        self.process = ManagedProcess(
            "ledgerline-operator",
            [
                str(VENV_BIN / "kopf"),
                "run",
                "-m",
                "ledgerline_operator.main",
                "--all-namespaces",
                f"--peering={OPERATOR_RELEASE}",
                f"--liveness=http://127.0.0.1:{port}/healthz",
                "--verbose",
            ],
            log_path=self.log_path,
            env=env,
        )
        self.process.start()
        self.process.wait_ready(lambda: _http_ok(f"http://127.0.0.1:{port}/healthz"), timeout_s=self.READY_TIMEOUT_S)

    def stop(self) -> None:
        """SIGTERM, as Kubernetes stops a pod; kopf finishes its handlers and exits."""
        if self.process is not None:
            self.process.stop(timeout_s=OPERATOR_STOP_TIMEOUT_S)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def forbidden(self) -> list[str]:
        """Log lines of API requests the ServiceAccount was refused (kopf logs and carries on)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if "Forbidden" in line or "forbidden" in line]

    def tail(self) -> str:
        return f"--- operator log ({self.log_path}):\n{log_tail(self.log_path, 60)}"


OPERATOR_STOP_TIMEOUT_S = 20.0
VENV_BIN = Path(sys.executable).parent


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False
