"""herder: a compute control plane for moving virtual machines between hosts."""
