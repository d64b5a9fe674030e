"""The shared core every Ledgerline service builds on."""
