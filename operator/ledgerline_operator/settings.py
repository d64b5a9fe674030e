"""The operator's settings, read from the same unprefixed `LEDGERLINE_*` variables as the services."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEVELOPMENT_HOSTS = ("localhost", "127.0.0.1")
# Where the operator serves /metrics: loopback by default (a laptop's local Prometheus scrapes
# it there); the chart sets 0.0.0.0 so its PodMonitor can reach the pod.
METRICS_HOST = "127.0.0.1"
METRICS_PORT = 8010
# How often the depth of every dead-letter topic is measured; each measurement reads every one.
DEAD_LETTER_DEPTH_INTERVAL_S = 30.0
DEAD_LETTER_DEPTH_INTERVAL_S_MIN = 5.0
DEAD_LETTER_DEPTH_INTERVAL_S_MAX = 3600.0


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_", extra="ignore", populate_by_name=True)

    environment: Literal["development", "test", "production"] = Field(
        "development", validation_alias=AliasChoices("LEDGERLINE_ENVIRONMENT", "environment")
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("LEDGERLINE_KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    )

    metrics_host: str = Field(
        METRICS_HOST, validation_alias=AliasChoices("LEDGERLINE_OPERATOR_METRICS_HOST", "metrics_host")
    )
    metrics_port: int = Field(
        METRICS_PORT, ge=1, le=65535, validation_alias=AliasChoices("LEDGERLINE_OPERATOR_METRICS_PORT", "metrics_port")
    )
    dead_letter_depth_interval_s: float = Field(
        DEAD_LETTER_DEPTH_INTERVAL_S,
        ge=DEAD_LETTER_DEPTH_INTERVAL_S_MIN,
        le=DEAD_LETTER_DEPTH_INTERVAL_S_MAX,
        validation_alias=AliasChoices(
            "LEDGERLINE_OPERATOR_DEAD_LETTER_DEPTH_INTERVAL_S", "dead_letter_depth_interval_s"
        ),
    )

    @model_validator(mode="after")
    def _refuse_development_kafka_in_production(self) -> OperatorSettings:
        if self.environment == "production" and any(h in self.kafka_bootstrap_servers for h in _DEVELOPMENT_HOSTS):
            raise ValueError(
                f"kafka_bootstrap_servers points at a development default ({self.kafka_bootstrap_servers})"
            )
        return self
