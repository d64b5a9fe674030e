"""`ledgerline bench`: Ledgerline's throughput and latency, against pgbench on the same PostgreSQL."""
