"""diskspace: the free-space floor, its loud pause and its quiet resume."""

from __future__ import annotations

import io
import json

import pytest
from orderbooks import logs
from orderbooks.store.diskspace import DiskFloor, free_bytes
from testkit.fake_clock import FakeClock


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    logs.configure("debug", stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logs.configure("info", None)


def test_free_bytes_of_a_real_folder(tmp_path):
    assert free_bytes(tmp_path) > 0


def test_floor_pause_repeat_and_resume(tmp_path, log_lines):
    clock = FakeClock()
    free = {"b": 10}
    floor = DiskFloor(tmp_path, 100, probe=lambda _p: free["b"], monotonic=clock.monotonic, repeat_s=60)
    assert floor.check() is False and floor.paused
    clock.advance(30)
    assert floor.check() is False
    clock.advance(31)
    assert floor.check() is False
    free["b"] = 100
    assert floor.check() is True and not floor.paused
    events = [(e["level"], e["event"]) for e in log_lines()]
    assert events == [
        ("error", "disk_floor_reached"),
        ("error", "disk_floor_reached"),
        ("warning", "disk_floor_cleared"),
    ]


def test_probe_error_does_not_block_writing(tmp_path, log_lines):
    def broken(_p):
        raise OSError(5, "EIO")

    assert DiskFloor(tmp_path, 100, probe=broken).check() is True
    assert log_lines()[0]["event"] == "disk_probe_failed"


def test_negative_floor_is_refused(tmp_path):
    with pytest.raises(ValueError, match="disk floor"):
        DiskFloor(tmp_path, -1)
