"""The replies a server sent for its latest calls, kept to answer the broker's redeliveries.

A server that acknowledges a call only when its handler finished (the compute hosts) can be
handed the same call again: when the connection it came on dropped before the acknowledgement
went out, or when the process died between the reply and the acknowledgement. The call is done:
running it again after the caller moved on could undo or redo what came since, so the server
sends the reply it kept instead.

`ReplyLog` keeps them in memory (enough for a dropped connection). `DiskReplyLog` keeps them in
a directory too, so that a compute host that restarts still has them: a reply is written
(through a temporary file) before it is sent, and the files of the oldest go beyond `capacity`.
"""
import os
import uuid as uuidlib
from collections import OrderedDict

from herder import json_records

# How many finished calls a server remembers the reply of: the broker hands back at most the
# calls whose acknowledgement had not gone out (the server's requests in flight at that moment)
CAPACITY = 1024


class ReplyLog:
    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self._replies: OrderedDict[str, tuple[str, dict]] = OrderedDict()

    def get(self, correlation_id: str) -> tuple[str, dict] | None:
        """(reply_to, reply) of a call answered already, or None."""
        return self._replies.get(correlation_id)

    def put(self, correlation_id: str, reply_to: str, reply: dict) -> None:
        self._replies[correlation_id] = (reply_to, reply)
        while len(self._replies) > self.capacity:
            self._forget(self._replies.popitem(last=False)[0])

    def _forget(self, correlation_id: str) -> None:
        """The oldest reply left the log (subclasses drop what they keep of it)."""


class DiskReplyLog(ReplyLog):
    def __init__(self, directory: str, capacity: int = CAPACITY):
        super().__init__(capacity)
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        found = []
        for name in os.listdir(directory):
            record = json_records.read(os.path.join(directory, name)) \
                if name.endswith(".json") else None
            if record is not None:
                found.append((record["sequence"], name.removesuffix(".json"), record))
        found.sort(key=lambda entry: entry[0])   # oldest first (file times are too coarse)
        self._sequence = found[-1][0] if found else 0
        for _sequence, correlation_id, record in found:
            super().put(correlation_id, record["reply_to"], record["reply"])

    def _path(self, correlation_id: str) -> str | None:
        try:   # the id comes with the message: only a hex uuid may become a file name
            return os.path.join(self.directory, uuidlib.UUID(hex=correlation_id).hex + ".json")
        except ValueError:
            return None

    def put(self, correlation_id: str, reply_to: str, reply: dict) -> None:
        path = self._path(correlation_id)
        if path is not None:
            self._sequence += 1
            json_records.write(path, {"reply_to": reply_to, "reply": reply,
                                      "sequence": self._sequence})
        super().put(correlation_id, reply_to, reply)

    def _forget(self, correlation_id: str) -> None:
        path = self._path(correlation_id)
        if path is not None:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
