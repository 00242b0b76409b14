"""Flavor extra spec validation, as the Compute API does it from microversion 2.86.

From 2.86 a flavor's extra specs are checked when they are set: a value its key's rule refuses
is a bad request, and so is a key of a namespace the API owns that it does not know. Keys of
namespaces nobody owns (`aggregate_instance_extra_specs:`, `capabilities:`, an operator's own)
pass as they are. herder checks:

- every key of the namespaces whose key set is small and settled: `hw_rng:`, `hw_video:`,
  `resources{group}:`, `trait{group}:`, and the bare `group_policy` and `hide_hypervisor_id`;
- every key of herder's own namespace, `herder:` (the confirm policy of moves to the flavor,
  herder/confirm_policy.py), at every microversion: no Nova client sets these by accident, and
  a value the conductor cannot read would silently leave the move to the next policy;
- the values of the `hw:` keys that shape the guests herder places and moves (CPU policy and
  topology, NUMA, memory pages, watchdog, TPM, ...). An `hw:` key it has no rule for is let
  through: that namespace grows every release, and refusing a key a newer Compute API takes
  would be worse than taking one it refuses.

docs/microversions.md (2.86) records this choice.
"""
import re
from dataclasses import dataclass, field

from herder import confirm_policy

_TRUE_FALSE = frozenset({"1", "t", "true", "on", "y", "yes", "0", "f", "false", "off", "n",
                         "no"})
_CPU_SET = r"\^?\d+(-\d+)?(,\^?\d+(-\d+)?)*"       # "0-3,^2,5"
_PAGE_SIZE = r"(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)"
_GROUP = r"([a-zA-Z0-9_-]{1,64})?"                   # the request group suffix of resources/trait


class InvalidExtraSpec(ValueError):
    """An extra spec the API refuses from 2.86."""


@dataclass(frozen=True)
class Rule:
    """What one extra spec key (a regular expression over the full name) accepts."""
    name: str
    kind: str = "string"                   # string, integer or boolean
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    _compiled: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.name))

    def names(self, key: str) -> bool:
        return self._compiled.fullmatch(key) is not None

    def check(self, key: str, value: str) -> None:
        if self.kind == "integer":
            try:
                number = int(value)
            except ValueError:
                raise InvalidExtraSpec(f"Validation failed; extra spec {key}: '{value}' is "
                                       "not an integer.") from None
            if self.minimum is not None and number < self.minimum:
                raise InvalidExtraSpec(f"Validation failed; extra spec {key}: {number} is "
                                       f"less than {self.minimum}.")
        elif self.kind == "boolean":
            if value.strip().lower() not in _TRUE_FALSE:
                raise InvalidExtraSpec(f"Validation failed; extra spec {key}: '{value}' is "
                                       "not a boolean (true/false, yes/no, on/off, 1/0).")
        if self.choices and value not in self.choices:
            raise InvalidExtraSpec(f"Validation failed; extra spec {key}: '{value}' is not "
                                   f"one of {', '.join(self.choices)}.")
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            raise InvalidExtraSpec(f"Validation failed; extra spec {key}: '{value}' does not "
                                   f"match '{self.pattern}'.")


def _integers(names: tuple[str, ...], minimum: int) -> list[Rule]:
    return [Rule(name, "integer", minimum=minimum) for name in names]


def _booleans(names: tuple[str, ...]) -> list[Rule]:
    return [Rule(name, "boolean") for name in names]


RULES: list[Rule] = [
    # hw: CPU pinning and topology
    Rule(r"hw:cpu_policy", choices=("dedicated", "shared", "mixed")),
    Rule(r"hw:cpu_thread_policy", choices=("prefer", "isolate", "require")),
    Rule(r"hw:emulator_threads_policy", choices=("share", "isolate")),
    Rule(r"hw:cpu_dedicated_mask", pattern=_CPU_SET),
    Rule(r"hw:cpu_realtime_mask", pattern=_CPU_SET),
    *_integers((r"hw:cpu_sockets", r"hw:cpu_cores", r"hw:cpu_threads", r"hw:cpu_max_sockets",
                r"hw:cpu_max_cores", r"hw:cpu_max_threads"), minimum=1),
    # hw: NUMA and memory
    *_integers((r"hw:numa_nodes", r"hw:numa_mem\.\d+"), minimum=1),
    Rule(r"hw:numa_cpus\.\d+", pattern=_CPU_SET),
    Rule(r"hw:mem_page_size", pattern=_PAGE_SIZE),
    Rule(r"hw:pci_numa_affinity_policy", choices=("required", "preferred", "legacy", "socket")),
    # hw: devices and features
    Rule(r"hw:watchdog_action", choices=("none", "pause", "poweroff", "reset", "disabled")),
    Rule(r"hw:tpm_version", choices=("1.2", "2.0")),
    Rule(r"hw:tpm_model", choices=("tpm-tis", "tpm-crb")),
    *_integers((r"hw:serial_port_count",), minimum=0),
    *_booleans((r"hw:cpu_realtime", r"hw:boot_menu", r"hw:mem_encryption", r"hw:pmu",
                r"hw:vif_multiqueue_enabled", r"hw:hide_hypervisor_id", r"hw:locked_memory",
                r"hw:virtio_packed_ring")),
    # the closed namespaces: these rules are every key they have
    *_booleans((r"hw_rng:allowed",)),
    *_integers((r"hw_rng:rate_bytes", r"hw_rng:rate_period", r"hw_video:ram_max_mb"),
               minimum=0),
    Rule(rf"resources{_GROUP}:[A-Z0-9_]+", "integer", minimum=0),
    Rule(rf"trait{_GROUP}:[a-zA-Z0-9_]+", choices=("required", "forbidden")),
    Rule(r"group_policy", choices=("none", "isolate")),
    *_booleans((r"hide_hypervisor_id",)),
    # herder's own
    Rule(re.escape(confirm_policy.WINDOW_SPEC), "integer", minimum=0),
    Rule(re.escape(confirm_policy.ACTION_SPEC), choices=confirm_policy.ACTIONS),
]
_HERDER_NAMESPACE = "herder"
_CLOSED_NAMESPACES = [re.compile(n) for n in (r"hw_rng", r"hw_video", rf"resources{_GROUP}",
                                              rf"trait{_GROUP}", _HERDER_NAMESPACE)]


def checked_at_every_microversion(key: str) -> bool:
    """herder's own keys are checked whatever the microversion (others from 2.86, as Nova)."""
    return key.partition(":")[0] == _HERDER_NAMESPACE


def validate(key: str, value) -> None:
    """Raise InvalidExtraSpec if the API refuses `key` set to `value` (a string, number or
    boolean, compared as the text it is stored as)."""
    text = str(value)
    for rule in RULES:
        if rule.names(key):
            rule.check(key, text)
            return
    namespace, colon, _ = key.partition(":")
    if colon and any(n.fullmatch(namespace) for n in _CLOSED_NAMESPACES):
        raise InvalidExtraSpec(f"Validation failed; extra spec {key} is not a known key of "
                               f"the {namespace} namespace.")
