"""Sparse disk files for the copy and transfer tests: data extents of recognisable bytes; and
the cancel-mid-copy scenario both the receiver and the driver are tested with."""
import os
import threading
from typing import Callable

import pytest

from herder import exception

MIB = 1024 * 1024
GIB = 1024 * MIB


def pattern(length: int, seed: int) -> bytes:
    block = bytes((seed + i) % 251 + 1 for i in range(4096))  # no zero bytes
    return (block * (length // 4096 + 1))[:length]


def make_sparse(path, size: int, extents: list[tuple[int, int]]) -> str:
    """A file of `size` bytes, holes everywhere but the (offset, length) extents."""
    with open(path, "wb") as f:
        f.truncate(size)
        for index, (offset, length) in enumerate(extents):
            f.seek(offset)
            f.write(pattern(length, index))
    return str(path)


def sparse_disk(path, extents: list[tuple[int, int]]) -> str:
    """A 1 GiB disk with `extents`; skips the test where the filesystem does not keep holes."""
    made = make_sparse(path, GIB, extents)
    if os.stat(made).st_blocks * 512 >= 64 * MIB:
        pytest.skip("the filesystem under tmp_path does not keep files sparse")
    return made


def cancel_while_a_chunk_is_held(hold, send: Callable[[], object],
                                 cancel: Callable[[], None]) -> tuple[list[Exception], bool]:
    """Run `send` until the receiving side holds a chunk (`hold`, its fault point), then
    `cancel` while it is held, then let the chunk go. Returns the TransferFailed errors `send`
    raised and whether `cancel` returned."""
    failures: list[Exception] = []

    def sending() -> None:
        try:
            send()
        except exception.TransferFailed as error:
            failures.append(error)

    sender = threading.Thread(target=sending)
    sender.start()
    hold.wait_reached()
    canceller = threading.Thread(target=cancel)
    canceller.start()
    sender.join(10)      # the source sees its connection cut while the chunk is still held
    hold.release()
    canceller.join(10)
    return failures, not canceller.is_alive()
