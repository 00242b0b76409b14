"""Versioned notifications, published on `versioned_notifications.<priority>`.

Like oslo.messaging's notifier on RabbitMQ, a notification reaches whoever has bound a queue to
that topic and is dropped when nobody listens.
"""
import logging
import uuid
from datetime import datetime, timezone

from herder.bus.rpc import EXCHANGE, Bus

LOG = logging.getLogger(__name__)
TOPIC = "versioned_notifications"


class Notifier:
    def __init__(self, bus: Bus, publisher_id: str):
        self.bus = bus
        self.publisher_id = publisher_id

    def info(self, event_type: str, payload: dict) -> None:
        self._emit("INFO", event_type, payload)

    def error(self, event_type: str, payload: dict) -> None:
        self._emit("ERROR", event_type, payload)

    def send(self, priority: str, event_type: str, payload: dict,
             timestamp: datetime | None = None) -> None:
        """Publish one notification, raising if the bus did not take it: for a caller that
        keeps the notification until it was sent (herder/drain_notifications.py).
        `timestamp` (UTC): when what it reports happened, if not now."""
        body = {
            "message_id": str(uuid.uuid4()),
            "publisher_id": self.publisher_id,
            "event_type": event_type,
            "priority": priority,
            "payload": payload,
            "timestamp": (timestamp or datetime.now(timezone.utc)).strftime(
                "%Y-%m-%d %H:%M:%S.%f"),
        }
        self.bus.publish(body, routing_key=self.bus.qualified(f"{TOPIC}.{priority.lower()}"),
                         exchange=EXCHANGE)

    def _emit(self, priority: str, event_type: str, payload: dict) -> None:
        try:
            self.send(priority, event_type, payload)
        except Exception:  # a notification must never break the operation it reports
            LOG.exception("could not emit notification %s", event_type)
