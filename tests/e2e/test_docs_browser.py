"""A real browser renders every service's API docs offline: headless Chromium (Debian's package,
driven by Playwright) opens each /docs page with every request off the service's own origin
refused, and Swagger UI lists the service's operations; the entry point's page lists every public
service's operations and calls the API with a token entered through Authorize. A screenshot of
each page is kept."""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
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


@pytest.mark.timeout(RENDER_TIMEOUT_MS // 1000 * 3)
def test_the_entry_point_reference_lists_every_service_and_authorizes_offline(
    platform: Platform, browser: Browser
) -> None:
    origin = urlsplit(platform.entry_point).netloc
    refused: list[str] = []

    def only_the_entry_point(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("blockedbyclient")

    token = customer_token(platform.entry_point)
    page = browser.new_page(viewport={"width": 1280, "height": 2000})
    try:
        page.set_default_timeout(RENDER_TIMEOUT_MS)
        page.route("**/*", only_the_entry_point)
        page.goto(platform.entry_point + "/docs", wait_until="domcontentloaded")
        page.wait_for_selector(OPERATION_SELECTOR, timeout=RENDER_TIMEOUT_MS)
        summaries = [block.inner_text().replace("\u200b", "") for block in page.query_selector_all(".opblock-summary")]
        tags = {tag.get_attribute("data-tag") for tag in page.query_selector_all(".opblock-tag")}
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS_DIR / "docs-entry-point.png"), full_page=False)
        # The authentication flow from the page: Authorize with a token from login, then call
        # GET /v1/me through the entry point and see who the token speaks for.
        page.click(".btn.authorize")
        page.fill(".modal-ux input", token)
        page.click(".modal-ux .btn.modal-btn.auth.authorize")
        page.click(".modal-ux .btn-done")
        me = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/v1/me")).first
        me.locator(".opblock-summary").click()
        me.locator(".try-out__btn").click()
        me.locator(".execute").click()
        status = me.locator(".live-responses-table .response .response-col_status").first
        status.wait_for(timeout=RENDER_TIMEOUT_MS)
        answered = status.inner_text().strip()
        body = me.locator(".live-responses-table .response-col_description pre").first.inner_text()
    finally:
        page.close()

    public = [service for service in SERVICES if service != "banksim"]
    assert set(public) <= tags, f"the reference's sections are {tags}"
    for service in public:
        for method, path in EXPECTED_OPERATIONS[service]:
            assert any(method.upper() in text and path in text for text in summaries), (
                f"the entry point's /docs does not list {service}'s {method.upper()} {path}"
            )
    assert answered == "200", f"GET /v1/me from the page answered {answered}: {body}"
    assert '"scopes"' in body and "wallets:write" in body, body
    assert refused == [], f"the entry point's /docs tried to load {refused}"


def customer_token(entry_point: str) -> str:
    """A new customer's access token, from registration and login through the entry point."""
    credentials = {"email": f"docs-{uuid.uuid4().hex[:12]}@example.com", "password": secrets.token_urlsafe(18)}
    with httpx.Client(base_url=entry_point, timeout=60) as http:
        http.post("/v1/registrations", json=credentials).raise_for_status()
        login = http.post("/v1/sessions", json=credentials)
        login.raise_for_status()
        return str(login.json()["access_token"])
