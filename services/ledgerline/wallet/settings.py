from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ledgerline.core.settings import REQUEST_BODY_BYTES_CEILING, ServiceSettings


class WalletSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_WALLET_", extra="ignore", populate_by_name=True)

    page_size_max: int = 500
    # Asked what became of a payment before an operator releases its hold by hand.
    payment_url: str = "http://127.0.0.1:8003"
    # `POST /v1/wallets/batch` opens up to 1,000 wallets of about 300 bytes at most each.
    request_body_bytes_max: int = Field(1024 * 1024, ge=1024, le=REQUEST_BODY_BYTES_CEILING)
