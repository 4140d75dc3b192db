"""The tamper-evident audit ledger of data calls and consent changes."""
