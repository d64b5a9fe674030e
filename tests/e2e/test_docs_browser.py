"""A real browser renders every service's API docs offline: headless Chromium (Debian's package,
driven by Playwright) opens each /docs page with every request off the service's own origin
refused, and Swagger UI lists the service's operations. A screenshot of each page is kept."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Route, sync_playwright

from ledgerline.infra.platform import SERVICES, Platform
from tests.e2e.test_api_docs import EXPECTED_OPERATIONS

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = Path(os.environ.get("LEDGERLINE_TEST_ARTIFACTS_DIR", REPO_ROOT / "test-artifacts"))
CHROMIUM_NAMES = ("chromium", "chromium-browser")
# Swagger UI loads (1.5 MB of script), fetches the document and renders it in a second or two; a
# busy shared machine gets far more.
RENDER_TIMEOUT_MS = 180_000
OPERATION_SELECTOR = ".opblock"


def chromium_path() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on PATH: scripts/bootstrap.sh installs Debian's `chromium` package")
    with sync_playwright() as playwright:
        # Names resolve to nothing but loopback, so even a request the page router missed fails.
        launched = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
        )
        yield launched
        launched.close()


@pytest.mark.timeout(RENDER_TIMEOUT_MS // 1000 * 2)
@pytest.mark.parametrize("service", SERVICES)
def test_docs_page_renders_the_operations_offline(platform: Platform, browser: Browser, service: str) -> None:
    origin = urlsplit(platform.url(service)).netloc
    refused: list[str] = []

    def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("blockedbyclient")

    page = browser.new_page(viewport={"width": 1280, "height": 2000})
    try:
        page.set_default_timeout(RENDER_TIMEOUT_MS)
        page.route("**/*", only_the_service)
        page.goto(platform.url(service) + "/docs", wait_until="domcontentloaded")
        page.wait_for_selector(OPERATION_SELECTOR, timeout=RENDER_TIMEOUT_MS)
        listed = {
            (block.get_attribute("class") or "", block.inner_text())
            for block in page.query_selector_all(".opblock-summary")
        }
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS_DIR / f"docs-{service}.png"), full_page=False)
    finally:
        page.close()

    summaries = [text for _, text in listed]
    for method, path in EXPECTED_OPERATIONS[service]:
        assert any(method.upper() in text and path in text.replace("\u200b", "") for text in summaries), (
            f"{service} /docs does not list {method.upper()} {path}; it lists {sorted(summaries)}"
        )
    assert refused == [], f"{service} /docs tried to load {refused}"
