"""`install_api_docs` refuses an app that would still serve FastAPI's CDN pages, and the pinned
package ships every asset the pages reference."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from ledgerline.core.api_docs import ASSET_FILES, ASSETS_DIR, install_api_docs


@pytest.mark.parametrize(
    "urls",
    [{}, {"docs_url": None}, {"redoc_url": None}],
    ids=["both CDN pages", "CDN redoc", "CDN swagger"],
)
def test_an_app_with_fastapis_own_docs_pages_is_refused(urls: dict[str, None]) -> None:
    # FastAPI registers its pages when the app is built; ours would come second and never answer.
    with pytest.raises(ValueError, match="docs_url=None and redoc_url=None"):
        install_api_docs(FastAPI(**urls))


def test_an_app_without_an_openapi_document_is_refused() -> None:
    with pytest.raises(ValueError, match="openapi_url"):
        install_api_docs(FastAPI(docs_url=None, redoc_url=None, openapi_url=None))


def test_the_pinned_package_ships_every_asset() -> None:
    for name in ASSET_FILES:
        assert (ASSETS_DIR / name).stat().st_size > 0, name
