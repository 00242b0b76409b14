"""Confirm policies: what happens to a move left waiting in VERIFY_RESIZE, and when.

A policy has two settings, each of which three places may give:

    window  seconds a finished move may wait before the action is taken (0: never)
    action  `confirm` (Nova's behaviour) or `revert` (back to the source and the old flavor)

    1. the flavor the server moved to: extra specs `herder:resize_confirm_window` and
       `herder:resize_confirm_action`
    2. the server's project: its confirm policy (herder's API, /herder/v1/projects/{id}/
       confirm-policy)
    3. the cloud: `[DEFAULT] resize_confirm_window` and `resize_confirm_action`

The first place that gives a setting wins, for each setting on its own: a flavor that sets only
a window takes its action from the project, or else from the cloud. The flavor comes first
because it describes what the move holds (a flavor that reserves a whole GPU host can say that
such a host must not be held twice for long) whatever the project; the project comes before the
cloud because an operator sets it for one tenant's needs against the cloud's general rule.

This module only decides; herder/conductor/expired_resizes.py acts.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

CONFIRM, REVERT = "confirm", "revert"
ACTIONS = (CONFIRM, REVERT)

# the flavor extra specs, in herder's own namespace (herder/api/extra_specs.py validates them)
WINDOW_SPEC = "herder:resize_confirm_window"
ACTION_SPEC = "herder:resize_confirm_action"


@dataclass(frozen=True)
class Layer:
    """What one place sets (None: it leaves that setting to the next place), and who it is, in
    words for the log line that explains an automatic confirm or revert."""
    source: str
    window: int | None = None
    action: str | None = None


@dataclass(frozen=True)
class Setting:
    value: int | str
    source: str


@dataclass(frozen=True)
class ConfirmPolicy:
    window: Setting
    action: Setting

    def expired(self, finished_at: datetime, now: datetime) -> bool:
        """Whether a move finished at `finished_at` has waited past the window by `now`."""
        return self.window.value > 0 and \
            finished_at <= now - timedelta(seconds=self.window.value)

    def explain(self) -> str:
        return (f"window {self.window.value} s from {self.window.source}, "
                f"action {self.action.value} from {self.action.source}")


def resolve(flavor: Layer, project: Layer, cloud: Layer) -> ConfirmPolicy:
    """The policy that applies: each setting from the first of flavor, project, cloud that
    gives it. The cloud gives both."""
    def first(name: str) -> Setting:
        layer = next(layer for layer in (flavor, project, cloud)
                     if getattr(layer, name) is not None)
        return Setting(getattr(layer, name), layer.source)
    return ConfirmPolicy(first("window"), first("action"))


def flavor_layer(flavor_name: str, extra_specs: dict) -> Layer:
    """What a flavor's extra specs set. A value the API would refuse (written to the database
    by other means) sets nothing, so the next place decides."""
    window = extra_specs.get(WINDOW_SPEC)
    action = extra_specs.get(ACTION_SPEC)
    return Layer(f"flavor {flavor_name} (extra specs)",
                 window=int(window) if _whole_number(window) else None,
                 action=action if action in ACTIONS else None)


def _whole_number(value) -> bool:
    return isinstance(value, (str, int)) and str(value).isdigit()
