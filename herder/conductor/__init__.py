"""The conductor: every multi-step operation, run as a durable, compensating workflow."""
