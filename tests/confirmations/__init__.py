"""Signed confirmations: receipts, notices and delivery records."""
