"""A failure that repeats through an outage: one traceback, then a line each, then a line when
it works again."""
import logging

from herder.log_budget import FailureStreak


def test_a_streak_logs_one_traceback_then_a_line_per_failure_then_its_end(caplog):
    log = logging.getLogger("herder.test_streak")
    streak = FailureStreak(log, "the heartbeat")
    with caplog.at_level(logging.WARNING, logger="herder.test_streak"):
        for attempt in range(3):
            try:
                raise ConnectionResetError(f"reset {attempt}")
            except ConnectionResetError as error:
                streak.failed(error)
        streak.succeeded()
        streak.succeeded()   # nothing more to say
    records = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert records == [
        ("ERROR", "the heartbeat failed", True),
        ("WARNING", "the heartbeat failed again (2 in a row): reset 1", False),
        ("WARNING", "the heartbeat failed again (3 in a row): reset 2", False),
        ("WARNING", "the heartbeat works again after 3 failure(s)", False),
    ]
