from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ledgerline.core.settings import ServiceSettings


class RewardsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_REWARDS_", extra="ignore", populate_by_name=True)

    # Asked who owns a wallet (the holder a monthly cap counts for) and what it has available.
    wallet_url: str = "http://127.0.0.1:8001"
    # Pays rewards and clawbacks as payments of their own.
    payment_url: str = "http://127.0.0.1:8003"
    page_size_max: int = Field(200, ge=1, le=1000)
    rules_max: int = Field(1000, ge=1, le=100_000)
    # How often the payer looks for rewards and clawbacks not yet asked of the payment service,
    # and how many it asks for per round.
    payer_interval_s: float = Field(0.5, gt=0, le=60)
    payer_batch_size_max: int = Field(100, ge=1, le=5000)
    # How stale the consumer's copy of the rules may be: a rule added through another instance
    # applies to outcomes consumed at most this long after it was added (at once on the instance
    # that added it).
    rules_refresh_s: float = Field(5.0, gt=0, le=300)
