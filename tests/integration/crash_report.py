"""Render the crash matrix's JSON lines (HERDER_CRASH_MATRIX_REPORT) as the table of
docs/crash-matrix.md: `python -m tests.integration.crash_report <jsonl> <database>`."""
import json
import sys


def table(lines: list[dict], database: str) -> str:
    rows = [f"| {c['operation']} | `{c['point']}` | {c['killed']} | {c['outcome']} | "
            f"{c['migration'] or '(none yet)'} | {c['settled_after_s']} |" for c in lines]
    completed = sum(1 for c in lines if c["outcome"] == "completed")
    return "\n".join([
        f"{len(lines)} cases on {database}: {completed} completed, "
        f"{len(lines) - completed} rolled back, none stuck, none lost.",
        "",
        "| operation | held at | killed | outcome | migration | settled after (s) |",
        "|---|---|---|---|---|---|", *rows])


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        cases = [json.loads(line) for line in f if line.strip()]
    print(table(cases, sys.argv[2]))
