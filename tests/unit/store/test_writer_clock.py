"""A wall clock that steps never leaves a file open past its hour of real time (issue 22, case 7).

The clock is a FakeClock whose wall time is moved apart from its monotonic time,
as a stepped system clock does; the writer is the real SnapshotWriter on real files.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from orderbooks.records import CycleResult
from orderbooks.store import paths
from orderbooks.store.hour_file import DEADLINE_GRACE_S
from orderbooks.store.verify import verify_data_dir
from testkit.fake_clock import FakeClock
from testkit.writers import new_writer

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
T10 = paths.HourKey("2026-12-10", "10").start_ms()
INTERVAL_S = 60


def cycle(clock: FakeClock, n: int) -> CycleResult:
    rows = [
        {
            "schema": 1,
            "recv_ms": clock.wall_ms(),
            "latency_ms": 12,
            "cycle": n,
            "series": series,
            "slug": "btc-updown-5m-1",
            "condition_id": "0xabc",
            "token_id": f"t-{series}",
            "outcome": "Up",
            "window_start": "2026-12-10T10:00:00Z",
            "window_end": "2026-12-10T10:05:00Z",
            "book": {"bids": [{"price": "0.5", "size": "10"}], "asks": []},
        }
        for series in ("10684", "10685")
    ]
    return CycleResult(cycle=n, started_ms=clock.wall_ms(), rows=rows)


class Run:
    """Cycles every INTERVAL_S of monotonic time; notes when each .partial was first and last seen open."""

    def __init__(self, data: Path, clock: FakeClock, **kw) -> None:
        self.data, self.clock = data, clock
        self.writer = new_writer(data, clock, **kw)
        self.n = 0
        self.rows = 0
        self.open_spans: dict[Path, list[float]] = {}

    def cycles(self, count: int) -> None:
        for _ in range(count):
            self.n += 1
            result = cycle(self.clock, self.n)
            self.writer.write_cycle(result)
            self.rows += len(result.rows)
            for partial in self.data.rglob("*.partial"):
                span = self.open_spans.setdefault(partial, [self.clock.monotonic(), self.clock.monotonic()])
                span[1] = self.clock.monotonic()
            self.clock.advance(INTERVAL_S)

    def step(self, wall_ms: int) -> None:
        """The wall clock steps by *wall_ms*; the monotonic clock does not."""
        self.clock._wall_ms += wall_ms

    def close(self) -> None:
        self.writer.close("stop")

    def longest_open_s(self) -> float:
        return max(last - first for first, last in self.open_spans.values())


def sealed_manifests(data: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in paths.iter_files(data, paths.MANIFEST_SUFFIX)]


def rows_on_disk(data: Path) -> int:
    return sum(
        len(gzip.decompress(p.read_bytes()).splitlines()) for p in paths.iter_files(data, paths.DATA_SUFFIX)
    )


@pytest.mark.parametrize("member_cycles", [0, 60])
def test_wall_clock_stepped_back_three_days_mid_hour(tmp_path, member_cycles):
    data = tmp_path / "data"
    clock = FakeClock(wall_ms=T10 + 20 * 60_000, monotonic=5000.0)  # 2026-12-10T10:20Z
    run = Run(data, clock, member_cycles=member_cycles)
    run.cycles(30)  # 30 minutes
    run.step(-3 * DAY_MS)  # now 2026-12-07T10:50Z
    run.cycles(120)  # two hours of real time
    assert run.longest_open_s() <= 3600 + DEADLINE_GRACE_S  # no file open beyond its hour of real time
    run.close()
    assert not list(data.rglob("*.partial"))
    assert rows_on_disk(data) == run.rows  # every row on disk, in a sealed file
    report = verify_data_dir(data)
    assert report["ok"], report
    by_hour = {}
    for manifest in sealed_manifests(data):
        by_hour.setdefault(manifest["hour"], []).append(manifest)
    # the file of the 10th was sealed at the step and says so; rows of the 7th went to the 7th
    assert {"2026-12-10T10Z", "2026-12-07T10Z", "2026-12-07T11Z", "2026-12-07T12Z"} <= set(by_hour)
    assert not any(h.startswith("2026-12-10") and h != "2026-12-10T10Z" for h in by_hour)
    for hour in ("2026-12-10T10Z", "2026-12-07T10Z"):
        for manifest in by_hour[hour]:
            [step] = manifest["clock_steps"]
            assert step["step_ms"] == -3 * DAY_MS and step["wall_ms"] == T10 + 50 * 60_000 - 3 * DAY_MS
    assert all("clock_steps" not in m for m in by_hour["2026-12-07T11Z"])  # a normal hour: as before
    for manifest in sealed_manifests(data):
        if manifest["rows"]:
            assert paths.HourKey.from_epoch_ms(manifest["first_recv_ms"]).label() == manifest["hour"]
            assert paths.HourKey.from_epoch_ms(manifest["last_recv_ms"]).label() == manifest["hour"]
    [run_manifest] = [json.loads(p.read_text()) for p in (data / "runs").glob("*.json")]
    assert [s["step_ms"] for s in run_manifest["clock_steps"]] == [-3 * DAY_MS]


def test_wall_clock_stepped_forward_seals_and_records_the_step(tmp_path):
    data = tmp_path / "data"
    clock = FakeClock(wall_ms=T10 + 20 * 60_000)
    run = Run(data, clock)
    run.cycles(10)
    run.step(3 * DAY_MS)
    run.cycles(10)
    run.close()
    manifests = {m["hour"]: m for m in sealed_manifests(data)}
    assert set(manifests) == {"2026-12-10T10Z", "2026-12-13T10Z"}
    assert all(m["clock_steps"][0]["step_ms"] == 3 * DAY_MS for m in manifests.values())
    assert rows_on_disk(data) == run.rows and verify_data_dir(data)["ok"]


def test_a_step_back_within_the_hour_seals_at_the_monotonic_deadline(tmp_path):
    data = tmp_path / "data"
    clock = FakeClock(wall_ms=T10 + 20 * 60_000)
    run = Run(data, clock)
    run.cycles(30)  # to 10:50
    run.step(-45 * 60_000)  # back to 10:05: the same hour, 55 more minutes of it by the wall clock
    run.cycles(60)
    assert run.longest_open_s() <= 3600 + DEADLINE_GRACE_S
    run.close()
    assert not list(data.rglob("*.partial"))
    assert rows_on_disk(data) == run.rows and verify_data_dir(data)["ok"]
    # the file of 10Z was sealed 40 minutes after it opened (its hour of real time was over); the rows
    # received after, at 10:15 by the wall clock, went on under a new run id: no name reused
    runs = [json.loads(p.read_text()) for p in sorted((data / "runs").glob("*.json"))]
    assert len(runs) == 2
    first, second = sorted(runs, key=lambda r: r.get("previous_run") is not None)
    assert first["exit_reason"] == "clock_step" and second["previous_run"] == first["run_id"]
    names = [p.name for p in paths.iter_files(data, paths.DATA_SUFFIX)]
    assert len(names) == len(set(names))
    for manifest in sealed_manifests(data):
        assert paths.HourKey.from_epoch_ms(manifest["first_recv_ms"]).label() == manifest["hour"]


def test_no_step_no_clock_steps_and_one_file_per_hour(tmp_path):
    data = tmp_path / "data"
    clock = FakeClock(wall_ms=T10 + 20 * 60_000)
    run = Run(data, clock)
    run.cycles(120)  # 10:20 to 12:20
    run.close()
    manifests = sealed_manifests(data)
    assert [m["hour"] for m in manifests] == ["2026-12-10T10Z", "2026-12-10T11Z", "2026-12-10T12Z"]
    assert all("clock_steps" not in m for m in manifests)
    [run_manifest] = [json.loads(p.read_text()) for p in (data / "runs").glob("*.json")]
    assert "clock_steps" not in run_manifest
