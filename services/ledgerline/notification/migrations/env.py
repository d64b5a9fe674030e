from ledgerline.core.migrations import run_env
from ledgerline.notification.tables import metadata

run_env(metadata)
