"""The identity settings refuse combinations that would break sessions or security: a key overlap
shorter than the access-token lifetime, inverted password bounds, a refresh token outliving its
family, and the development key-encryption secret in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ledgerline.identity.settings import IdentitySettings

PRODUCTION = {
    "environment": "production",
    "database_url": "postgresql://identity@db.internal/identity",
    "redis_url": "redis://redis.internal:6379/0",
    "kafka_bootstrap_servers": "kafka.internal:9092",
}


def test_defaults_are_consistent() -> None:
    settings = IdentitySettings()
    assert settings.key_overlap_s >= settings.access_token_ttl_s
    assert settings.password_length_min <= settings.password_length_max


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"access_token_ttl_s": 600, "key_overlap_s": 599}, "key_overlap_s must cover access_token_ttl_s"),
        ({"password_length_min": 64, "password_length_max": 32}, "password_length_min must not exceed"),
        ({"refresh_token_ttl_s": 7200, "refresh_family_lifetime_s": 3600}, "must not exceed refresh_family_lifetime_s"),
        ({"access_token_ttl_s": 3601}, "less than or equal to 3600"),
        ({"key_encryption_secret": "too short"}, "at least 32 characters"),
    ],
)
def test_inconsistent_limits_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        IdentitySettings(**values)


def test_production_refuses_the_development_key_encryption_secret() -> None:
    with pytest.raises(ValidationError, match="development default in production"):
        IdentitySettings(**PRODUCTION)
    settings = IdentitySettings(**PRODUCTION, key_encryption_secret="x" * 32)
    assert settings.environment == "production"
