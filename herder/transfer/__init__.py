"""Moving disk images between hosts."""
