"""Merging the services' OpenAPI documents into the entry point's one reference: only public
paths, each operation tagged with its service, names and ids prefixed per service with every
reference rewritten to match, one shared bearer scheme, and conflicts refused."""

from __future__ import annotations

from typing import Any

import pytest

from ledgerline.reference.documents import ReferenceError, is_public, merge_documents

BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def document(path: str, operation_id: str) -> dict[str, Any]:
    problem = {"$ref": "#/components/schemas/Problem"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "a service", "version": "1"},
        "paths": {
            path: {
                "get": {
                    "operationId": operation_id,
                    "tags": ["whatever"],
                    "security": [{"HTTPBearer": []}],
                    "responses": {"404": {"content": {"application/problem+json": {"schema": problem}}}},
                }
            },
            "/healthz": {"get": {"operationId": "healthz"}},
        },
        "components": {
            "schemas": {"Problem": {"type": "object", "properties": {"detail": {"$ref": "#/components/schemas/Text"}}}},
            "securitySchemes": {"HTTPBearer": BEARER},
        },
    }


def test_two_services_with_the_same_names_merge_without_collision() -> None:
    merged = merge_documents(
        {"wallet": document("/v1/wallets/{id}", "read"), "ledger": document("/v1/accounts/{id}", "read")},
        {"wallet": ["/v1/wallets"], "ledger": ["/v1/accounts"]},
    )
    assert set(merged["paths"]) == {"/v1/wallets/{id}", "/v1/accounts/{id}"}  # no /healthz
    wallet = merged["paths"]["/v1/wallets/{id}"]["get"]
    assert wallet["operationId"] == "wallet_read" and wallet["tags"] == ["wallet"]
    schema = wallet["responses"]["404"]["content"]["application/problem+json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/wallet.Problem"}
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {"wallet.Problem", "ledger.Problem"}
    assert schemas["ledger.Problem"]["properties"]["detail"] == {"$ref": "#/components/schemas/ledger.Text"}
    assert merged["components"]["securitySchemes"] == {"HTTPBearer": BEARER}
    assert wallet["security"] == [{"HTTPBearer": []}]
    assert [t["name"] for t in merged["tags"]] == ["ledger", "wallet"]


def test_the_reference_reads_in_one_order_however_the_services_are_listed() -> None:
    documents = {name: document(f"/v1/{name}", "read") for name in ("wallet", "identity", "payment", "banksim")}
    routes = {name: [f"/v1/{name}"] for name in documents}
    merged = merge_documents(documents, routes)
    assert [t["name"] for t in merged["tags"]] == ["identity", "banksim", "payment", "wallet"]
    assert list(merged["paths"]) == ["/v1/identity", "/v1/banksim", "/v1/payment", "/v1/wallet"]
    backwards = dict(reversed(list(documents.items())))
    assert merge_documents(backwards, dict(reversed(list(routes.items())))) == merged


def test_a_path_claimed_by_two_services_is_refused() -> None:
    with pytest.raises(ReferenceError, match="/v1/things"):
        merge_documents(
            {"a": document("/v1/things", "x"), "b": document("/v1/things", "y")},
            {"a": ["/v1/things"], "b": ["/v1/things"]},
        )


def test_two_definitions_of_one_security_scheme_are_refused() -> None:
    other = document("/v1/b", "y")
    other["components"]["securitySchemes"]["HTTPBearer"] = {"type": "http", "scheme": "basic"}
    with pytest.raises(ReferenceError, match="HTTPBearer"):
        merge_documents({"a": document("/v1/a", "x"), "b": other}, {"a": ["/v1/a"], "b": ["/v1/b"]})


def test_prefixes_match_whole_path_elements() -> None:
    assert is_public("/v1/wallets", ["/v1/wallets"])
    assert is_public("/v1/wallets/{id}", ["/v1/wallets/"])
    assert not is_public("/v1/walletsX", ["/v1/wallets"])
    assert not is_public("/v1", ["/v1/wallets"])
