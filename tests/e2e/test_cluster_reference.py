"""The API reference as a cluster serves it: `ledgerline serve reference`, a process of its own,
reads every public service's OpenAPI document over HTTP (in a cluster, over their Service names),
and serves the same merged reference as the local entry point, with pages that load every asset
from itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from ledgerline.infra.gateway import public_routes
from ledgerline.infra.platform import Platform
from ledgerline.infra.process import free_port
from tests.e2e.test_api_docs import ABSOLUTE_URL, ASSET_BYTES_MIN, EXPECTED_OPERATIONS, HTTP_METHODS, DocsPage

READY_TIMEOUT_S = 120
HTTP_TIMEOUT_S = 30
PAGES = ("/docs", "/redoc")


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def reference(platform: Platform, tmp_path_factory: pytest.TempPathFactory, metrics_port: int) -> Iterator[str]:
    """The reference app on a port of its own, with /metrics on another, as the chart configures
    it, once it is ready."""
    routes = public_routes()
    services = {name: {"url": platform.url(name), "routes": list(prefixes)} for name, prefixes in routes.items()}
    port = free_port()
    env = {
        **os.environ,
        "LEDGERLINE_REFERENCE_SERVICES": json.dumps(services),
        "LEDGERLINE_METRICS_PORT": str(metrics_port),
    }
    log = Path(tmp_path_factory.mktemp("reference")) / "reference.log"
    with log.open("wb") as output:
        command = [sys.executable, "-m", "ledgerline.cli", "serve", "reference", "--port", str(port)]
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _ready(url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not ready in {READY_TIMEOUT_S}s: {log.read_text()}"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_the_served_reference_lists_every_public_operation(platform: Platform, reference: str) -> None:
    document = httpx.get(reference + "/openapi.json", timeout=HTTP_TIMEOUT_S).json()
    listed = {
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    for service in public_routes():
        missing = EXPECTED_OPERATIONS[service] - listed
        assert not missing, f"the reference lacks {service}'s {sorted(missing)}"
    tags = [tag["name"] for tag in document["tags"]]
    assert tags[0] == "identity" and sorted(tags[1:]) == tags[1:], tags
    assert set(tags) == set(public_routes())
    # The same document as the local entry point's, tags in the same order, although the
    # reference lists the services in values.yaml order and the local platform in its own.
    local = httpx.get(platform.entry_point + "/openapi.json", timeout=HTTP_TIMEOUT_S).json()
    assert document == local


@pytest.mark.parametrize("page", PAGES)
def test_the_pages_load_every_asset_from_the_reference_itself(reference: str, page: str) -> None:
    page_url = reference + page
    with httpx.Client(timeout=HTTP_TIMEOUT_S) as http:
        response = http.get(page_url)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert ABSOLUTE_URL.findall(response.text) == [], "an absolute URL fails offline"
        parsed = DocsPage.from_html(response.text)
        assert parsed.scripts
        for asset in parsed.assets():
            asset_url = urljoin(page_url, asset)
            assert urlsplit(asset_url).netloc == urlsplit(reference).netloc
            body = http.get(asset_url)
            assert body.status_code == 200 and len(body.content) >= ASSET_BYTES_MIN, asset_url
        assert [urljoin(page_url, spec) for spec in parsed.spec_urls] == [reference + "/openapi.json"]
        if page == "/docs":
            redirect = http.get(reference + "/docs/oauth2-redirect")
            assert redirect.status_code == 200 and "oauth2" in redirect.text.lower()


def test_metrics_are_served_on_their_own_port_only(reference: str, metrics_port: int) -> None:
    assert httpx.get(reference + "/openapi.json", timeout=HTTP_TIMEOUT_S).status_code == 200
    assert httpx.get(reference + "/metrics", timeout=HTTP_TIMEOUT_S).status_code == 404
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=HTTP_TIMEOUT_S)
    assert scraped.status_code == 200
    served = [
        line
        for line in scraped.text.splitlines()
        if line.startswith("ledgerline_http_requests_total{")
        and 'service="reference"' in line
        and 'route="/openapi.json"' in line
        and 'status="200"' in line
    ]
    assert served and float(served[0].rsplit(" ", 1)[1]) >= 1, scraped.text[:2000]
