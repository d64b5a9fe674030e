from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ledgerline.core.settings import REQUEST_BODY_BYTES_CEILING, ServiceSettings


class PaymentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_PAYMENT_", extra="ignore", populate_by_name=True)

    wallet_url: str = "http://127.0.0.1:8001"
    bank_url: str = "http://127.0.0.1:8009"
    # A saga step with no reply after this long is re-sent with the same command id.
    step_timeout_s: float = Field(10.0, gt=0, le=3600)
    step_timeout_max_s: float = Field(300.0, gt=0)
    step_attempts_max: int = Field(5, ge=1, le=100)
    saga_scan_interval_s: float = Field(1.0, gt=0, le=60)
    saga_scan_batch_size_max: int = Field(200, ge=1, le=5000)
    bank_timeout_s: float = Field(5.0, gt=0, le=120)
    bank_concurrency_max: int = Field(16, ge=1, le=256)
    bank_breaker_failures_max: int = Field(5, ge=1)
    bank_breaker_reset_s: int = Field(15, ge=1)
    page_size_max: int = Field(200, ge=1, le=1000)
    # `POST /v1/transfers/batch` carries up to 1,000 transfers of about 450 bytes at most each.
    request_body_bytes_max: int = Field(1024 * 1024, ge=1024, le=REQUEST_BODY_BYTES_CEILING)
    # Payments written per transaction when many arrive at once, and how many may wait for it
    # before new ones are refused with 503 and Retry-After.
    intake_group_size_max: int = Field(256, ge=1, le=5000)
    intake_queue_max: int = Field(2048, ge=1, le=100_000)
    intake_retry_after_s: int = Field(1, ge=1, le=60)
    # Sagas running at once before new payments are refused: past it, latency would only grow.
    active_payments_max: int = Field(10_000, ge=1, le=10_000_000)
    # A quote holds its rate this long (a caller may ask for less); its transfer must be accepted
    # before then, and runs to its end at that rate however long its saga takes.
    quote_ttl_s: int = Field(30, ge=1, le=3600)
    # How long a quote is kept past its expiry (then pruned by retention): used or not, it can
    # no longer be used, and the payment that used it keeps its rate and amounts.
    fx_quote_retention_s: int = Field(7 * 86_400, ge=3600, le=366 * 86_400)
    # Currency pairs the rates table holds at most (each pair one row; `GET /v1/fx/rates` lists all).
    fx_rates_max: int = Field(1000, ge=1, le=10_000)
    # The bank's rate feed (`GET /v1/fx/rates` at `bank_url`), loaded at startup and then every
    # interval: the pairs it names take its rates; the others keep the operator's.
    fx_rate_feed_enabled: bool = False
    fx_rate_feed_interval_s: float = Field(300.0, ge=1, le=86_400)
