"""Where a server goes: filters and weighers over host states, then an allocation claim."""
