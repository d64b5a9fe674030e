"""Every service's /docs and /redoc pages load only assets the service serves itself, and point at
its own OpenAPI document, so the API docs render on a machine or cluster without internet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from ledgerline.infra.platform import SERVICES, Platform

PAGES = ("/docs", "/redoc")
# The smallest of the assets is the favicon (about 5 KB); Swagger UI and ReDoc are over 1 MB.
# An error page, an empty file or a placeholder is far below this.
ASSET_BYTES_MIN = 2_000
HTTP_TIMEOUT_S = 30
# A few operations each service is known for: enough to tell its own document from another's
# or from an empty one.
EXPECTED_OPERATIONS = {
    "wallet": {("post", "/v1/wallets"), ("get", "/v1/wallets/{wallet_id}")},
    "ledger": {("get", "/v1/accounts/{account_id}/balance"), ("get", "/v1/reconciliation")},
    "payment": {("post", "/v1/transfers"), ("post", "/v1/deposits"), ("get", "/v1/payments/{payment_id}")},
    "notification": {("get", "/v1/notifications"), ("post", "/v1/email-subscriptions")},
    "identity": {("post", "/v1/sessions"), ("get", "/.well-known/jwks.json")},
    "banksim": {("post", "/v1/charges"), ("post", "/v1/payouts")},
    "rewards": {("post", "/v1/rewards/rules"), ("get", "/v1/rewards")},
}
# Swagger UI names its document in the inline start-up script: `url: '/openapi.json',`.
SWAGGER_SPEC_URL = re.compile(r"""\burl:\s*['"]([^'"]+)['"]""")
ABSOLUTE_URL = re.compile(r"""\b(?:https?:)?//[\w.-]+""")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


class DocsPage(HTMLParser):
    """What a docs page makes the browser fetch: scripts, stylesheets and icons, and the spec."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[str] = []
        self.inline_scripts: list[str] = []
        self.spec_urls: list[str] = []
        self._in_inline_script = False

    @classmethod
    def from_html(cls, html: str) -> DocsPage:
        page = cls()
        page.feed(html)
        page.close()
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs if value is not None}
        if tag == "script":
            self._in_inline_script = "src" not in values
            if "src" in values:
                self.scripts.append(values["src"])
        elif tag == "link" and "href" in values:
            self.links.append(values["href"])
        elif tag == "redoc" and "spec-url" in values:
            self.spec_urls.append(values["spec-url"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.inline_scripts.append(data)
            self.spec_urls.extend(SWAGGER_SPEC_URL.findall(data))

    def assets(self) -> Iterator[str]:
        yield from self.scripts
        yield from self.links


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=HTTP_TIMEOUT_S) as client:
        yield client


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("service", SERVICES)
def test_docs_page_is_served_from_the_service_alone(
    platform: Platform, http: httpx.Client, service: str, page: str
) -> None:
    page_url = platform.url(service) + page
    response = http.get(page_url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    parsed = DocsPage.from_html(html)

    # No absolute URL anywhere in the page, not even one the parser would not see as an asset
    # (fonts, a validator badge): offline, each of them is a request that hangs or fails.
    assert ABSOLUTE_URL.findall(html) == [], html
    assert parsed.scripts, f"{page_url} loads no script: nothing would render"
    origin = urlsplit(page_url).netloc
    for reference in parsed.assets():
        asset_url = urljoin(page_url, reference)
        assert urlsplit(asset_url).netloc == origin, f"{page_url} loads {asset_url} from another host"
        asset = http.get(asset_url)
        assert asset.status_code == 200, f"{asset_url}: {asset.status_code}"
        assert len(asset.content) >= ASSET_BYTES_MIN, f"{asset_url} is only {len(asset.content)} bytes"
    for script in parsed.scripts:
        assert "javascript" in http.get(urljoin(page_url, script)).headers["content-type"], script

    assert len(parsed.spec_urls) == 1, f"{page_url} names {parsed.spec_urls} as its OpenAPI document"
    spec_url = urljoin(page_url, parsed.spec_urls[0])
    assert urlsplit(spec_url).netloc == origin
    spec = http.get(spec_url)
    assert spec.status_code == 200, spec.text
    document = spec.json()
    assert document["openapi"].startswith("3.")
    operations = {
        (method, path) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS
    }
    missing = EXPECTED_OPERATIONS[service] - operations
    assert not missing, f"{spec_url} lacks {sorted(missing)}; it lists {sorted(operations)}"


@pytest.mark.parametrize("service", SERVICES)
def test_swagger_ui_oauth2_redirect_page_is_served(platform: Platform, http: httpx.Client, service: str) -> None:
    # Swagger UI's "Authorize" button returns to this page after a login at the identity service.
    page_url = platform.url(service) + "/docs"
    scripts = "".join(DocsPage.from_html(http.get(page_url).text).inline_scripts)
    redirect_path = re.search(r"oauth2RedirectUrl: window\.location\.origin \+ '([^']+)'", scripts)
    assert redirect_path, scripts
    redirect = http.get(platform.url(service) + redirect_path.group(1))
    assert redirect.status_code == 200 and "oauth2" in redirect.text.lower()
