"""The combined API reference as a service of its own, for a cluster's entry point.

Locally nginx serves the reference as files; in a cluster nothing writes files, so this app asks
each service for its OpenAPI document over the cluster's Service names, merges them with
`documents.merge_documents` and serves the same pages and assets. It is not ready until every
service has answered once; after that it refreshes on a fixed interval and keeps the last merged
document when a refresh fails, so a service restarting never blanks the reference.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, HttpUrl
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledgerline.core.api_docs import ASSET_FILES, ASSETS_DIR
from ledgerline.core.problems import Problem, install_problem_handlers
from ledgerline.core.telemetry import configure_logging, install_http_telemetry
from ledgerline.reference.documents import ASSETS_PATH, PAGE_PATHS, fetch_documents, merge_documents, reference_pages

_log = logging.getLogger(__name__)
SERVICES_MAX = 32
ROUTES_MAX = 64
RETRY_DELAY_MIN_S = 0.5


class ReferencedService(BaseModel):
    url: HttpUrl = Field(description="Base URL of the service, without /openapi.json")
    routes: list[str] = Field(min_length=1, max_length=ROUTES_MAX, description="Its public path prefixes")


class ReferenceSettings(BaseSettings):
    """LEDGERLINE_REFERENCE_SERVICES is JSON: service -> {"url": ..., "routes": [...]}."""

    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_REFERENCE_", extra="ignore")

    services: dict[str, ReferencedService] = Field(min_length=1, max_length=SERVICES_MAX)
    refresh_interval_s: float = Field(300.0, ge=1.0, le=86_400.0)
    retry_delay_max_s: float = Field(30.0, ge=RETRY_DELAY_MIN_S, le=600.0)
    fetch_timeout_s: float = Field(10.0, gt=0.0, le=120.0)
    log_level: str = Field("INFO", validation_alias="LEDGERLINE_LOG_LEVEL")


@dataclass
class PublishedReference:
    """The pages of the last document merged from every service; empty until the first one."""

    pages: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)


async def merged_reference(http: httpx.AsyncClient, services: Mapping[str, ReferencedService]) -> dict[str, Any]:
    documents = await fetch_documents(http, {name: str(service.url) for name, service in services.items()})
    return merge_documents(documents, {name: service.routes for name, service in services.items()})


async def keep_current(settings: ReferenceSettings, reference: PublishedReference) -> None:
    """Merge every refresh_interval_s. A failed merge (a service down, a bad document) is retried
    with a delay doubling up to retry_delay_max_s, and the last good reference stays served."""
    delay = RETRY_DELAY_MIN_S
    async with httpx.AsyncClient(timeout=settings.fetch_timeout_s) as http:
        while True:
            try:
                document = await merged_reference(http, settings.services)
            except (httpx.HTTPError, ValueError) as error:
                _log.warning("API reference not merged, retrying in %.1fs: %s", delay, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, settings.retry_delay_max_s)
                continue
            if not reference.pages:
                _log.info(
                    "API reference merged from %d services, %d paths", len(settings.services), len(document["paths"])
                )
            reference.pages = reference_pages(document)
            delay = RETRY_DELAY_MIN_S
            await asyncio.sleep(settings.refresh_interval_s)


def create_app(settings: ReferenceSettings | None = None) -> FastAPI:
    chosen = settings or ReferenceSettings()
    missing = [name for name in ASSET_FILES if not (ASSETS_DIR / name).is_file()]
    if missing:
        raise RuntimeError(f"API docs assets missing from {ASSETS_DIR}: {', '.join(missing)}")
    reference = PublishedReference()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        configure_logging(chosen.log_level)
        task = asyncio.create_task(keep_current(chosen, reference))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="Ledgerline API reference", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    install_problem_handlers(app)
    install_http_telemetry(app, "reference")
    app.mount(ASSETS_PATH.rstrip("/"), StaticFiles(directory=ASSETS_DIR), name="api-docs-assets")

    async def page(request: Request) -> Response:
        if not reference.pages:
            raise Problem(
                503, "reference_not_ready", "The services' documents are not merged yet", headers={"Retry-After": "5"}
            )
        _, media_type, body = reference.pages[request.url.path]
        return Response(body, media_type=media_type)

    for path in PAGE_PATHS:
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ready = bool(reference.pages)
        body = {"ready": ready, "checks": {"documents": "ok" if ready else "not merged yet"}}
        return JSONResponse(body, status_code=200 if ready else 503)

    return app
