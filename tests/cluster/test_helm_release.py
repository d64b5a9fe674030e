"""Proves both charts install, upgrade and uninstall with real Helm against a real API server: every
object passes server-side validation (third-party CRs included), Deployments become Available, the
migrations hook Job completes, an upgrade rolls the Deployments and keeps every generated secret
(the identity service's key-encryption secret, the service clients', the database and Redis
passwords), and uninstall removes everything but the key-encryption secret, kept on purpose."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.cluster.harness import ControlPlane
from tests.cluster.releases import (
    APP_RELEASE,
    app_values,
    apply_third_party_crds,
    ensure_operator_release,
    helm_config,
    objects,
    provide_volumes,
    wait_for,
)
from tests.k8s.charts import APP_CHART

HELM_TIMEOUT_S = 90
ROLLOUT_TIMEOUT_S = 60.0
UNINSTALL_TIMEOUT_S = 60.0
NAMESPACE = "ledgerline"
INSTANCE = f"app.kubernetes.io/instance={APP_RELEASE}"
SERVICES = ("wallet", "ledger", "payment", "notification", "banksim", "reference")
# The chart's custom resources that must reach the API server (kind -> how many at least).
EXPECTED_CRS = {
    "kafkas.kafka.strimzi.io": 1,
    "kafkanodepools.kafka.strimzi.io": 1,
    "clusters.postgresql.cnpg.io": 1,
    "databases.postgresql.cnpg.io": 1,
    "ledgerlinetopics.ledgerline.io": 1,
    "servicemonitors.monitoring.coreos.com": 1,
    "prometheusrules.monitoring.coreos.com": 1,
}
# Without it the signing keys stored in the identity database cannot be opened again.
KEPT_SECRET = f"{APP_RELEASE}-identity-keys"
# Generated once: a new value on upgrade would lock the services out of their databases, Redis and
# the identity service, and end every session.
GENERATED_SECRETS = {
    KEPT_SECRET,
    f"{APP_RELEASE}-service-clients",
    f"{APP_RELEASE}-redis",
    *(f"{APP_RELEASE}-db-{role}" for role in ("ledger", "payment", "notification", "identity", "rewards", "verifier")),
}


def deployment_available(deployment: dict[str, Any]) -> bool:
    status = deployment.get("status", {})
    available = any(c["type"] == "Available" and c["status"] == "True" for c in status.get("conditions", []))
    return (
        available
        and status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == deployment["spec"]["replicas"]
        and status.get("availableReplicas", 0) == deployment["spec"]["replicas"]
    )


def generated_secrets(plane: ControlPlane) -> dict[str, dict[str, str]]:
    """The chart's generated Secrets by name, with their data."""
    return {
        s["metadata"]["name"]: s["data"]
        for s in objects(plane, "secrets", NAMESPACE)
        if s["metadata"]["name"] in GENERATED_SECRETS
    }


def deployment_summary(plane: ControlPlane) -> str:
    return plane.kubectl("get", "deployments,replicasets,pods,jobs", "-n", NAMESPACE, "-o", "wide", check=False)


