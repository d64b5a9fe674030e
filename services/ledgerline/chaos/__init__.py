"""`ledgerline chaos`: a seeded fault-injection bank test of the local platform.

`schedule` plans the faults from a seed (pure), `load` drives the mixed client load through
`LedgerlineClient`, `faults` carries the plan out against the processes, `findings` judges what
was recorded (pure), and `run` puts them together, seed after seed, ending with `verify`.
"""
