"""Every metric and label that the dashboards and the rules query is one the code registers, read
from prometheus-client's registries (the services' default one and the operator's own) after
importing every module of the services and the operator; and every Ledgerline metric the code
registers is on the overview dashboard."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re

import pytest
from prometheus_client import REGISTRY
from prometheus_client.registry import Collector

import ledgerline
import ledgerline_operator
from ledgerline_operator.metrics import OPERATOR_REGISTRY
from tests.observability.conftest import DASHBOARD_FILES
from tests.observability.promql import References, references
from tests.observability.queries import Query, dashboard_queries, rule_queries, rules

# Labels Prometheus attaches to every scraped series: `job` and `instance` always, `service` in
# the local scrape configuration and from a ServiceMonitor, `namespace` and `pod` in Kubernetes.
TARGET_LABELS = frozenset({"job", "instance", "service", "namespace", "pod"})
# The series each metric type exposes, by suffix, and the labels a suffix adds.
EXPOSED_SUFFIXES = {
    "counter": {"_total": (), "_created": ()},
    "gauge": {"": ()},
    "histogram": {"_bucket": ("le",), "_count": (), "_sum": (), "_created": ()},
    "summary": {"": ("quantile",), "_count": (), "_sum": (), "_created": ()},
    "info": {"_info": ()},
}
_LABEL_VALUES = re.compile(r"label_values\(\s*([\w:]+)\s*,\s*(\w+)\s*\)")


def _import_everything() -> None:
    """Import every module, so every metric defined at module level is registered. Left out: the
    modules inside a service's Alembic migrations package (env.py migrates when imported) and
    `__main__` (it runs the command)."""
    for package in (ledgerline, ledgerline_operator):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations." not in module.name and not module.name.endswith("__main__"):
                importlib.import_module(module.name)


def _collectors() -> list[Collector]:
    """The services' collectors (the default registry) and the operator's (a registry of its own)."""
    return [collector for registry in (REGISTRY, OPERATOR_REGISTRY) for collector in list(registry._collector_to_names)]


def _registered() -> dict[str, frozenset[str]]:
    """Exposed series name -> its label names, for every collector in the default registry."""
    _import_everything()
    exposed: dict[str, frozenset[str]] = {}
    # prometheus-client has no public way to list the registry's collectors or a metric's label
    # names (a labelled metric without children collects no samples), hence the two private reads.
    for collector in _collectors():
        labelnames = tuple(getattr(collector, "_labelnames", ()))
        # The process and GC collectors have no describe(); they always have samples.
        describe = getattr(collector, "describe", collector.collect)
        for family in describe():
            for suffix, extra in EXPOSED_SUFFIXES[family.type].items():
                exposed[family.name + suffix] = frozenset(labelnames + extra)
            for sample in family.samples:
                exposed.setdefault(sample.name, frozenset(sample.labels))
    return exposed


@pytest.fixture(scope="module")
def known() -> dict[str, frozenset[str]]:
    """Registered series, and the series the recording rules write with the labels they keep."""
    series = dict(_registered())
    for rule in rules():
        if "record" in rule:
            series[rule["record"]] = frozenset(references(rule["expr"]).grouping - {"le"})
    return series


def test_the_registry_holds_the_platform_metrics(known: dict[str, frozenset[str]]) -> None:
    # A guard against an import walk that found nothing: these two come from the shared core.
    assert {"ledgerline_http_requests_total", "ledgerline_consumer_lag"} <= set(known)


@pytest.mark.parametrize("query", dashboard_queries() + rule_queries(), ids=lambda q: q.where)
def test_queries_use_registered_metrics_and_labels(query: Query, known: dict[str, frozenset[str]]) -> None:
    found: References = references(query.expr)
    assert found.metrics, f"{query.where}: no metric in {query.expr!r}"
    unknown = sorted(found.metrics - set(known))
    assert not unknown, f"{query.where}: the code registers no {unknown}"
    available = TARGET_LABELS.union(*(known[m] for m in found.metrics))
    for metric, label in found.matchers:
        labels = TARGET_LABELS | known[metric] if metric else available
        assert label in labels, f"{query.where}: {metric} has no label {label!r}"
    assert found.grouping <= available, f"{query.where}: no metric has {sorted(found.grouping - available)}"
    result = found.grouping or available
    assert query.placeholders <= result, f"{query.where}: the result has no {sorted(query.placeholders - result)}"


def test_dashboard_variables_use_registered_metrics(known: dict[str, frozenset[str]]) -> None:
    for path in DASHBOARD_FILES:
        for variable in json.loads(path.read_text())["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = _LABEL_VALUES.fullmatch(variable["definition"])
            assert match, f"{path.name}: cannot read the variable query {variable['definition']!r}"
            metric, label = match.groups()
            assert metric in known and label in TARGET_LABELS | known[metric], variable["definition"]


def test_every_platform_metric_is_on_a_dashboard() -> None:
    """A metric nobody can look at is easy to break unnoticed; each gets a panel."""
    _import_everything()
    shown = {metric for query in dashboard_queries() for metric in references(query.expr).metrics}
    registered = {
        family.name: {family.name + suffix for suffix in EXPOSED_SUFFIXES[family.type]}
        for collector in _collectors()
        for family in getattr(collector, "describe", collector.collect)()
        if family.name.startswith("ledgerline_")
    }
    missing = sorted(name for name, series in registered.items() if not series & shown)
    assert not missing, f"no dashboard panel shows {missing}"
