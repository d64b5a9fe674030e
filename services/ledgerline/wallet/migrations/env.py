from ledgerline.core.migrations import run_env
from ledgerline.wallet.tables import metadata

run_env(metadata)
