"""The kill campaign's bookkeeping: every file verify counts as recovered was seen crashed first.

A run killed after its first cycles failed and before any row was written
leaves only a failure journal; recovery seals that hour as an empty file marked
``recovered: true``. The campaign once tracked partials only, so such a file
showed up as "N partials recovered but N+1 files marked recovered".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness import kill_campaign
from orderbooks.records import CycleResult, FailureRecord
from orderbooks.store.recovery import recover
from orderbooks.store.verify import verify_data_dir
from testkit.fake_clock import FakeClock
from testkit.writers import new_writer

T0 = 1_699_999_200_000  # 2023-11-14T22:00:00Z
RUN_ID = "20231114T220000Z-dddddd"


class Bookkeeping:
    """The campaign's state across rounds, checked the way run_campaign checks it."""

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}
        self.outcome = {"recovered": 0, "completed": 0, "quarantined": 0}
        self.best: dict[str, int] = {}
        self.violations: list[str] = []

    def round(self, label: int, data_dir: Path) -> dict:
        seen = kill_campaign.flushed_rows(data_dir)
        kill_campaign._check_round(
            label,
            seen=seen,
            pending=self.pending,
            outcome=self.outcome,
            best=self.best,
            violations=self.violations,
        )
        return seen


def test_a_lone_journal_left_by_a_kill_is_counted_when_recovery_seals_it(tmp_path):
    clock = FakeClock(wall_ms=T0 + 1000)
    live = tmp_path / "live"
    writer = new_writer(live, clock, RUN_ID)
    timeout = FailureRecord(t_ms=T0 + 1000, cycle=1, error="timeout", message="read timed out")
    writer.write_cycle(CycleResult(1, T0 + 1000, rows=[], failures=[timeout], ok=False))
    assert writer.open_partial is None  # only the journal is on disk
    image = tmp_path / "image"
    shutil.copytree(live, image, ignore=shutil.ignore_patterns("*.lock"))  # what SIGKILL leaves
    writer.close("stop")

    book = Bookkeeping()
    seen = book.round(1, image)
    assert [entry["state"] for entry in seen.values()] == ["journal"]
    report = recover(image, now_ms=T0 + 60_000, collector_version="0.1.0", host="h2")
    assert len(report.recovered) == 1
    book.round(2, image)
    violations, pending, outcome = book.violations, book.pending, book.outcome

    summary = verify_data_dir(image)
    marked = [f for f in summary["files"] if f["recovered"]]
    assert violations == [] and pending == {}
    assert outcome["recovered"] == len(marked) == 1


def test_a_quarantined_lone_journal_is_not_reported_as_vanished(tmp_path):
    journal = tmp_path / "raw" / "2023-11-14" / "22" / f"orderbooks-2023-11-14T22Z-{RUN_ID}.failures.jsonl"
    journal.parent.mkdir(parents=True)
    journal.write_bytes(b'{"t_ms": 1')  # torn first line: no readable record
    book = Bookkeeping()
    book.round(1, tmp_path)
    recover(tmp_path, now_ms=T0 + 60_000, collector_version="0.1.0", host="h2")
    book.round(2, tmp_path)
    violations, pending, outcome = book.violations, book.pending, book.outcome
    assert violations == [] and pending == {} and outcome["quarantined"] == 1
    assert Path(tmp_path / "quarantine" / "2023-11-14" / "22" / journal.name).exists()


def test_the_command_line_passes_every_option_to_the_campaign_and_writes_the_report(tmp_path, monkeypatch):
    got = {}

    def campaign(kills, **kw):
        got.update(kw, kills=kills)
        return {"ok": False, "kills": kills}

    monkeypatch.setattr(kill_campaign, "run_campaign", campaign)
    report = tmp_path / "out" / "report.json"
    argv = ["--kills", "3", "--seed", "9", "--member-cycles", "0", "--report", str(report)]
    assert kill_campaign.main(argv) == 1  # the exit status follows result["ok"]
    assert got == {
        "kills": 3,
        "seed": 9,
        "work_dir": None,
        "min_wait": 0.05,
        "max_wait": 2.5,
        "interval": 0.1,
        "torn_tail_rate": 0.3,
        "anchor_rate": 0.5,
        "member_cycles": 0,
    }
    assert json.loads(report.read_text()) == {"ok": False, "kills": 3}
