"""A move between hosts that share their instances directory: the disks are copied, not sent.

The destination sees the source's files already (herder/compute/shared_storage.py finds that
out), so the source copies each disk file from the move's kept copy (`<uuid>_resize/`) into the
guest's directory (`<uuid>/`), where the destination's finish_migration finds them. The kept
copy stays untouched for a revert, as with a copy over the network: the guest that boots on
the destination writes to its own files only.
"""
import logging
import os

from herder.transfer import sparse
from herder.virt.driver import MoveReport, Progress, progress_over_files

LOG = logging.getLogger(__name__)
COPYING_SUFFIX = ".copying"   # not one of a transfer's suffixes: a receiver leaves it alone


def copy_disks(kept_dir: str, guest_dir: str, names: list[str], virtual_bytes: int,
               progress: Progress | None) -> MoveReport:
    """Copy each file of `names` (holes kept), through a temporary name so that a retry
    after a crash never takes half a copy for a whole one. Progress counts over all the
    files. `virtual_bytes`: their sizes as the guest sees them, for the report."""
    os.makedirs(guest_dir, exist_ok=True)
    sources = [os.path.join(kept_dir, name) for name in names]
    sizes = [sparse.allocated_bytes(path) for path in sources]
    for name, source, report in zip(names, sources, progress_over_files(progress, sizes)):
        target = os.path.join(guest_dir, name)
        sparse.copy_sparse(source, target + COPYING_SUFFIX, report)
        os.replace(target + COPYING_SUFFIX, target)
    LOG.info("%d disk file(s) copied from %s on an instances directory the destination "
             "shares: %d bytes of data (virtual size %d)", len(names), kept_dir, sum(sizes),
             virtual_bytes)
    return MoveReport(files=len(names), virtual_bytes=virtual_bytes, allocated_bytes=sum(sizes),
                      bytes_sent=0, resumed_from=0, shared_storage=True)
