from collections.abc import Iterable
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from ledgerline.core.retry import RETRY_DELAY_MAX_S, RETRY_STEPS_MAX
from ledgerline.core.settings import ServiceSettings
from ledgerline.core.topics import NOTIFICATION_RETRY_DELAYS_S


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_NOTIFICATION_", extra="ignore", populate_by_name=True)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "Ledgerline <notifications@ledgerline.local>"
    smtp_starttls: bool = False
    smtp_timeout_s: float = Field(10.0, gt=0, le=120)
    webhook_timeout_s: float = Field(5.0, gt=0, le=60)
    # Comma-separated seconds, for example "5,30,120": one retry topic per delay.
    retry_delays_s: Annotated[tuple[int, ...], NoDecode] = NOTIFICATION_RETRY_DELAYS_S
    delivery_concurrency_max: int = Field(32, ge=1, le=512)
    response_excerpt_bytes_max: int = Field(512, ge=0, le=8192)
    page_size_max: int = Field(200, ge=1, le=1000)
    subscriptions_per_wallet_max: int = Field(20, ge=1, le=1000)

    @field_validator("retry_delays_s", mode="before")
    @classmethod
    def _parse_delays(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(int(part) for part in value.split(",") if part.strip())
        if not isinstance(value, Iterable):
            raise ValueError("retry delays are a comma-separated string or a list of seconds")
        delays = tuple(value)
        if not 1 <= len(delays) <= RETRY_STEPS_MAX or any(not 1 <= d <= RETRY_DELAY_MAX_S for d in delays):
            raise ValueError(f"1..{RETRY_STEPS_MAX} delays of 1..{RETRY_DELAY_MAX_S} seconds")
        return delays
