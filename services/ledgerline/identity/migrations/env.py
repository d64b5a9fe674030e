from ledgerline.core.migrations import run_env
from ledgerline.identity.tables import metadata

run_env(metadata)
