from ledgerline.core.migrations import run_env
from ledgerline.ledger.tables import metadata

run_env(metadata)
