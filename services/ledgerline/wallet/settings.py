from pydantic_settings import SettingsConfigDict

from ledgerline.core.settings import ServiceSettings


class WalletSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_WALLET_", extra="ignore", populate_by_name=True)

    page_size_max: int = 500
