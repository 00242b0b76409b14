"""The per-host agent: guests, disks, claims and periodic tasks. It holds no database credentials."""
