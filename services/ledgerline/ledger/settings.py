from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ledgerline.core.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_LEDGER_", extra="ignore", populate_by_name=True)

    wallet_url: str = "http://127.0.0.1:8001"
    page_size_max: int = Field(500, ge=1, le=5000)
    reconciliation_page_size: int = Field(500, ge=1, le=5000)
    reconciliation_mismatches_listed_max: int = Field(100, ge=1, le=10_000)
    # The background check: a pass over every wallet, then this long until the next one starts.
    reconciliation_enabled: bool = True
    reconciliation_interval_s: float = Field(30.0, gt=0, le=86_400)
    # A wallet that differs is read again this much later: a payment in flight has moved on by then.
    reconciliation_recheck_delay_s: float = Field(5.0, ge=0, le=600)
    # Wallets read again per pass; mismatches beyond it count without a second read.
    reconciliation_recheck_max: int = Field(1_000, ge=1, le=100_000)
