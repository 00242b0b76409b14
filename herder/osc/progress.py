"""Following a move by polling the API: a progress bar on stderr while the server is RESIZE
(a line redrawn on a terminal, plain lines at most once a second otherwise), then a summary of
the move, which the commands print with OSC's formatters (`-f json` too)."""
import collections
import datetime
import sys
import time

from osc_lib import exceptions
from osc_lib.command import command

from herder.move_progress import phase, size
from herder.osc.plugin import MOVING

POLL_SECONDS = 0.5
PLAIN_LINE_EVERY = 1.0
AT_REST = ("VERIFY_RESIZE", "ACTIVE", "SHUTOFF", "ERROR")
RATE_WINDOW = 5.0   # seconds of copy progress the rate is measured over


class ProgressLine:
    """One line of progress on `stream`: redrawn in place on a terminal; otherwise (a log, a
    pipe) printed as plain lines when it changes, at most once a second."""

    def __init__(self, stream, clock=time.monotonic):
        self.stream, self.clock = stream, clock
        self.tty = stream.isatty()
        self.last_line, self.last_printed = "", -PLAIN_LINE_EVERY

    def show(self, line: str, last: bool = False) -> None:
        """`last`: the final state, printed even within a second of the line before."""
        if self.tty:
            if line != self.last_line:
                self.stream.write("\r\x1b[K" + line)
                self.stream.flush()
        elif line != self.last_line and (
                last or self.clock() - self.last_printed >= PLAIN_LINE_EVERY):
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last_printed = self.clock()
        else:
            return
        self.last_line = line

    def end(self) -> None:
        """Leave the terminal's cursor on a line of its own."""
        if self.tty and self.last_line:
            self.stream.write("\n")
            self.stream.flush()


class Watch:
    """Polls one server until its move is over; `migration_id` None: the first move newer
    than `newer_than` (the request that starts it was just sent)."""

    def __init__(self, client, server: dict, migration_id: int | None = None,
                 newer_than: int = 0, stream=None, clock=time.monotonic, sleep=time.sleep):
        self.client, self.server = client, server
        self.migration_id, self.newer_than = migration_id, newer_than
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.clock, self.sleep = clock, sleep
        self.move: dict | None = None   # the move's last sample
        self.listed = False   # whether the move is still in progress (listed)
        self.samples: collections.deque = collections.deque()
        self.line = ProgressLine(self.stream, clock)

    def run(self) -> dict:
        while True:
            server = self.client.server(self.server["id"])
            self._follow(self.client.moves_in_progress(server["id"]))
            if self._at_rest(server):
                break
            self.line.show(self._line(server))
            self.sleep(POLL_SECONDS)
        self.line.end()
        return summary(server, self.move, self._final_record())

    def _follow(self, moves: list[dict]) -> None:
        if self.migration_id is None:
            newer = [m for m in moves if m["id"] > self.newer_than]
            if newer:
                self.migration_id = min(m["id"] for m in newer)
        self.listed = False
        for move in moves:
            if move["id"] == self.migration_id:
                self.listed = True
                self.move = move
                if move.get("disk_processed_bytes") is not None:
                    self.samples.append((self.clock(), move["disk_processed_bytes"]))
                    while self.samples[-1][0] - self.samples[0][0] > RATE_WINDOW:
                        self.samples.popleft()

    def _at_rest(self, server: dict) -> bool:
        if server.get("OS-EXT-STS:task_state") or server["status"] not in AT_REST:
            return False
        return not self.listed or self.move["status"] not in MOVING or \
            server["status"] == "ERROR"

    def rate(self) -> float | None:
        if len(self.samples) < 2 or self.samples[-1][0] == self.samples[0][0]:
            return None
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return (b1 - b0) / (t1 - t0)

    def _line(self, server: dict) -> str:
        now = phase(server, self.move)
        move = self.move or {}
        total, done = move.get("disk_total_bytes"), move.get("disk_processed_bytes")
        if now != "copy" or not total:
            return f"{server['name']}: {server['status']} {now}"
        rate = self.rate()
        eta = f"ETA {max(total - done, 0) / rate:.0f} s" if rate else "ETA -"
        speed = f"{size(rate)}/s" if rate is not None else "-/s"
        if self.tty:
            filled = int(30 * done / total)
            return (f"{server['name']}: copy [{'#' * filled}{'.' * (30 - filled)}] "
                    f"{100 * done // total:3d}% {size(done)}/{size(total)} {speed} {eta}")
        return (f"{server['name']}: copy {done}/{total} bytes ({100 * done // total}%), "
                f"{speed}, {eta}")

    def _final_record(self) -> dict | None:
        records = self.client.migrations(self.server["id"])
        if self.migration_id is None:
            records = [m for m in records if m["id"] > self.newer_than]
            return min(records, key=lambda m: m["id"]) if records else None
        return next((m for m in records if m["id"] == self.migration_id), None)


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    parse = datetime.datetime.fromisoformat
    return round((parse(end) - parse(start)).total_seconds(), 3)


