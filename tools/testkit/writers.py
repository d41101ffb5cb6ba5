"""The real ``SnapshotWriter`` as the unit tests build it.

from testkit.writers import new_writer
writer = new_writer(tmp_path, FakeClock(wall_ms=T0), RUN_ID, member_cycles=3)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orderbooks.store.writer import SnapshotWriter

from testkit.fake_clock import FakeClock

#: What the stand-in disk probe reports free: a disk that never fills up.
PLENTY = 1 << 40


def new_writer(
    data_dir: Path, clock: FakeClock, run_id: str = "20231114T220000Z-aaaaaa", *, host: str = "h1", **kw: Any
) -> SnapshotWriter:
    """A writer of collector version 0.1.0 on *clock*; its disk never fills up unless *kw*
    names another ``disk_probe`` (e.g. the real ``free_bytes``). Other keywords go to
    ``SnapshotWriter`` as they are."""
    kw.setdefault("disk_probe", lambda _p: PLENTY)
    return SnapshotWriter(data_dir, run_id=run_id, clock=clock, collector_version="0.1.0", host=host, **kw)


def sample_row(cycle: int, token: str, recv_ms: int, series: str = "s-5m") -> dict:
    """One schema-1 row of a 5-minute window opening at 2023-11-14T22:00Z, with a one-level book."""
    return {
        "schema": 1,
        "recv_ms": recv_ms,
        "latency_ms": 12,
        "cycle": cycle,
        "series": series,
        "slug": "btc-updown-5m-1",
        "condition_id": "0xabc",
        "token_id": token,
        "outcome": "Up",
        "window_start": "2023-11-14T22:00:00Z",
        "window_end": "2023-11-14T22:05:00Z",
        "book": {"bids": [{"price": "0.5", "size": "10"}], "asks": []},
    }
