"""Every rendered object validates against the real schema of its kind: Kubernetes 1.31 for
built-in kinds, the upstream CRDs for Strimzi, CloudNativePG, Prometheus Operator, kopf and
Gateway API kinds, and the charts' own CRDs for Ledgerline kinds."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.k8s import charts, crdschemas, toolchain
from tests.k8s.conftest import RenderCache

K8S_VERSION = "1.31"
# Kinds whose CRD is not in shared/crds; their schemas come from the projects' Go modules.
GO_MODULE_KINDS = {
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): lambda: toolchain.gateway_api_crd("httproutes"),
    ("postgresql.cnpg.io/v1", "Database"): lambda: toolchain.cnpg_crd("databases"),
}


def _is_builtin(obj: dict[str, Any]) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return "." not in group or (group.endswith(".k8s.io") and not group.startswith("gateway."))


def _custom_schema(obj: dict[str, Any]) -> dict[str, Any]:
    key = (obj["apiVersion"], obj["kind"])
    schemas = {**crdschemas.shared_schemas(), **crdschemas.own_schemas()}
    if key in schemas:
        return schemas[key]
    raise KeyError(key)


def test_builtin_kinds_validate_strictly(value_set: charts.ValueSet, render_cache: RenderCache) -> None:
    failures = []
    for m in render_cache.manifests(value_set):
        if not _is_builtin(m.obj):
            continue
        try:
            kubernetes_validate.validate(m.obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{m}: {error.message} at {'/'.join(map(str, error.path))}")
    assert not failures, "\n".join(failures)


def test_custom_kinds_validate_against_their_crds(value_set: charts.ValueSet, render_cache: RenderCache) -> None:
    failures = []
    for m in render_cache.manifests(value_set):
        key = (m.obj["apiVersion"], m.kind)
        if _is_builtin(m.obj) or key in GO_MODULE_KINDS:
            continue
        try:
            schema = _custom_schema(m.obj)
        except KeyError:
            failures.append(f"{m}: no CRD schema known for {key}")
            continue
        failures.extend(f"{m}: {e}" for e in crdschemas.errors(schema, m.obj))
    assert not failures, "\n".join(failures)


@pytest.mark.needs_go
@pytest.mark.timeout(900)
def test_gateway_and_cnpg_database_kinds_validate(render_cache: RenderCache) -> None:
    """HTTPRoute and CNPG Database objects, against CRDs read from the projects' Go modules."""
    checked: set[str] = set()
    failures: list[str] = []
    for value_set in charts.APP_VALUE_SETS:
        for m in render_cache.manifests(value_set):
            key = (m.obj["apiVersion"], m.kind)
            if key not in GO_MODULE_KINDS:
                continue
            try:
                path = GO_MODULE_KINDS[key]()
            except toolchain.ToolUnavailable as error:
                pytest.skip(str(error))
            crds = crdschemas.load_crds(path)
            schema = next(s for c in crds for k, s in crdschemas.schemas_of(c).items() if k == key)
            failures.extend(f"{value_set.id} {m}: {e}" for e in crdschemas.errors(schema, m.obj))
            checked.add(m.kind)
    assert checked == {"HTTPRoute", "Database"}, "the value sets must exercise both kinds"
    assert not failures, "\n".join(failures)


def test_own_crds_are_valid_kubernetes_objects() -> None:
    for m in charts.crd_manifests(charts.OPERATOR_CHART):
        kubernetes_validate.validate(m.obj, K8S_VERSION, strict=True)
