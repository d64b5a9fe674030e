from ledgerline.core.migrations import run_env
from ledgerline.rewards.tables import metadata

run_env(metadata)
