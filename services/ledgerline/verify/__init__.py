"""`ledgerline verify`: the platform's invariants checked offline against its databases.

`checks` holds the pure rules over values, `reading` pages through the live databases
read-only and feeds them, `report` prints the outcome. The ledger service reconciles
continuously from the inside; this checker is the independent one, for scripts, helm tests,
the end-to-end tests, the benchmark and the chaos test.
"""
