"""Rendering and linting the Ledgerline charts with real Helm (Helm v4 as a library, helm-python-sdk).

The value sets every test runs against are declared here, once, with the cluster capabilities
each one is rendered with.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import helm_python
import yaml
from helm_python import _native

REPO_ROOT = Path(__file__).resolve().parents[2]
CHARTS = REPO_ROOT / "charts"
APP_CHART = CHARTS / "ledgerline"
OPERATOR_CHART = CHARTS / "ledgerline-operator"
# Dashboards and rules live once, in observability/; the app chart reaches them through its
# `observability` symlink.
OBSERVABILITY = REPO_ROOT / "observability"
RULES_FILE = OBSERVABILITY / "rules" / "ledgerline.rules.yml"
DASHBOARD_FILES = tuple(sorted((OBSERVABILITY / "dashboards").glob("*.json")))
SHARED_CRDS = REPO_ROOT.parent / "shared" / "crds"
# The oldest Kubernetes the charts support (Chart.yaml kubeVersion >=1.31).
KUBE_VERSION = "v1.31.0"
RELEASE = "ledgerline"
NAMESPACE = "ledgerline"
MONITORING_API = "monitoring.coreos.com/v1"


@dataclass(frozen=True)
class ValueSet:
    """A named combination of values files, rendered as `helm template -f a -f b`."""

    chart: Path
    name: str
    files: tuple[str, ...] = ()
    # API groups the simulated cluster serves beyond the built-in ones (.Capabilities).
    api_versions: tuple[str, ...] = ()
    release: str = RELEASE
    namespace: str = NAMESPACE
    overrides: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.chart.name}:{self.name}"

    def values(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for name in self.files:
            # Helm's own YAML parser, so anchors and merge keys mean what they mean to `helm -f`.
            merged = deep_merge(merged, helm_python.values_from_yaml((self.chart / name).read_text()) or {})
        return deep_merge(merged, self.overrides)


APP_VALUE_SETS = (
    ValueSet(APP_CHART, "defaults"),
    ValueSet(APP_CHART, "dev", ("values-dev.yaml",)),
    ValueSet(APP_CHART, "production", ("values-production.yaml",), (MONITORING_API,)),
    ValueSet(APP_CHART, "all-optional", ("ci/values-all-optional.yaml",), (MONITORING_API,)),
    ValueSet(APP_CHART, "external", ("ci/values-external.yaml",)),
)


def _operator_set(name: str, *files: str) -> ValueSet:
    # The operator is installed as release "ledgerline-operator" in its own namespace.
    return ValueSet(OPERATOR_CHART, name, files, release="ledgerline-operator", namespace="ledgerline-system")


OPERATOR_VALUE_SETS = (
    _operator_set("defaults"),
    _operator_set("dev", "values-dev.yaml"),
    _operator_set("production", "values-production.yaml"),
    _operator_set("all-optional", "ci/values-all-optional.yaml"),
    _operator_set("standalone", "ci/values-standalone.yaml"),
)
ALL_VALUE_SETS = APP_VALUE_SETS + OPERATOR_VALUE_SETS


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of values files: maps merge key by key, everything else is replaced."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


@cache
def _chart(path: Path) -> helm_python.Chart:
    return helm_python.Chart.load(path)


def render(
    chart: Path,
    values: dict[str, Any] | None = None,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    api_versions: tuple[str, ...] = (),
    is_upgrade: bool = False,
) -> dict[str, str]:
    """`helm template` offline: template path -> rendered text (hooks and tests included).

    The SDK's public Chart.render() has no kube_version/api_versions arguments, but its native
    helm_render entry point accepts them in the same options object (the fields of `helm
    template --kube-version/--api-versions`), so this calls it directly.
    """
    options = {
        "name": release,
        "namespace": namespace,
        "is_install": not is_upgrade,
        "is_upgrade": is_upgrade,
        "kube_version": KUBE_VERSION,
        "api_versions": list(api_versions),
    }
    handle = _chart(chart)
    payload = _native.call_string("helm_render", handle._raw(), json.dumps(values or {}), json.dumps(options))
    rendered: dict[str, str] = json.loads(payload)
    return rendered


def render_value_set(value_set: ValueSet) -> dict[str, str]:
    return render(
        value_set.chart,
        value_set.values(),
        release=value_set.release,
        namespace=value_set.namespace,
        api_versions=value_set.api_versions,
    )


@dataclass(frozen=True)
class Manifest:
    """One rendered Kubernetes object and the template that produced it."""

    template: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind"))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name"))

    @property
    def annotations(self) -> dict[str, str]:
        return self.obj.get("metadata", {}).get("annotations") or {}

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} ({self.template})"


def manifests(rendered: dict[str, str]) -> list[Manifest]:
    """Every object in the rendered templates (NOTES.txt and empty documents skipped)."""
    found: list[Manifest] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                found.append(Manifest(template, document))
    return found


def crd_manifests(chart: Path) -> list[Manifest]:
    """The CRDs Helm installs from the chart's crds/ folder (never templated)."""
    found: list[Manifest] = []
    for path in sorted((chart / "crds").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append(Manifest(f"crds/{path.name}", document))
    return found


def lint(value_set: ValueSet) -> dict[str, Any]:
    """`helm lint --strict` with the value set's values."""
    return helm_python.lint(
        value_set.chart,
        value_set.values(),
        strict=True,
        namespace=value_set.namespace,
        kube_version=KUBE_VERSION,
    )


def pod_specs(items: list[Manifest]) -> list[tuple[Manifest, dict[str, Any]]]:
    """(object, pod spec) for every workload that runs pods."""
    found = []
    for m in items:
        if m.kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            found.append((m, m.obj["spec"]["template"]["spec"]))
        elif m.kind == "Pod":
            found.append((m, m.obj["spec"]))
    return found


def pod_labels(m: Manifest) -> dict[str, str]:
    if m.kind == "Pod":
        return m.obj["metadata"].get("labels") or {}
    return m.obj["spec"]["template"]["metadata"].get("labels") or {}


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (matchLabels and matchExpressions) against a label set."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True
