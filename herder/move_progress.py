"""How a move under way is put into words for people: its phase (the seed's steps: scheduling,
queued, prep, power-off, copy, finish) and byte counts. Shared by the `openstack server move`
commands (herder/osc/progress.py), which read the API's bodies, and the dashboard
(herder/dashboard), which reads the records: both hand in the API's field names."""


def phase(server: dict, move: dict | None) -> str:
    """`server`: its `OS-EXT-STS:task_state` and `status`; `move`: the migration's
    `dest_compute` and `disk_total_bytes` (None: no migration record yet)."""
    task = server.get("OS-EXT-STS:task_state")
    if task == "resize_prep":
        return "prep" if move and move.get("dest_compute") else "scheduling"
    if task == "resize_queued":   # waiting for a move slot on its hosts
        return "queued"
    if task == "resize_migrating":
        return "copy" if move and move.get("disk_total_bytes") else "power-off"
    if task in ("resize_migrated", "resize_finish"):
        return "finish"
    return task or server["status"].lower()


def size(count: float | None) -> str:
    if count is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
