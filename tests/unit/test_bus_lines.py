"""RpcServer's `one_at_a_time`: the requests of one line run one after the other, in order;
other lines, and requests in no line, run beside them."""
import threading
import time
import uuid

import pytest

from herder.bus.rpc import Bus
from herder.compute.agent import server_line
from herder.context import RequestContext


class SlowHost:
    """Records when each request ran; `step` waits until its gate opens."""
    RPC_API_VERSION = "1.0"

    def __init__(self):
        self.lock = threading.Lock()
        self.runs: list[tuple[str, str, float, float]] = []   # (method, tag, start, end)
        self.gate = threading.Event()
        self.started = threading.Event()

    def _record(self, method: str, tag: str, start: float) -> None:
        with self.lock:
            self.runs.append((method, tag, start, time.monotonic()))

    def step(self, context, instance, tag):
        start = time.monotonic()
        self.started.set()
        self.gate.wait(10)
        self._record("step", tag, start)
        return tag

    def undo(self, context, instance, tag):
        self._record("undo", tag, time.monotonic())
        return tag

    def cancel_transfers(self, context, instance, tag):
        self._record("cancel_transfers", tag, time.monotonic())
        return tag


@pytest.fixture
def bus_pair():
    tag = f"lines-{uuid.uuid4().hex[:8]}"
    server, client = Bus("memory://", virtual_host_tag=tag), Bus("memory://", virtual_host_tag=tag)
    yield server, client
    client.close()
    server.close()


CONTEXT = RequestContext(user_id="alice", project_id="demo", roles=["admin"])


def call_in_background(client: Bus, method: str, server_uuid: str, tag: str, replies: dict):
    def ask():
        replies[tag] = client.call("compute.c1", method, CONTEXT, timeout=10,
                                   instance={"uuid": server_uuid}, tag=tag)
    thread = threading.Thread(target=ask)
    thread.start()
    return thread


def host_at_work(bus_pair, workers: int):
    """A served SlowHost with server s1's step at work on it: (host, its RpcServer, client,
    replies, the callers' threads)."""
    server, client = bus_pair
    host = SlowHost()
    rpc_server = server.serve("compute.c1", host, workers=workers, one_at_a_time=server_line)
    replies: dict = {}
    threads = [call_in_background(client, "step", "s1", "step-1", replies)]
    assert host.started.wait(5)
    return host, rpc_server, client, replies, threads


def test_a_servers_requests_wait_for_its_running_step_and_keep_their_order(bus_pair):
    host, _, client, replies, threads = host_at_work(bus_pair, workers=4)
    # queued behind the running step, in this order
    for n in range(3):
        threads.append(call_in_background(client, "undo", "s1", f"undo-{n}", replies))
        time.sleep(0.05)
    # another server's request and the abort's stop of a copy do not wait
    threads.append(call_in_background(client, "undo", "s2", "other-server", replies))
    threads.append(call_in_background(client, "cancel_transfers", "s1", "cancel", replies))
    deadline = time.monotonic() + 5
    while len(host.runs) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(tag for _, tag, _, _ in host.runs) == ["cancel", "other-server"]

    host.gate.set()
    for thread in threads:
        thread.join(10)
    assert len(replies) == 6
    same_server = [(tag, start, end) for method, tag, start, end in host.runs
                   if tag.startswith(("step", "undo"))]
    assert [tag for tag, _, _ in same_server] == ["step-1", "undo-0", "undo-1", "undo-2"]
    step_end = same_server[0][2]
    assert all(start >= step_end for _, start, _ in same_server[1:])


def test_a_request_waiting_its_turn_holds_no_worker(bus_pair):
    """With one worker busy on a server's step, the queued requests of that server wait without
    a thread, and the other servers' requests still get the remaining worker."""
    host, _, client, replies, threads = host_at_work(bus_pair, workers=2)
    threads += [call_in_background(client, "undo", "s1", f"undo-{n}", replies) for n in range(5)]
    time.sleep(0.2)
    assert client.call("compute.c1", "undo", CONTEXT, timeout=5, instance={"uuid": "s2"},
                       tag="other") == "other"
    host.gate.set()
    for thread in threads:
        thread.join(10)
    assert sorted(replies) == ["step-1", *[f"undo-{n}" for n in range(5)]]


def test_graceful_stop_lets_the_waiting_requests_of_a_line_run(bus_pair):
    host, rpc_server, client, replies, threads = host_at_work(bus_pair, workers=2)
    threads.append(call_in_background(client, "undo", "s1", "undo-0", replies))
    time.sleep(0.2)
    threading.Timer(0.3, host.gate.set).start()
    assert rpc_server.stop(timeout=10)
    for thread in threads:
        thread.join(10)
    assert replies == {"step-1": "step-1", "undo-0": "undo-0"}
