"""The scopes an access token can carry that more than one service checks (plain names, no I/O)."""

from __future__ import annotations

ADMIN = "admin"
# Read any wallet, whoever owns it: what services need (the ledger reconciling, the payment and
# notification services learning a wallet's owner), never granted to customers.
WALLETS_READ_ANY = "wallets:read-any"
# Charges and payouts at the bank simulator: the payment service's calls to the outside bank.
BANK_WRITE = "bank:write"
# Reward and clawback payments at the payment service: the rewards service's calls, never a customer's.
REWARDS_WRITE = "rewards:write"
# A wallet's rewards, read by its owner.
REWARDS_READ = "rewards:read"
