#!/usr/bin/env python3
"""Render the option tables of docs/configuration.md from herder/conf.py.

    .venv/bin/python scripts/config-doc.py           # rewrite the tables in the doc
    .venv/bin/python scripts/config-doc.py --check   # exit 1 if the doc is out of date

The tables sit between the two marker lines of docs/configuration.md; the text around them is
written by hand. Each option's meaning is its `help`; for the few options declared without
one, it comes from MEANINGS below, and an option with neither makes this script fail, so a new
option cannot reach the doc without saying what it does.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from herder import conf  # noqa: E402  (after the path is set, to run from a fresh clone)

DOC = os.path.join(ROOT, "docs", "configuration.md")
BEGIN = "<!-- BEGIN option tables: written by scripts/config-doc.py, do not edit by hand -->"
END = "<!-- END option tables -->"

# What each section is for; shown above its table.
SECTIONS = {
    "DEFAULT": "Read by every service.",
    "api": "The api service: its HTTP server, limits, and how callers authenticate.",
    "compute": "Compute hosts: the driver, the instances directory, what the host offers, and "
               "its periodic tasks.",
    "libvirt": "Compute hosts running `compute_driver = libvirt` ([real-guests.md]"
               "(real-guests.md)).",
    "conductor": "The conductor's worker threads.",
    "scheduler": "The scheduler's worker threads, and how many hosts one move may try.",
    "filter_scheduler": "Which filters and weighers the scheduler runs, and their weights.",
    "quota": "Default limits of every project (-1: unlimited); `os-quota-sets` sets a "
             "project's own. herder enforces `instances`, `cores`, `ram`, `metadata_items`, "
             "`server_groups` and `server_group_members`; the others are shown by the API for "
             "the clients that read them, and limit nothing herder has.",
    "database": "The api, conductors and schedulers (compute hosts have no database).",
    "messaging": "Every service: the bus.",
    "workflow": "Conductors: deadlines of workflow steps, leases, and recovery "
                "([failure-semantics.md](failure-semantics.md)).",
    "transfer": "Compute hosts: the disk transfer agent ([architecture.md]"
                "(architecture.md#the-transfer-service)).",
    "image": "The image store, and the signed URLs compute hosts download images with "
             "([images.md](images.md)).",
    "fault_injection": "Tests only: leave empty in production.",
}

# Meanings of the options herder/conf.py declares without `help`.
MEANINGS = {
    ("DEFAULT", "default_availability_zone"):
        "The availability zone compute hosts report themselves in.",
    ("api", "listen"): "The address the api's HTTP server listens on.",
    ("api", "port"): "The port the api's HTTP server listens on (0: any free port).",
    ("compute", "cpu_allocation_ratio"):
        "vCPUs offered per physical CPU (overcommit): the host's inventory is its vCPUs times "
        "this.",
    ("compute", "ram_allocation_ratio"): "Memory offered per MB of the host's memory.",
    ("compute", "disk_allocation_ratio"): "Disk offered per GB of the host's disk.",
    ("compute", "reserved_host_memory_mb"):
        "Memory (MB) kept for the host itself, taken off its inventory.",
    ("filter_scheduler", "enabled_filters"):
        "The host filters a selection runs, in order: ComputeFilter, ResourceFilter, "
        "AvailabilityZoneFilter, ImagePropertiesFilter, ServerGroupAffinityFilter, "
        "ServerGroupAntiAffinityFilter.",
    ("filter_scheduler", "weighers"):
        "The weighers that rank the hosts that passed: RAMWeigher, CPUWeigher, DiskWeigher "
        "(spread), ServerGroupSoftAffinityWeigher, ServerGroupSoftAntiAffinityWeigher.",
    ("quota", "instances"): "Servers per project.",
    ("quota", "cores"): "vCPUs per project.",
    ("quota", "injected_files"): "Shown by the API before 2.57; herder takes no injected files.",
    ("quota", "injected_file_content_bytes"):
        "Shown by the API before 2.57; herder takes no injected files.",
    ("quota", "injected_file_path_length"):
        "Shown by the API before 2.57; herder takes no injected files.",
    ("quota", "key_pairs"): "Shown by the API; herder has no key pairs.",
    ("quota", "floating_ips"): "Shown by the API before 2.36; herder has no floating IPs.",
    ("quota", "fixed_ips"): "Shown by the API before 2.36; herder has no fixed IP quota.",
    ("quota", "security_groups"): "Shown by the API before 2.36; herder has no security groups.",
    ("quota", "security_group_rules"):
        "Shown by the API before 2.36; herder has no security groups.",
}


class MissingMeaning(Exception):
    pass


def _type(opt) -> str:
    kind = type(opt.type).__name__
    name = {"String": "string", "Integer": "integer", "Float": "number", "Boolean": "boolean",
            "Port": "port", "HostAddress": "host address", "List": "list"}.get(kind, kind)
    choices = getattr(opt.type, "choices", None)
    if choices:
        return "one of " + ", ".join(f"`{choice}`" for choice in choices)
    low, high = getattr(opt.type, "min", None), getattr(opt.type, "max", None)
    if kind == "Port":
        return name
    if low is not None and high is not None:
        return f"{name}, {low} to {high}"
    if low is not None:
        return f"{name} ≥ {low}"
    return name


def _default(opt) -> str:
    value = opt.sample_default if opt.sample_default is not None else opt.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`" + ", ".join(value) + "`" if value else "empty"
    if value == "":
        return "empty"
    text = str(value)
    home = os.path.expanduser("~")
    if text.startswith(home + os.sep):   # a per-user default: written as the user sees it
        text = "~" + text[len(home):]
    return f"`{text}`"


def _meaning(group: str, opt) -> str:
    text = opt.help or MEANINGS.get((group, opt.name))
    if not text:
        raise MissingMeaning(f"[{group}] {opt.name} has no help in herder/conf.py and no "
                             "entry in MEANINGS of scripts/config-doc.py")
    if opt.secret:
        text += " Secret."
    # a table cell: a | would end it, and <placeholder> would be read as an HTML tag
    text = " ".join(text.split()).replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def render() -> str:
    lines = []
    for group, opts in conf.list_opts():
        group = group or "DEFAULT"
        lines += [f"### [{group}]", ""]
        if group in SECTIONS:
            lines += [SECTIONS[group], ""]
        lines += ["| option | type | default | meaning |", "|---|---|---|---|"]
        for opt in opts:
            lines.append(f"| `{opt.name}` | {_type(opt)} | {_default(opt)} | "
                         f"{_meaning(group, opt)} |")
        lines.append("")
    return "\n".join(lines)


def rewritten(doc: str) -> str:
    """The doc with the text between its markers replaced by render()."""
    head, begin, rest = doc.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise SystemExit(f"{DOC} lacks the marker lines:\n{BEGIN}\n{END}")
    return f"{head}{BEGIN}\n\n{render()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the doc differs from what would be written")
    args = parser.parse_args()
    with open(DOC, encoding="utf-8") as f:
        current = f.read()
    wanted = rewritten(current)
    if args.check:
        if wanted != current:
            print(f"{os.path.relpath(DOC, ROOT)} is out of date: run "
                  "`.venv/bin/python scripts/config-doc.py`", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        with open(DOC, "w", encoding="utf-8") as f:
            f.write(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
