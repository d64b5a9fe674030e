"""Identity service settings: every token lifetime, password bound and request limit, explicit."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from ledgerline.core.settings import ServiceSettings

# Only for development and tests: production refuses to start with it (see the validator).
DEVELOPMENT_KEY_ENCRYPTION_SECRET = "development-only-key-encryption-secret-change-me"


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_IDENTITY_", extra="ignore", populate_by_name=True)

    issuer: str = "https://identity.ledgerline.local"
    # The audience every Ledgerline API checks; one value because the services form one API.
    audience: str = "ledgerline-api"
    access_token_ttl_s: int = Field(300, ge=30, le=3600)
    refresh_token_ttl_s: int = Field(14 * 24 * 3600, ge=300, le=90 * 24 * 3600)
    # A family cannot outlive this however often it rotates, so a stolen chain dies eventually.
    refresh_family_lifetime_s: int = Field(30 * 24 * 3600, ge=300, le=365 * 24 * 3600)
    # A retired signing key stays in the JWKS this long; it must cover every token it signed.
    key_overlap_s: int = Field(900, ge=60, le=7 * 24 * 3600)
    # A new key is published this long before it signs: at least the verifiers' minimum JWKS
    # refresh interval, so none of them meets a token whose key it is not yet allowed to fetch.
    key_activation_delay_s: int = Field(30, ge=0, le=3600)
    # Encrypts signing keys at rest (PKCS#8 with the library's best available encryption).
    key_encryption_secret: str = Field(DEVELOPMENT_KEY_ENCRYPTION_SECRET, min_length=32, max_length=512)

    password_length_min: int = Field(12, ge=8, le=128)
    password_length_max: int = Field(128, ge=16, le=1024)
    email_length_max: int = Field(254, ge=3, le=320)
    client_secret_bytes: int = Field(32, ge=16, le=128)
    # argon2id cost (RFC 9106 second recommendation by default); lower only in tests.
    argon2_time_cost: int = Field(3, ge=1, le=20)
    argon2_memory_cost_kib: int = Field(64 * 1024, ge=8 * 1024, le=1024 * 1024)
    argon2_parallelism: int = Field(4, ge=1, le=16)
    # Each hash holds argon2_memory_cost_kib of memory; this bounds how many run at once.
    password_hash_concurrency_max: int = Field(4, ge=1, le=64)
    scopes_per_client_max: int = Field(16, ge=1, le=64)
    jwks_cache_max_age_s: int = Field(60, ge=0, le=3600)
    # How often Redis is checked for having lost the revoked sessions (one EXISTS each time); a
    # logged-out session works again for at most about this long after Redis comes back empty.
    revocation_restore_interval_s: float = Field(1.0, gt=0, le=60)
    # Logins and registrations per client address (a token bucket each): a burst of this many,
    # then one more every 1 / refill seconds. Slows password guessing without locking accounts.
    address_rate_limit_capacity: int = Field(10, ge=1, le=100_000)
    address_rate_limit_refill_per_s: float = Field(0.2, gt=0, le=10_000)

    @model_validator(mode="after")
    def _check_limits(self) -> IdentitySettings:
        if self.password_length_min > self.password_length_max:
            raise ValueError("password_length_min must not exceed password_length_max")
        if self.key_overlap_s < self.access_token_ttl_s:
            raise ValueError("key_overlap_s must cover access_token_ttl_s, or rotation would cut live tokens off")
        if self.refresh_token_ttl_s > self.refresh_family_lifetime_s:
            raise ValueError("refresh_token_ttl_s must not exceed refresh_family_lifetime_s")
        if self.environment == "production" and self.key_encryption_secret == DEVELOPMENT_KEY_ENCRYPTION_SECRET:
            raise ValueError("key_encryption_secret is the development default in production")
        return self
