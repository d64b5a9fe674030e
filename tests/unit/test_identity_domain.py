"""The identity rules hold without any I/O: password bounds at max and max+1, scope grants, access
claims, refresh rotation and reuse detection, and which signing keys sign and stay published."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ledgerline.identity import domain
from ledgerline.identity.domain import RefreshOutcome, SigningKey

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POLICY = domain.TokenPolicy(
    issuer="https://identity.test",
    audience="ledgerline-api",
    access_ttl=timedelta(minutes=5),
    refresh_ttl=timedelta(days=14),
    family_lifetime=timedelta(days=30),
)


def test_password_length_bounds_at_min_max_and_beyond() -> None:
    policy = domain.PasswordPolicy(length_min=12, length_max=128)
    domain.check_password("x" * 12, policy)
    domain.check_password("x" * 128, policy)
    with pytest.raises(domain.PasswordRejected):
        domain.check_password("x" * 11, policy)
    with pytest.raises(domain.PasswordRejected):
        domain.check_password("x" * 129, policy)


def test_email_is_compared_lower_cased() -> None:
    assert domain.normalize_email("  Alice@Example.COM ") == "alice@example.com"


def test_scopes_are_granted_exactly_or_refused() -> None:
    allowed = ("ledger:read", "payments:write")
    assert domain.grant_scopes(frozenset(), allowed) == ("ledger:read", "payments:write")
    assert domain.grant_scopes(domain.parse_scopes("ledger:read"), allowed) == ("ledger:read",)
    with pytest.raises(domain.ScopeNotAllowed):
        domain.grant_scopes(domain.parse_scopes("ledger:read admin"), allowed)
    with pytest.raises(domain.UnknownScope):
        domain.parse_scopes("ledger:read everything")


@pytest.mark.parametrize(
    ("scope", "accepted"),
    [
        (None, True),
        ("", True),
        ("admin", True),
        ("ledger:read wallets:read-any", True),
        ("null", False),
        (" admin", False),
        ("admin ", False),
        ("ledger:read  admin", False),
        ("ledger:read\tadmin", False),
    ],
)
def test_scope_syntax_is_known_names_separated_by_single_spaces_as_documented(
    scope: str | None, accepted: bool
) -> None:
    # The OpenAPI document's pattern says exactly what the service takes.
    assert (scope is None or re.fullmatch(domain.SCOPE_PATTERN, scope) is not None) == accepted
    if accepted:
        domain.parse_scopes(scope)
    else:
        with pytest.raises(domain.UnknownScope):
            domain.parse_scopes(scope)


def test_client_scopes_are_known_and_bounded() -> None:
    assert domain.check_client_scopes(["admin", "admin", "ledger:read"], scopes_max=2) == ("admin", "ledger:read")
    with pytest.raises(domain.UnknownScope):
        domain.check_client_scopes(["ledger:read", "payments:write", "admin"], scopes_max=2)
    with pytest.raises(domain.UnknownScope):
        domain.check_client_scopes([], scopes_max=2)
    with pytest.raises(domain.UnknownScope):
        domain.check_client_scopes(["root"], scopes_max=2)


def test_access_claims_carry_issuer_audience_lifetime_scope_and_session() -> None:
    token_id, session_id = uuid.uuid4(), uuid.uuid4()
    claims = domain.access_claims(
        POLICY, subject="user-1", scopes=("ledger:read",), now=NOW, token_id=token_id, session_id=session_id
    )
    assert claims["iss"] == "https://identity.test" and claims["aud"] == "ledgerline-api"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["scope"] == "ledger:read" and claims["sub"] == "user-1"
    assert claims["jti"] == str(token_id) and claims["sid"] == str(session_id)
    assert "sid" not in domain.access_claims(POLICY, subject="svc", scopes=(), now=NOW, token_id=token_id)


def test_refresh_rotates_once_then_reuse_burns_the_family() -> None:
    family = domain.start_family(POLICY, user_id=uuid.uuid4(), now=NOW)
    token = domain.issue_refresh(POLICY, family, now=NOW)
    later = NOW + timedelta(minutes=1)
    assert domain.judge_refresh(token, family, now=later) is RefreshOutcome.ROTATE
    rotated = domain.rotate(token, now=later)
    assert domain.judge_refresh(rotated, family, now=later) is RefreshOutcome.REUSE_DETECTED
    revoked = domain.revoke(family, now=later)
    sibling = domain.issue_refresh(POLICY, family, now=later)
    assert domain.judge_refresh(sibling, revoked, now=later) is RefreshOutcome.FAMILY_REVOKED
    assert domain.revoke(revoked, now=later + timedelta(hours=1)).revoked_at == later


def test_refresh_expires_and_never_outlives_its_family() -> None:
    family = domain.start_family(POLICY, user_id=uuid.uuid4(), now=NOW)
    late = domain.issue_refresh(POLICY, family, now=NOW + timedelta(days=25))
    assert late.expires_at == family.expires_at
    assert domain.judge_refresh(late, family, now=family.expires_at) is RefreshOutcome.EXPIRED
    early = domain.issue_refresh(POLICY, family, now=NOW)
    assert domain.judge_refresh(early, family, now=NOW + timedelta(days=14)) is RefreshOutcome.EXPIRED
    with pytest.raises(ValueError):
        domain.judge_refresh(early, domain.start_family(POLICY, user_id=uuid.uuid4(), now=NOW), now=NOW)


def _key(kid: str, created_at: datetime, activates_at: datetime | None = None) -> SigningKey:
    return SigningKey(kid, "EdDSA", {"kty": "OKP", "crv": "Ed25519", "x": kid}, created_at, activates_at or created_at)


def test_rotation_publishes_first_then_hands_over_and_keeps_the_old_key_for_the_overlap() -> None:
    old = _key("old", NOW - timedelta(days=1))
    delay, overlap = timedelta(seconds=30), timedelta(minutes=15)
    activation = NOW + delay
    retired = domain.retire_for_rotation([old], activation=activation, overlap=overlap)
    new = _key("new", NOW, activation)
    keys = [*retired, new]
    assert [k.kid for k in domain.published_keys(keys, NOW)] == ["new", "old"], "published before it signs"
    assert domain.signing_key(keys, NOW) == retired[0]
    assert domain.signing_key(keys, activation - timedelta(microseconds=1)) == retired[0]
    assert domain.signing_key(keys, activation) == new
    assert [k.kid for k in domain.published_keys(keys, activation + overlap - timedelta(seconds=1))] == ["new", "old"]
    assert [k.kid for k in domain.published_keys(keys, activation + overlap)] == ["new"]


def test_a_second_rotation_before_activation_leaves_one_hand_over_per_key() -> None:
    old = _key("old", NOW - timedelta(days=1))
    overlap = timedelta(minutes=15)
    first = NOW + timedelta(seconds=30)
    keys = [*domain.retire_for_rotation([old], activation=first, overlap=overlap), _key("k2", NOW, first)]
    second = NOW + timedelta(seconds=40)
    later = domain.retire_for_rotation(keys, activation=second, overlap=overlap)
    assert [k.kid for k in later] == ["k2"], "a key already handed over keeps its schedule"
    keys = [keys[0], *later, _key("k3", NOW + timedelta(seconds=10), second)]
    assert domain.signing_key(keys, first).kid == "k2"
    assert domain.signing_key(keys, second).kid == "k3"


def test_jwks_document_names_kid_alg_and_use() -> None:
    document = domain.jwks_document([_key("k1", NOW)])
    assert document == {
        "keys": [{"kty": "OKP", "crv": "Ed25519", "x": "k1", "kid": "k1", "alg": "EdDSA", "use": "sig"}]
    }
