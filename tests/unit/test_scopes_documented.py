"""The README's scope table is the identity service's: every scope a token can carry is listed
once, customers are said to get exactly the scopes registration grants, each service client's
scopes name that service, and every service client is named where `make run` provisions them."""

from __future__ import annotations

import re
from pathlib import Path

from ledgerline.identity.administration import SERVICE_CLIENT_SCOPES, service_client_id
from ledgerline.identity.domain import CUSTOMER_SCOPES, KNOWN_SCOPES

README = Path(__file__).resolve().parents[2] / "README.md"
TABLE_HEADER = "| scope | opens | granted to |"
ROW = re.compile(r"^\| `([a-z:-]+)` \| [^|]+ \| ([^|]+) \|$")


def scope_rows() -> dict[str, str]:
    """Scope -> who it is granted to, from the table under TABLE_HEADER."""
    lines = README.read_text().splitlines()
    start = lines.index(TABLE_HEADER) + 2  # Past the header and its separator.
    rows: dict[str, str] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        match = ROW.match(line)
        assert match, f"not a scope row: {line}"
        assert match[1] not in rows, f"{match[1]} listed twice"
        rows[match[1]] = match[2]
    return rows


def test_every_scope_is_listed_with_who_gets_it() -> None:
    rows = scope_rows()
    assert set(rows) == KNOWN_SCOPES
    assert {scope for scope, granted in rows.items() if "customers" in granted} == set(CUSTOMER_SCOPES)
    for service, scopes in SERVICE_CLIENT_SCOPES.items():
        for scope in scopes:
            assert service in rows[scope] or "the services' clients" in rows[scope], (service, scope)


def test_every_service_client_is_named() -> None:
    text = README.read_text()
    assert all(f"`{service_client_id(service)}`" in text for service in SERVICE_CLIENT_SCOPES)
