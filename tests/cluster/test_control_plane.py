"""Proves the from-source control plane behaves as a real cluster: built-in APIs served, two Ready
kwok nodes, Deployments, Jobs and StatefulSets progressing, a ServiceAccount held to its RBAC, and a
CRD's schema enforced by the server."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import build
from tests.cluster.harness import NODE_NAMES, ControlPlane, KubectlError

ROLLOUT_TIMEOUT = "90s"  # kubectl wait/rollout syntax
RBAC_PROPAGATION_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.5
IMAGE = "registry.invalid/ledgerline/never-pulled:1"  # kwok runs no container, so no image is fetched
SHARED_CRDS = Path(__file__).resolve().parents[2].parent / "shared" / "crds"


def apply(plane: ControlPlane, namespace: str, *objects: dict[str, Any]) -> None:
    plane.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
    )


def pod_template(app: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": app, "image": IMAGE}], **spec},
    }


def pods(plane: ControlPlane, namespace: str, app: str) -> list[dict[str, Any]]:
    out = plane.kubectl("get", "pods", "-n", namespace, "-l", f"app={app}", "-o", "json")
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod["status"].get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false")


def test_api_server_answers_and_serves_built_in_resources(control_plane: ControlPlane) -> None:
    version = json.loads(control_plane.kubectl("version", "-o", "json"))
    assert version["serverVersion"]["gitVersion"] == build.KUBERNETES_VERSION
    resources = set(control_plane.kubectl("api-resources", "-o", "name").split())
    for expected in (
        "pods",
        "services",
        "secrets",
        "serviceaccounts",
        "deployments.apps",
        "statefulsets.apps",
        "jobs.batch",
        "roles.rbac.authorization.k8s.io",
        "customresourcedefinitions.apiextensions.k8s.io",
        "leases.coordination.k8s.io",
    ):
        assert expected in resources


def test_both_kwok_nodes_are_ready(control_plane: ControlPlane) -> None:
    nodes = json.loads(control_plane.kubectl("get", "nodes", "-o", "json"))["items"]
    assert sorted(node["metadata"]["name"] for node in nodes) == sorted(NODE_NAMES)
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", node["metadata"]["name"]


def test_deployment_becomes_available_with_ready_pods(control_plane: ControlPlane, namespace: str) -> None:
    apply(
        control_plane,
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": pod_template("web")},
        },
    )
    control_plane.kubectl(
        "wait", "-n", namespace, "--for=condition=Available", "deployment/web", f"--timeout={ROLLOUT_TIMEOUT}"
    )
    running = pods(control_plane, namespace, "web")
    assert len(running) == 2
    assert all(is_ready(pod) and pod["status"]["phase"] == "Running" for pod in running)
    assert {pod["spec"]["nodeName"] for pod in running} <= set(NODE_NAMES)


def test_job_completes(control_plane: ControlPlane, namespace: str) -> None:
    apply(
        control_plane,
        namespace,
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "hook"},
            "spec": {"backoffLimit": 0, "template": pod_template("hook", restartPolicy="Never")},
        },
    )
    control_plane.kubectl(
        "wait", "-n", namespace, "--for=condition=Complete", "job/hook", f"--timeout={ROLLOUT_TIMEOUT}"
    )
    [pod] = pods(control_plane, namespace, "hook")
    assert pod["status"]["phase"] == "Succeeded"


def test_statefulset_becomes_ready(control_plane: ControlPlane, namespace: str) -> None:
    apply(
        control_plane,
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": pod_template("db"),
            },
        },
    )
    control_plane.kubectl("rollout", "status", "-n", namespace, "statefulset/db", f"--timeout={ROLLOUT_TIMEOUT}")
    status = json.loads(control_plane.kubectl("get", "statefulset", "db", "-n", namespace, "-o", "json"))["status"]
    assert status["readyReplicas"] == 2
    assert sorted(p["metadata"]["name"] for p in pods(control_plane, namespace, "db")) == ["db-0", "db-1"]


def test_service_account_is_held_to_its_rbac(control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kubeconfig = control_plane.kubeconfig_for_service_account(namespace, "reader")
    whoami = json.loads(control_plane.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig))
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:reader"

    with pytest.raises(KubectlError, match="forbidden"):
        control_plane.kubectl("get", "secrets", "-n", namespace, kubeconfig=kubeconfig)

    apply(
        control_plane,
        namespace,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "secret-reader"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    deadline = time.monotonic() + RBAC_PROPAGATION_TIMEOUT_S
    while True:  # the authorizer sees the new binding through its informer, a moment later
        try:
            control_plane.kubectl("get", "secrets", "-n", namespace, kubeconfig=kubeconfig)
            break
        except KubectlError:
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_INTERVAL_S)
    with pytest.raises(KubectlError, match="forbidden"):
        control_plane.kubectl("get", "secrets", "-n", "kube-system", kubeconfig=kubeconfig)
    with pytest.raises(KubectlError, match="forbidden"):
        control_plane.kubectl("delete", "secret", "anything", "-n", namespace, kubeconfig=kubeconfig)


def test_crd_schema_rejects_an_invalid_custom_resource(control_plane: ControlPlane, namespace: str) -> None:
    crd = SHARED_CRDS / "kafka.strimzi.io_kafkatopics.yaml"
    assert crd.is_file(), f"shared CRDs not found at {SHARED_CRDS}"
    control_plane.kubectl("apply", "--server-side", "-f", str(crd))
    control_plane.kubectl(
        "wait", "--for=condition=Established", "crd/kafkatopics.kafka.strimzi.io", f"--timeout={ROLLOUT_TIMEOUT}"
    )

    def topic(name: str, partitions: int) -> dict[str, Any]:
        return {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaTopic",
            "metadata": {"name": name, "labels": {"strimzi.io/cluster": "ledgerline"}},
            "spec": {"partitions": partitions, "replicas": 1},
        }

    with pytest.raises(KubectlError) as rejected:
        apply(control_plane, namespace, topic("broken", 0))
    assert "spec.partitions" in rejected.value.stderr
    assert "greater than or equal to 1" in rejected.value.stderr
    apply(control_plane, namespace, topic("fine", 3))
    assert (
        control_plane.kubectl("get", "kafkatopic", "fine", "-n", namespace, "-o", "jsonpath={.spec.partitions}") == "3"
    )