def test_ledgerline_chart_installs_upgrades_and_uninstalls(control_plane: ControlPlane) -> None:
    plane = control_plane
    started = time.monotonic()
    apply_third_party_crds(plane)
    provide_volumes(plane, 1)  # Redis's claim
    ensure_operator_release(plane, HELM_TIMEOUT_S)  # brings the LedgerlineTopic CRD
    operator_deploy = objects(plane, "deployments", "ledgerline-system")
    assert [d["metadata"]["name"] for d in operator_deploy] == ["ledgerline-operator"]
    assert deployment_available(operator_deploy[0])

    with helm_config(plane, NAMESPACE) as helm:
        release = helm.install(
            APP_CHART,
            APP_RELEASE,
            app_values(),
            namespace=NAMESPACE,
            create_namespace=True,
            wait="watcher",
            timeout=HELM_TIMEOUT_S,
        )
        assert (release["status"], release["revision"]) == ("deployed", 1), release.get("status")
        assert helm.status(APP_RELEASE)["status"] == "deployed"

        deployments = objects(plane, "deployments", NAMESPACE, INSTANCE)
        names = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments}
        assert set(SERVICES) <= names, names
        for d in deployments:
            assert deployment_available(d), f"{d['metadata']['name']} not Available:\n{deployment_summary(plane)}"

        # The post-install migrations hook ran to completion (kwok completes Job pods) and was
        # deleted by its hook-succeeded policy; its pod went through Succeeded.
        events = plane.kubectl("get", "events", "-n", NAMESPACE, "-o", "json")
        job_events = [
            e
            for e in json.loads(events)["items"]
            if e["involvedObject"]["kind"] == "Job" and e["involvedObject"]["name"].endswith("-migrations")
        ]
        assert any(e["reason"] == "Completed" for e in job_events), [e["reason"] for e in job_events]
        assert objects(plane, "jobs", NAMESPACE) == [], "the hook Job should be deleted once it succeeded"

        for resource, at_least in EXPECTED_CRS.items():
            found = objects(plane, resource, NAMESPACE, INSTANCE)
            assert len(found) >= at_least, f"{resource}: {len(found)} in the API server"

        secrets_before = generated_secrets(plane)
        assert set(secrets_before) == GENERATED_SECRETS, sorted(secrets_before)

        # Upgrade with a changed pod annotation: every Deployment gets a new generation and a new
        # ReplicaSet, and rolls out to Available again.
        before = {d["metadata"]["name"]: d["metadata"]["generation"] for d in deployments}
        replica_sets_before = {rs["metadata"]["name"] for rs in objects(plane, "replicasets", NAMESPACE, INSTANCE)}
        upgraded = helm.upgrade(
            APP_CHART,
            APP_RELEASE,
            app_values(podAnnotations={"ledgerline.io/rollout": "upgrade-test"}),
            namespace=NAMESPACE,
            wait="watcher",
            timeout=HELM_TIMEOUT_S,
        )
        assert (upgraded["status"], upgraded["revision"]) == ("deployed", 2), upgraded.get("status")

        def rolled() -> bool:
            current = objects(plane, "deployments", NAMESPACE, INSTANCE)
            return all(
                d["metadata"]["generation"] > before[d["metadata"]["name"]] and deployment_available(d) for d in current
            )

        wait_for(
            "every Deployment rolled to a new generation and Available",
            rolled,
            ROLLOUT_TIMEOUT_S,
            lambda: deployment_summary(plane),
        )
        for d in objects(plane, "deployments", NAMESPACE, INSTANCE):
            annotations = d["spec"]["template"]["metadata"].get("annotations") or {}
            assert annotations.get("ledgerline.io/rollout") == "upgrade-test", d["metadata"]["name"]
        replica_sets_after = {rs["metadata"]["name"] for rs in objects(plane, "replicasets", NAMESPACE, INSTANCE)}
        new_replica_sets = replica_sets_after - replica_sets_before
        assert len(new_replica_sets) >= len(before), f"new ReplicaSets: {sorted(new_replica_sets)}"
        assert generated_secrets(plane) == secrets_before, "an upgrade generated a secret again"

        helm.uninstall(APP_RELEASE, wait="watcher", timeout=HELM_TIMEOUT_S)

    kinds = "deployments,replicasets,services,configmaps,serviceaccounts,jobs," + ",".join(EXPECTED_CRS)

    def gone() -> bool:
        leftover = plane.kubectl("get", kinds, "-n", NAMESPACE, "-l", INSTANCE, "-o", "name")
        return leftover.strip() == ""

    wait_for(
        "helm uninstall to remove the release's objects",
        gone,
        UNINSTALL_TIMEOUT_S,
        lambda: plane.kubectl("get", kinds, "-n", NAMESPACE, "-l", INSTANCE, "-o", "name", check=False),
    )
    assert generated_secrets(plane) == {KEPT_SECRET: secrets_before[KEPT_SECRET]}, "only the key secret is kept"
    plane.kubectl("delete", "secret", KEPT_SECRET, "-n", NAMESPACE)
    print(f"helm install/upgrade/uninstall cycle took {time.monotonic() - started:.1f}s")
