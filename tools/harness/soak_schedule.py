"""The soak's fault schedule: what is injected when, and playing it against a collector.

Both soak modes share this module. ``plan_schedule`` (pure) places every fault
kind once per round in its own slot between a warm-up and a cool-down.
``play`` walks the plan on an injected clock: ``down`` and ``429`` go to the
simulator's fault control, ``sigkill``, ``restart`` and ``disk`` to a
``Target`` (the local subprocess in local mode, the systemd service on a host
in inventory mode). Every fault window is recorded on the clock of the host
that writes the rows (``Target.now_ms``), because ``recv_ms`` in the data comes
from that clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from orderbooks.clock import Clock

from harness.soak_verdict import FaultWindow

INTERVAL_S = 1.0
WARMUP_S = 30.0
COOLDOWN_S = 30.0
#: Seconds each fault lasts (sigkill/restart: as long as the restart takes).
FAULT_SECONDS = {"down": 20.0, "429": 15.0, "sigkill": 0.0, "restart": 0.0, "disk": 15.0}
FAULT_ORDER = ("down", "429", "sigkill", "restart", "disk")
#: A slot must hold its fault plus this much calm before the next one.
MIN_CALM_S = 20.0
MIN_DURATION_S = WARMUP_S + COOLDOWN_S + len(FAULT_ORDER) * (max(FAULT_SECONDS.values()) + MIN_CALM_S)
RETRY_AFTER_S = 2
#: Excluded from the coverage figure around each fault: before its start, after its end.
EXCLUDE_BEFORE_MS = 2_000
EXCLUDE_AFTER_MS = 15_000  # the collector retries a failed discovery after at most 10 s
#: How often ``play`` lets the target look at its collector while it waits.
WATCH_EVERY_S = 0.2


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    at_s: float  # seconds after the soak's start
    seconds: float


def plan_schedule(duration_s: float, rounds: int = 1) -> list[PlannedFault]:
    """Every fault kind once per round, each centred in its own slot between warm-up and cool-down."""
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    usable = duration_s - WARMUP_S - COOLDOWN_S
    slot = usable / (rounds * len(FAULT_ORDER))
    if slot < max(FAULT_SECONDS.values()) + MIN_CALM_S:
        need = WARMUP_S + COOLDOWN_S + rounds * len(FAULT_ORDER) * (max(FAULT_SECONDS.values()) + MIN_CALM_S)
        raise ValueError(f"duration {duration_s:g}s is too short for {rounds} round(s): need >= {need:g}s")
    plan = []
    for i in range(rounds * len(FAULT_ORDER)):
        kind = FAULT_ORDER[i % len(FAULT_ORDER)]
        seconds = FAULT_SECONDS[kind]
        plan.append(PlannedFault(kind, round(WARMUP_S + i * slot + (slot - seconds) / 2, 3), seconds))
    return plan


def default_rounds(duration_s: float) -> int:
    """One round per hour of soak, at least one."""
    return max(1, int(duration_s // 3600))


def exclusion_windows(faults: list[FaultWindow]) -> list[tuple[int, int]]:
    return [(f.start_ms - EXCLUDE_BEFORE_MS, f.end_ms + EXCLUDE_AFTER_MS) for f in faults]


class Target(Protocol):
    """The collector under soak, as the schedule sees it."""

    def now_ms(self) -> int:
        """Epoch ms on the clock of the host that writes the rows."""

    def watch(self) -> None:
        """Look at the collector (called every ``WATCH_EVERY_S`` while waiting); note surprises."""

    def sigkill(self) -> dict[str, Any]:
        """SIGKILL the collector and see it run again; ``{"start_ms", "end_ms", ...detail}``."""

    def restart(self) -> dict[str, Any]:
        """A clean restart; ``{"start_ms", "end_ms", ...detail}``."""

    def disk_begin(self) -> None:
        """Put the collector's data folder under its disk floor."""

    def disk_end(self) -> None:
        """Give the space back."""


class FaultControl(Protocol):
    def set_faults(self, **cfg: Any) -> dict[str, Any]: ...


@dataclass
class Played:
    """What ``play`` injected: the windows and what the target reported of each fault."""

    faults: list[FaultWindow] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)


def wait_until(deadline: float, target: Target, clock: Clock) -> None:
    while (left := deadline - clock.monotonic()) > 0:
        clock.sleep(min(left, WATCH_EVERY_S))
        target.watch()


def inject(
    planned: PlannedFault, sim: FaultControl, target: Target, clock: Clock
) -> tuple[FaultWindow, dict]:
    """One fault, its window on the target's clock, and what the target reported about it."""
    kind = planned.kind
    detail: dict[str, Any] = {}
    start = target.now_ms()
    if kind in ("down", "429"):
        if kind == "down":
            sim.set_faults(mode="down")
        else:
            sim.set_faults(mode="429", target="all", rate=1.0, retry_after=RETRY_AFTER_S)
        wait_until(clock.monotonic() + planned.seconds, target, clock)
        sim.set_faults(mode="none")
        end = target.now_ms()
    elif kind in ("sigkill", "restart"):
        detail = target.sigkill() if kind == "sigkill" else target.restart()
        start, end = int(detail.pop("start_ms")), int(detail.pop("end_ms"))
    elif kind == "disk":
        target.disk_begin()
        wait_until(clock.monotonic() + planned.seconds, target, clock)
        target.disk_end()
        end = target.now_ms()
    else:
        raise ValueError(f"unknown fault kind {kind!r}")
    return FaultWindow.of(kind, start, end), detail


def play(
    plan: list[PlannedFault],
    duration_s: float,
    *,
    sim: FaultControl,
    target: Target,
    clock: Clock,
    log: Callable[[str], None] = lambda message: None,
) -> Played:
    """Walk the plan from now; return once *duration_s* has passed since the start."""
    played = Played()
    t0 = clock.monotonic()
    for planned in plan:
        wait_until(t0 + planned.at_s, target, clock)
        log(f"fault {planned.kind} ({planned.seconds:g}s)")
        window, detail = inject(planned, sim, target, clock)
        played.faults.append(window)
        played.details.append(detail)
        if detail:
            log(f"fault {planned.kind}: {detail}")
    wait_until(t0 + duration_s, target, clock)
    return played
