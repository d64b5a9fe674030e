"""One API reference for the whole platform, served by the entry point at /docs and /redoc.

The services' own OpenAPI documents are merged into one: every public operation (a path under one
of the service's routed prefixes), tagged with its service; operation ids and component names get
the service's name in front, so two services may both have a `Problem` schema or a `list_items`
operation. The pages load Swagger UI and ReDoc from the same wheel the services use, so they render
offline. The merge is a pure function of the documents; fetching and writing are at the edges.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html

from ledgerline.core.api_docs import ASSETS_DIR, FAVICON, REDOC_JS, SWAGGER_CSS, SWAGGER_JS, SWAGGER_UI_PARAMETERS

TITLE = "Ledgerline API"
DOCUMENT_PATH = "/openapi.json"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSETS_PATH = "/docs-assets/"
PAGE_PATHS = (DOCUMENT_PATH, DOCS_PATH, REDOC_PATH, OAUTH2_REDIRECT_PATH)
FETCH_TIMEOUT_S = 10.0
# The largest service document is about 200 KB; a larger answer is refused, not merged.
DOCUMENT_BYTES_MAX = 4 * 1024 * 1024
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_REF_PREFIX = "#/components/"
IDENTITY_SERVICE = "identity"
DESCRIPTION = (
    "Every public operation of every Ledgerline service, behind one address. Each operation is "
    "tagged with the service that answers it.\n\n"
    "To call the API from this page: register (`POST /v1/registrations`), log in "
    "(`POST /v1/sessions`), then press **Authorize** and paste the `access_token` from the answer."
)


class ReferenceError(ValueError):
    """Documents that cannot be merged: a path claimed twice, a shared scheme defined twice."""


class DocumentTooLarge(ValueError):
    pass


def merge_documents(documents: Mapping[str, Mapping[str, Any]], routes: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """service -> its OpenAPI document, service -> its public prefixes: one document."""
    merged: dict[str, Any] = {
        "openapi": _one_version(documents),
        "info": {"title": TITLE, "version": "1", "description": DESCRIPTION},
        "tags": [],
        "paths": {},
        "components": {},
    }
    for service in sorted(documents, key=reading_order):
        own = _prefixed(service, documents[service])
        paths = {p: item for p, item in own.get("paths", {}).items() if is_public(p, routes.get(service, ()))}
        if not paths:
            continue
        title = documents[service].get("info", {}).get("title", service)
        merged["tags"].append({"name": service, "description": title})
        for path, item in paths.items():
            if path in merged["paths"]:
                raise ReferenceError(f"{path} is in the documents of two services")
            merged["paths"][path] = item
        _add_components(merged["components"], own.get("components", {}), service)
    return merged


def reading_order(service: str) -> tuple[bool, str]:
    """Identity first, since every other operation needs its token; then by name. The order does
    not depend on how the services were listed, so every entry point serves the same document."""
    return service != IDENTITY_SERVICE, service


def _one_version(documents: Mapping[str, Mapping[str, Any]]) -> str:
    versions = {str(d.get("openapi")) for d in documents.values()}
    if len(versions) != 1:
        raise ReferenceError(f"the services' documents use OpenAPI versions {sorted(versions)}")
    return versions.pop()


def is_public(path: str, prefixes: Sequence[str]) -> bool:
    """As a Kubernetes `Prefix` path: the prefix itself or anything below it."""
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def _prefixed(service: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy whose component names, references and operation ids start with `service`; every
    operation tagged with the service alone. Security schemes stay shared: one token for all."""
    own: dict[str, Any] = _renamed_references(copy.deepcopy(dict(document)), service)
    for item in own.get("paths", {}).values():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            operation["tags"] = [service]
            if "operationId" in operation:
                operation["operationId"] = f"{service}_{operation['operationId']}"
    return own


def _renamed_references(value: Any, service: str) -> Any:
    if isinstance(value, dict):
        renamed = {k: _renamed_references(v, service) for k, v in value.items()}
        ref = renamed.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX) and not ref.startswith(_REF_PREFIX + "securitySchemes"):
            section, _, name = ref.removeprefix(_REF_PREFIX).partition("/")
            renamed["$ref"] = f"{_REF_PREFIX}{section}/{service}.{name}"
        return renamed
    if isinstance(value, list):
        return [_renamed_references(v, service) for v in value]
    return value


def _add_components(target: dict[str, Any], components: Mapping[str, Any], service: str) -> None:
    for section, entries in components.items():
        into = target.setdefault(section, {})
        for name, entry in entries.items():
            if section == "securitySchemes":
                if name in into and into[name] != entry:
                    raise ReferenceError(f"security scheme {name} differs between services")
                into[name] = entry
            else:
                into[f"{service}.{name}"] = entry


async def fetch_documents(http: httpx.AsyncClient, urls: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """service -> base URL of one running instance: each service's own OpenAPI document, fetched
    at once."""
    names = list(urls)
    fetched = await asyncio.gather(*(fetch_document(http, urls[name]) for name in names))
    return dict(zip(names, fetched, strict=True))


async def fetch_document(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """One service's OpenAPI document, read up to DOCUMENT_BYTES_MAX."""
    async with http.stream("GET", url.rstrip("/") + DOCUMENT_PATH) as response:
        response.raise_for_status()
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > DOCUMENT_BYTES_MAX:
                raise DocumentTooLarge(f"{url}{DOCUMENT_PATH} is larger than {DOCUMENT_BYTES_MAX} bytes")
    document: dict[str, Any] = json.loads(bytes(body))
    return document


def reference_pages(document: Mapping[str, Any]) -> dict[str, tuple[str, str, bytes]]:
    """URL path -> (file name, media type, body) of the document and the pages that show it; the
    assets the pages load are the files of `ASSETS_DIR`, served below `ASSETS_PATH`."""
    swagger = get_swagger_ui_html(
        openapi_url=DOCUMENT_PATH,
        title=f"{TITLE} - Swagger UI",
        swagger_js_url=ASSETS_PATH + SWAGGER_JS,
        swagger_css_url=ASSETS_PATH + SWAGGER_CSS,
        swagger_favicon_url=ASSETS_PATH + FAVICON,
        oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
        swagger_ui_parameters={**SWAGGER_UI_PARAMETERS, "persistAuthorization": True},
    )
    redoc = get_redoc_html(
        openapi_url=DOCUMENT_PATH,
        title=f"{TITLE} - ReDoc",
        redoc_js_url=ASSETS_PATH + REDOC_JS,
        redoc_favicon_url=ASSETS_PATH + FAVICON,
        with_google_fonts=False,
    )
    html = "text/html; charset=utf-8"
    return {
        DOCUMENT_PATH: ("openapi.json", "application/json", json.dumps(document).encode()),
        DOCS_PATH: ("docs.html", html, bytes(swagger.body)),
        REDOC_PATH: ("redoc.html", html, bytes(redoc.body)),
        OAUTH2_REDIRECT_PATH: ("oauth2-redirect.html", html, bytes(get_swagger_ui_oauth2_redirect_html().body)),
    }


def write_reference(directory: Path, document: Mapping[str, Any]) -> dict[str, Path]:
    """The document and its pages as files; URL path -> file, for the entry point to serve."""
    directory.mkdir(parents=True, exist_ok=True)
    served: dict[str, Path] = {}
    for url_path, (name, _, body) in reference_pages(document).items():
        (directory / name).write_bytes(body)
        served[url_path] = directory / name
    served[ASSETS_PATH] = ASSETS_DIR
    return served
