"""Swagger UI and ReDoc pages whose scripts and styles the service serves itself.

FastAPI's own `/docs` and `/redoc` pages load Swagger UI, ReDoc and a favicon from public CDNs,
so in a cluster without egress or on an offline laptop they render blank. Here the same pages
load those assets from the `fastapi-offline` wheel (pinned in pyproject.toml), mounted under
`ASSETS_URL` on the service itself, so the docs work wherever the service answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs-assets"
# The files the pages reference; the wheel keeps them in its `static/` folder. Checked at start-up
# so that an upgrade of the package that moves them fails loudly instead of serving blank pages.
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"
ASSET_FILES = (SWAGGER_JS, SWAGGER_CSS, REDOC_JS, FAVICON)
# Swagger UI sends the document to validator.swagger.io for a badge unless told not to: no
# request may leave the machine, and the badge says nothing the OpenAPI tests do not.
SWAGGER_UI_PARAMETERS: dict[str, Any] = {"validatorUrl": None}


def install_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI at `DOCS_URL` and ReDoc at `REDOC_URL` from local assets.

    The app must be built with `docs_url=None, redoc_url=None`: FastAPI's CDN pages would
    otherwise be registered first and answer instead.
    """
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("build the app with docs_url=None and redoc_url=None before install_api_docs")
    if app.openapi_url is None:
        raise ValueError("the docs pages need the app's OpenAPI document (openapi_url is None)")
    missing = [name for name in ASSET_FILES if not (ASSETS_DIR / name).is_file()]
    if missing:
        raise RuntimeError(f"API docs assets missing from {ASSETS_DIR}: {', '.join(missing)}")
    openapi_url = app.openapi_url
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS_URL}/oauth2-redirect"
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="api-docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{ASSETS_URL}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
            oauth2_redirect_url=root + oauth2_redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), **SWAGGER_UI_PARAMETERS},
        )

    # Swagger UI's "Authorize" button returns here after an OAuth2 login; the page is inline.
    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
            # ReDoc's default fonts come from Google Fonts; its own fallback fonts are fine.
            with_google_fonts=False,
        )


def _root_path(request: Request) -> str:
    """The prefix a proxy or a parent app serves this app under, so links work behind one."""
    return str(request.scope.get("root_path", "")).rstrip("/")