def summary(server: dict, move: dict | None, record: dict | None) -> dict:
    """The move's outcome, from the server at rest and its migration's final record."""
    record = record or move or {}
    status = record.get("status")
    if server["status"] == "ERROR":
        outcome = "error"
    elif status == "finished":
        outcome = "VERIFY_RESIZE"
    elif status == "cancelled":
        outcome = "cancelled"
    else:
        outcome = "rolled back"
    duration = _seconds_between(record.get("created_at"), record.get("updated_at"))
    moved = (move or {}).get("disk_processed_bytes")
    return {"server": server["name"], "server_id": server["id"],
            "migration_id": record.get("id"), "type": record.get("migration_type"),
            "source": record.get("source_compute"), "destination": record.get("dest_compute"),
            "outcome": outcome, "migration_status": status, "server_status": server["status"],
            "fault": (server.get("fault") or {}).get("message"),
            "duration_seconds": duration, "bytes": moved,
            "average_rate_bytes_per_second":
                round(moved / duration) if moved is not None and duration else None}


def humanized(result: dict) -> dict:
    """The summary for a table: the move as `source -> destination`, sizes and rates in units."""
    shown = {"server": f"{result['server']} ({result['server_id']})",
             "migration": result["migration_id"], "type": result["type"],
             "move": f"{result['source']} -> {result['destination']}",
             "outcome": result["outcome"], "migration status": result["migration_status"],
             "server status": result["server_status"]}
    if result["fault"]:
        shown["fault"] = result["fault"]
    shown["duration"] = "-" if result["duration_seconds"] is None else \
        f"{result['duration_seconds']:.1f} s"
    shown["bytes"] = "-" if result["bytes"] is None else \
        f"{size(result['bytes'])} ({result['bytes']})"
    shown["average rate"] = "-" if result["average_rate_bytes_per_second"] is None else \
        f"{size(result['average_rate_bytes_per_second'])}/s"
    return shown


class MoveSummary(command.ShowOne):
    """A command that may follow a move and print its summary: exits non-zero when the move
    did not end as `expected` (after printing the summary)."""

    expected = ("VERIFY_RESIZE",)

    def run(self, parsed_args):
        self.failure = None
        status = super().run(parsed_args)
        if self.failure:
            raise exceptions.CommandError(self.failure)
        return status

    def produce_output(self, parsed_args, column_names, data):
        result = dict(zip(column_names, data))
        if parsed_args.formatter == "table" and "outcome" in result:
            column_names, data = self.dict2columns(humanized(result))
        return super().produce_output(parsed_args, column_names, data)

    def follow(self, client, server: dict, **watch) -> tuple[tuple, tuple]:
        result = Watch(client, server, stream=self.app.stderr, **watch).run()
        if result["outcome"] not in self.expected:
            why = f": {result['fault']}" if result["fault"] else ""
            self.failure = (f"The move of server {server['name']} ended {result['outcome']} "
                            f"(migration {result['migration_status']}, server "
                            f"{result['server_status']}){why}")
        return self.dict2columns(result)
