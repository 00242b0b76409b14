"""Response bodies, by microversion."""
