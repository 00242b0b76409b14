"""What a workflow keeps in its journal row so that another run of the conductor can pick it up:
what it was asked to do, and what its steps learnt. Each workflow declares its own `Memory`
dataclass; the journal stores it as JSON with a version number.

The rule for a journal row written by an older herder (an upgrade while workflows are in
flight): the row's version says which fields it holds, and each function in `UPGRADES` turns
one version into the next, so a row of version n goes through UPGRADES[n:] in order before the
dataclass is built. Changing a memory's fields therefore means: raise VERSION by one and append
the function that turns the previous version's fields into the new ones. A row of a version
newer than the code knows is refused: an older herder cannot tell what its fields mean.

Version 0 is the layout from before memories had versions: no version number, the
constructor's arguments under "arguments" and the attributes the steps learnt under
"remembered".
"""
from dataclasses import asdict, dataclass
from typing import Callable, ClassVar, Self


class NewerMemory(ValueError):
    """A journal row written by a newer herder than this one."""


def merge_unversioned(old: dict) -> dict:
    """Version 0 to 1: arguments and remembered attributes become the fields of one memory.
    A move's migration uuid, which confirm and revert named among their arguments, is the
    journal row's own column and no field."""
    arguments = {name: value for name, value in old.get("arguments", {}).items()
                 if name != "migration_uuid"}
    return {**arguments, **old.get("remembered", {})}


@dataclass
class WorkflowMemory:
    """A workflow's memory with no fields (a workflow that learns nothing while it runs)."""
    VERSION: ClassVar[int] = 1
    # UPGRADES[n] turns the fields of version n into those of version n + 1
    UPGRADES: ClassVar[tuple[Callable[[dict], dict], ...]] = (merge_unversioned,)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if len(cls.UPGRADES) != cls.VERSION:
            raise TypeError(f"{cls.__name__} is version {cls.VERSION} but has "
                            f"{len(cls.UPGRADES)} upgrade(s): one from each earlier version")

    def to_journal(self) -> dict:
        return {"version": self.VERSION, **asdict(self)}

    @classmethod
    def from_journal(cls, saved: dict) -> Self:
        """The memory a journal row's context holds, in this version whatever version wrote
        it (`saved`: the whole context, as ServerWorkflow.snapshot writes it)."""
        if "memory" in saved:
            fields = dict(saved["memory"])
            version = fields.pop("version")
        else:
            fields = {"arguments": saved.get("arguments", {}),
                      "remembered": saved.get("remembered", {})}
            version = 0
        if version > cls.VERSION:
            raise NewerMemory(f"the journal holds version {version} of {cls.__name__}; this "
                              f"herder knows versions up to {cls.VERSION}")
        for upgrade in cls.UPGRADES[version:]:
            fields = upgrade(fields)
        return cls(**fields)
