from ledgerline.core.migrations import run_env
from ledgerline.payment.tables import metadata

run_env(metadata)
