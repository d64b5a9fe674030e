"""The local entry point routes exactly what the cluster's does: the nginx configuration that
`ledgerline up` writes and the chart's rendered Ingress and HTTPRoute send the same path prefixes
to the same services, with the same whole-element prefix matching. The API reference's paths,
which the cluster routes to its own component, are files the local nginx serves itself."""

from __future__ import annotations

import re
from pathlib import Path

from ledgerline.infra.gateway import REFERENCE, public_routes, render_config, routes_table, upstream_name
from ledgerline.reference.documents import ASSETS_PATH, PAGE_PATHS, is_public
from tests.k8s import charts
from tests.k8s.conftest import one

RELEASE = "ledgerline"
# The chart's own routes table (values.yaml), with both the Ingress and the HTTPRoute rendered.
BOTH_ROUTERS = charts.ValueSet(
    charts.APP_CHART, "routers", overrides={"ingress": {"enabled": True}, "gateway": {"enabled": True}}
)
PROXIED = re.compile(r"location (?P<exact>= )?(?P<path>\S+) \{ proxy_pass http://(?P<upstream>\w+); \}")


def nginx_routes() -> set[tuple[str, str]]:
    """(prefix, service) for every prefix the local nginx proxies, checked to match as `Prefix`."""
    routes = public_routes()
    config = render_config(
        port=8000, data_dir=Path("/data"), routes=routes, upstreams={service: [8001] for service in routes}
    )
    services = {upstream_name(service): service for service in routes}
    exact: set[tuple[str, str]] = set()
    below: set[tuple[str, str]] = set()
    for match in PROXIED.finditer(config):
        service = services[match["upstream"]]
        if match["exact"]:
            exact.add((match["path"], service))
        else:
            assert match["path"].endswith("/"), f"{match[0]} also matches paths that only start alike"
            below.add((match["path"].rstrip("/"), service))
    # A Kubernetes `Prefix` path matches itself and everything below it, nothing else.
    assert exact == below
    return exact


def reference_routes() -> set[tuple[str, str]]:
    """(prefix, reference) for the reference's routes, checked to cover exactly what the local
    entry point serves as its files: every page and the assets, and no prefix without one."""
    prefixes = routes_table()[REFERENCE]
    served = [*PAGE_PATHS, ASSETS_PATH + "swagger-ui-bundle.js"]
    assert [path for path in served if not is_public(path, prefixes)] == []
    assert [p for p in prefixes if not any(is_public(path, [p]) for path in served)] == []
    return {(prefix, REFERENCE) for prefix in prefixes}


def test_nginx_and_the_chart_route_the_same_prefixes_to_the_same_services() -> None:
    items = charts.manifests(charts.render_value_set(BOTH_ROUTERS))
    ingress = one(items, "Ingress", RELEASE)["spec"]
    by_ingress = {
        (p["path"], p["backend"]["service"]["name"].removeprefix(f"{RELEASE}-"))
        for p in ingress["rules"][0]["http"]["paths"]
        if p["pathType"] == "Prefix"
    }
    route = one(items, "HTTPRoute", RELEASE)["spec"]
    by_route = {
        (m["path"]["value"], r["backendRefs"][0]["name"].removeprefix(f"{RELEASE}-"))
        for r in route["rules"]
        for m in r["matches"]
        if m["path"]["type"] == "PathPrefix"
    }
    local = nginx_routes() | reference_routes()
    assert by_ingress == by_route == local
    # Every service a customer uses is behind it.
    assert {service for _, service in local} >= {"wallet", "ledger", "payment", "notification", "identity"}
