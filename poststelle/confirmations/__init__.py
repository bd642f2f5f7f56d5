"""What the mailroom tells senders: receipts, notices and delivery records."""
