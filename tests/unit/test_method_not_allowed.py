"""A method a resource does not support answers 405 problem details whose `Allow` names the
methods the resource does support (RFC 9110 section 15.5.6), however the routes were included."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI

from ledgerline.core.problems import install_problem_handlers


def _app() -> FastAPI:
    things = APIRouter(prefix="/v1")

    @things.get("/things")
    async def list_things() -> list[str]:
        return []

    @things.post("/things")
    async def add_thing() -> dict[str, str]:
        return {}

    @things.delete("/things/{thing_id}")
    async def remove_thing(thing_id: str) -> dict[str, str]:
        return {}

    nested = APIRouter(prefix="/v1/admin")
    nested.include_router(APIRouter())  # routers within routers, as services compose them

    @nested.put("/things/{thing_id}")
    async def replace_thing(thing_id: str) -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(things)
    app.include_router(nested)
    install_problem_handlers(app)
    return app


async def _send(method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path)


async def test_405_allow_names_every_method_of_the_resource() -> None:
    response = await _send("DELETE", "/v1/things")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["allow"] == "GET, POST"


async def test_405_allow_of_a_resource_with_a_path_parameter() -> None:
    response = await _send("GET", "/v1/things/abc")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE"
    nested = await _send("POST", "/v1/admin/things/abc")
    assert nested.status_code == 405
    assert nested.headers["allow"] == "PUT"
