"""soak_schedule.play: the shared fault schedule on a fake clock, a fake simulator and a fake target."""

from __future__ import annotations

import pytest
from harness.soak_schedule import (
    FAULT_ORDER,
    MIN_DURATION_S,
    RETRY_AFTER_S,
    WATCH_EVERY_S,
    inject,
    plan_schedule,
    play,
)
from testkit.fake_clock import FakeClock

T0_MS = 1_800_000_000_000


class FakeSim:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[int, dict]] = []

    def set_faults(self, **cfg):
        self.calls.append((self.clock.wall_ms(), cfg))
        return cfg


class FakeTarget:
    """Records what the schedule asked; its clock runs OFFSET ms ahead of the controller's."""

    OFFSET = 250

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.events: list[tuple[str, int]] = []
        self.watches = 0

    def now_ms(self) -> int:
        return self.clock.wall_ms() + self.OFFSET

    def watch(self) -> None:
        self.watches += 1

    def sigkill(self):
        start = self.now_ms()
        self.clock.advance(1.4)  # systemd brings it back
        self.events.append(("sigkill", start))
        return {"start_ms": start, "end_ms": self.now_ms(), "new_pid": 42}

    def restart(self):
        start = self.now_ms()
        self.clock.advance(0.3)
        self.events.append(("restart", start))
        return {"start_ms": start, "end_ms": self.now_ms()}

    def disk_begin(self):
        self.events.append(("disk_begin", self.now_ms()))

    def disk_end(self):
        self.events.append(("disk_end", self.now_ms()))


def setup(duration: float = MIN_DURATION_S):
    clock = FakeClock(wall_ms=T0_MS, monotonic=100.0)
    return clock, FakeSim(clock), FakeTarget(clock)


def test_play_injects_every_kind_in_order_and_ends_after_the_duration():
    clock, sim, target = setup()
    plan = plan_schedule(MIN_DURATION_S)
    played = play(plan, MIN_DURATION_S, sim=sim, target=target, clock=clock)
    assert [f.kind for f in played.faults] == list(FAULT_ORDER)
    assert clock.monotonic() == pytest.approx(100.0 + MIN_DURATION_S)
    assert max(clock.sleeps) <= WATCH_EVERY_S + 1e-9
    assert target.watches == len(clock.sleeps)


def test_fault_windows_are_on_the_targets_clock_and_last_as_planned():
    clock, sim, target = setup()
    plan = plan_schedule(MIN_DURATION_S)
    played = play(plan, MIN_DURATION_S, sim=sim, target=target, clock=clock)
    by_kind = {f.kind: f for f in played.faults}
    down = by_kind["down"]
    assert down.start_ms == T0_MS + round(plan[0].at_s * 1000) + FakeTarget.OFFSET
    assert down.end_ms - down.start_ms == 20_000
    assert by_kind["429"].end_ms - by_kind["429"].start_ms == 15_000
    assert by_kind["disk"].end_ms - by_kind["disk"].start_ms == 15_000
    assert by_kind["sigkill"].end_ms - by_kind["sigkill"].start_ms == 1_400
    assert by_kind["restart"].end_ms - by_kind["restart"].start_ms == 300


def test_simulator_faults_are_switched_on_and_off():
    clock, sim, target = setup()
    play(plan_schedule(MIN_DURATION_S), MIN_DURATION_S, sim=sim, target=target, clock=clock)
    configs = [cfg for _t, cfg in sim.calls]
    assert configs == [
        {"mode": "down"},
        {"mode": "none"},
        {"mode": "429", "target": "all", "rate": 1.0, "retry_after": RETRY_AFTER_S},
        {"mode": "none"},
    ]
    (on, _), (off, _) = sim.calls[:2]
    assert off - on == 20_000


def test_target_details_are_kept_without_the_window_keys():
    clock, sim, target = setup()
    played = play(plan_schedule(MIN_DURATION_S), MIN_DURATION_S, sim=sim, target=target, clock=clock)
    details = dict(zip([f.kind for f in played.faults], played.details, strict=True))
    assert details["sigkill"] == {"new_pid": 42}
    assert details["down"] == {} and details["restart"] == {}
    assert [e[0] for e in target.events] == ["sigkill", "restart", "disk_begin", "disk_end"]


def test_unknown_kind_is_refused():
    clock, sim, target = setup()
    from harness.soak_schedule import PlannedFault

    with pytest.raises(ValueError, match="unknown fault kind"):
        inject(PlannedFault("flood", 0, 1), sim, target, clock)
