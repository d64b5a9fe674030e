"""Validating custom resources offline against the openAPIV3Schema of their real CRDs."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.k8s import charts

# Third-party CRDs copied verbatim into shared/crds (see its SOURCES.md).
SHARED_CRD_FILES = (
    "kafka.strimzi.io_kafkas.yaml",
    "kafka.strimzi.io_kafkanodepools.yaml",
    "kafka.strimzi.io_kafkatopics.yaml",
    "postgresql.cnpg.io_clusters.yaml",
    "postgresql.cnpg.io_poolers.yaml",
    "monitoring.coreos.com_servicemonitors.yaml",
    "monitoring.coreos.com_podmonitors.yaml",
    "monitoring.coreos.com_prometheusrules.yaml",
    "kopf.dev_clusterkopfpeerings.yaml",
    "kopf.dev_kopfpeerings.yaml",
)


def load_crds(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "CustomResourceDefinition"]


def schemas_of(crd: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """{(apiVersion, kind): openAPIV3Schema} for every served version of a CRD."""
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"]
    return {
        (f"{group}/{version['name']}", kind): version["schema"]["openAPIV3Schema"]
        for version in crd["spec"]["versions"]
        if version.get("served", True)
    }


@cache
def shared_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name in SHARED_CRD_FILES:
        path = charts.SHARED_CRDS / name
        assert path.exists(), f"{path} is missing: the tests expect shared/ beside the repository"
        for crd in load_crds(path):
            found.update(schemas_of(crd))
    return found


@cache
def own_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((charts.OPERATOR_CHART / "crds").glob("*.yaml")):
        for crd in load_crds(path):
            found.update(schemas_of(crd))
    return found


def errors(schema: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """Draft 4 validation (the dialect openAPIV3Schema is based on) with format checks, so a
    malformed date-time is rejected as the API server would, plus unknown-field detection."""
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    found = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    ]
    return found + unknown_fields(schema, obj)


def unknown_fields(schema: dict[str, Any], obj: Any, path: str = "") -> list[str]:
    """Fields the schema does not declare. The API server prunes them silently (or rejects them
    with `kubectl apply --validate=strict`), so a typo in a CR would otherwise go unnoticed.
    The root's apiVersion, kind and metadata are always allowed; metadata is declared only
    as `type: object`."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found: list[str] = []
    if isinstance(obj, dict) and "properties" in schema:
        declared = schema["properties"]
        for key, value in obj.items():
            where = f"{path}/{key}" if path else key
            if where in ("apiVersion", "kind", "metadata"):
                continue
            if key in declared:
                found.extend(unknown_fields(declared[key], value, where))
            elif schema.get("additionalProperties") in (None, False):
                found.append(f"{where}: field is not declared by the CRD")
    elif isinstance(obj, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, value in obj.items():
            found.extend(unknown_fields(schema["additionalProperties"], value, f"{path}/{key}"))
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(obj):
            found.extend(unknown_fields(schema["items"], item, f"{path}/{index}"))
    return found
