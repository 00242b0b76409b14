"""Small JSON records a compute host keeps on its own disk (guest definitions, move claims).

A record is written to a temporary file and renamed into place, so a reader (or a host that
restarts mid-write) sees the old record or the new one, never half of one.
"""
import json
import os


def read(path: str) -> dict | None:
    """The record at `path`, or None if there is none."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def write(path: str, record: dict) -> None:
    partial = path + ".tmp"
    with open(partial, "w") as f:
        json.dump(record, f)
    os.replace(partial, path)
