"""Where a compute host keeps a guest's files, whichever driver runs it.

`<instances_dir>/<uuid>/` holds the guest (its `disk`, its `console.log`, the driver's record);
`<instances_dir>/<uuid>_resize/` is a move's source copy until confirm or revert. Names that
start with `_` are the host's own (`_base`: the image cache; `_move_claims`: the agent's).
"""
import os

RESIZE_SUFFIX = "_resize"


class InstanceLayout:
    def __init__(self, instances_dir: str):
        self.instances_dir = instances_dir

    def instance_dir(self, uuid: str) -> str:
        return os.path.join(self.instances_dir, uuid)

    def resize_dir(self, uuid: str) -> str:
        return self.instance_dir(uuid) + RESIZE_SUFFIX

    def disk_path(self, uuid: str) -> str:
        return os.path.join(self.instance_dir(uuid), "disk")

    def console_path(self, uuid: str) -> str:
        return os.path.join(self.instance_dir(uuid), "console.log")
