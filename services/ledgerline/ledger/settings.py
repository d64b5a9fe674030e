from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ledgerline.core.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_LEDGER_", extra="ignore", populate_by_name=True)

    wallet_url: str = "http://127.0.0.1:8001"
    page_size_max: int = Field(500, ge=1, le=5000)
    reconciliation_page_size: int = Field(500, ge=1, le=5000)
    reconciliation_mismatches_listed_max: int = Field(100, ge=1)
