"""The conductor: every multi-step operation, run as a durable, compensating workflow."""

# The topic on which compute hosts report to the conductor: their heartbeats and inventory, and
# their moves' progress. It has its own queue and workers, apart from the `conductor` topic's
# requests, so that a backlog of moves never delays a heartbeat past `service_down_time`: a
# host that looks down is given no moves, and moves from it are refused.
REPORTS_TOPIC = "conductor_reports"
