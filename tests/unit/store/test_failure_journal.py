"""Failure journal: failures survive a crash into the recovered manifest; journal life; verify; upload."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

from orderbooks.records import CycleResult, FailureRecord
from orderbooks.store import failure_journal, paths
from orderbooks.store.recovery import recover
from orderbooks.store.sealed import find_sealed
from orderbooks.store.verify import format_text, verify_data_dir
from orderbooks.store.writer import SnapshotWriter
from testkit import writers as testkit_writers
from testkit.fake_clock import FakeClock

T0 = 1_699_999_200_000  # 2023-11-14T22:00:00Z
RUN_ID = "20231114T220000Z-eeeeee"
NOW = T0 + 600_000


def make_row(cycle: int, recv_ms: int) -> dict:
    return {
        "schema": 1,
        "recv_ms": recv_ms,
        "latency_ms": 5,
        "cycle": cycle,
        "series": "s-5m",
        "slug": "btc-updown",
        "condition_id": "0x1",
        "token_id": "t1",
        "outcome": "Up",
        "window_start": "2023-11-14T22:00:00Z",
        "window_end": "2023-11-14T22:05:00Z",
        "book": {"bids": [], "asks": []},
    }


def failure(t_ms: int, error: str, cycle: int | None = None) -> FailureRecord:
    return FailureRecord(t_ms=t_ms, cycle=cycle, error=error, message=f"{error} at {t_ms}", status=503)


def new_writer(data_dir: Path, clock: FakeClock, **kw) -> SnapshotWriter:
    return testkit_writers.new_writer(data_dir, clock, RUN_ID, **kw)


def failing_run(data_dir: Path) -> tuple[SnapshotWriter, list[FailureRecord]]:
    """Three cycles with rows, two of them with API failures, plus a discovery failure. Never closed."""
    clock = FakeClock(wall_ms=T0 + 1000)
    writer = new_writer(data_dir, clock)
    recorded: list[FailureRecord] = []
    for cycle in (1, 2, 3):
        now = clock.wall_ms()
        failures = [failure(now, "timeout", cycle), failure(now, "http_status", cycle)] if cycle != 2 else []
        recorded += failures
        writer.write_cycle(
            CycleResult(cycle=cycle, started_ms=now, rows=[make_row(cycle, now)], failures=failures)
        )
        clock.advance(1)
    discovery = [failure(clock.wall_ms(), "discovery")]
    writer.record_failures(discovery)
    return writer, recorded + discovery


def crash_image(live: Path, image: Path) -> None:
    """What SIGKILL leaves: every file of the live folder as it is now (the run lock is not held)."""
    shutil.copytree(live, image, ignore=shutil.ignore_patterns("*.lock"))


def journal_of(data_dir: Path) -> Path:
    [journal] = paths.iter_files(data_dir, paths.FAILURES_SUFFIX)
    return journal


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_each_flush_journals_its_failures_and_the_seal_removes_the_journal(tmp_path):
    writer, recorded = failing_run(tmp_path)
    journal = journal_of(tmp_path)
    assert journal == paths.failures_path_for(writer.open_partial)
    lines = [json.loads(line) for line in journal.read_bytes().splitlines()]
    assert lines == [f.to_dict() for f in recorded]
    assert oct(journal.stat().st_mode & 0o777) == "0o640"
    live = verify_data_dir(tmp_path)  # a journal beside an open partial is normal
    assert live["ok"] and live["journals"] == [
        {
            "path": paths.relative(tmp_path, journal),
            "state": "open",
            "beside": "partial",
            "records": 5,
            "bad_lines": 0,
        }
    ]
    assert "failure journal beside" not in format_text(live)
    writer.close("stop")
    assert not paths.iter_files(tmp_path, paths.FAILURES_SUFFIX)
    [sealed] = paths.iter_files(tmp_path, paths.DATA_SUFFIX)
    assert load(paths.manifest_path_for(sealed))["failures"] == lines
    assert verify_data_dir(tmp_path, strict=True)["ok"]


def test_journal_waits_for_the_flush_of_batched_rows(tmp_path):
    clock = FakeClock(wall_ms=T0)
    writer = new_writer(tmp_path, clock, flush_rows=3)
    writer.write_cycle(CycleResult(1, T0, rows=[make_row(1, T0)], failures=[failure(T0, "timeout", 1)]))
    assert not paths.iter_files(tmp_path, paths.FAILURES_SUFFIX)  # same cadence as the rows
    writer.write_cycle(CycleResult(2, T0, rows=[make_row(2, T0)] * 2))
    assert len(journal_of(tmp_path).read_bytes().splitlines()) == 1
    writer.close("stop")


def test_failed_journal_write_never_raises_and_is_retried(tmp_path):
    state = {"fail": False}

    def flaky_write(fd: int, data) -> int:
        if state["fail"] and bytes(data[:1]) == b"{":  # journal lines; gzip members start with 0x1f
            os.write(fd, bytes(data[:7]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    clock = FakeClock(wall_ms=T0)
    writer = new_writer(tmp_path, clock, write_bytes=flaky_write)
    writer.write_cycle(CycleResult(1, T0, rows=[make_row(1, T0)], failures=[failure(T0, "timeout", 1)]))
    size = journal_of(tmp_path).stat().st_size
    state["fail"] = True
    second = CycleResult(2, T0 + 1, rows=[make_row(2, T0 + 1)], failures=[failure(T0 + 1, "reset")])
    writer.write_cycle(second)  # never raises
    assert journal_of(tmp_path).stat().st_size == size  # cut back to its last complete line
    state["fail"] = False
    writer.write_cycle(CycleResult(3, T0 + 2, rows=[make_row(3, T0 + 2)]))
    contents = failure_journal.read(journal_of(tmp_path))
    assert [r.error for r in contents.records] == ["timeout", "reset"] and contents.bad_lines == 0
    writer.close("stop")


def test_recovered_manifest_keeps_the_failures_from_before_the_crash(tmp_path):
    writer, recorded = failing_run(tmp_path / "live")
    image = tmp_path / "img"
    crash_image(tmp_path / "live", image)
    before = verify_data_dir(image)
    assert before["ok"] and before["counts"]["journals_leftover"] == 1
    assert not verify_data_dir(image, strict=True)["ok"]
    report = recover(image, now_ms=NOW, collector_version="0.1.0", host="h2")
    [sealed] = report.recovered
    man = load(paths.manifest_path_for(sealed))
    assert man["failures"][:-1] == [f.to_dict() for f in recorded]
    assert man["failures"][-1]["error"] == "restart"
    assert [(g["cause"], g["count"]) for g in man["gaps"]] == [
        ("timeout", 1),
        ("http_status", 1),
        ("timeout", 1),
        ("http_status", 1),
        ("discovery", 1),
        ("restart", 1),
    ]
    assert man["gaps"][-1] == {"start_ms": T0 + 3000, "end_ms": NOW, "cause": "restart", "count": 1}
    assert report.journal_records == len(recorded) and report.journal_lines_skipped == 0
    assert report.journals_removed == [paths.failures_path_for(sealed)]
    assert not paths.iter_files(image, paths.FAILURES_SUFFIX)
    assert verify_data_dir(image, strict=True)["ok"]
    writer.close("stop")


def test_torn_last_journal_line_is_skipped_and_counted(tmp_path):
    writer, recorded = failing_run(tmp_path / "live")
    image = tmp_path / "img"
    crash_image(tmp_path / "live", image)
    with open(journal_of(image), "ab") as handle:
        handle.write(b'{"t_ms": 1699999203000, "cycle": 4, "err')  # power loss mid-append
    report = recover(image, now_ms=NOW, collector_version="0.1.0", host="h2")
    man = load(paths.manifest_path_for(report.recovered[0]))
    assert man["failures"][:-1] == [f.to_dict() for f in recorded]
    assert report.journal_lines_skipped == 1 and report.problems == []
    assert "1 unreadable lines skipped" in man["failures"][-1]["message"]
    writer.close("stop")


def test_crash_after_the_seal_leaves_a_journal_that_recovery_removes(tmp_path):
    writer, _recorded = failing_run(tmp_path)
    saved = journal_of(tmp_path).read_bytes()
    writer.close("stop")
    [sealed] = paths.iter_files(tmp_path, paths.DATA_SUFFIX)
    journal = paths.failures_path_for(sealed)
    journal.write_bytes(saved)  # as if the crash hit between the rename and the unlink
    manifest_before = paths.manifest_path_for(sealed).read_bytes()
    summary = verify_data_dir(tmp_path)
    assert summary["ok"] and summary["journals"][0]["beside"] == "sealed"
    assert summary["journals"][0]["state"] == "leftover" and summary["counts"]["stray"] == 0
    assert "leftover failure journal beside a sealed file" in format_text(summary)
    assert not verify_data_dir(tmp_path, strict=True)["ok"]
    report = recover(tmp_path, now_ms=NOW, collector_version="0.1.0", host="h1")
    assert report.journals_removed == [journal] and not journal.exists()
    assert paths.manifest_path_for(sealed).read_bytes() == manifest_before
    assert verify_data_dir(tmp_path, strict=True)["ok"]


def test_journal_follows_its_quarantined_partial(tmp_path):
    writer, _recorded = failing_run(tmp_path / "live")
    image = tmp_path / "img"
    crash_image(tmp_path / "live", image)
    [partial] = paths.iter_files(image, paths.PARTIAL_SUFFIX)
    partial.write_bytes(partial.read_bytes()[:10])  # no complete member left
    report = recover(image, now_ms=NOW, collector_version="0.1.0", host="h2")
    quarantine = image / "quarantine" / partial.parent.relative_to(image / "raw")
    assert sorted(report.quarantined) == sorted(
        [quarantine / partial.name, quarantine / paths.failures_path_for(partial).name]
    )
    assert not list((image / "raw").rglob("*.failures.jsonl"))
    writer.close("stop")


def test_hour_without_rows_is_sealed_from_its_lone_journal(tmp_path):
    clock = FakeClock(wall_ms=T0 + 1000)
    writer = new_writer(tmp_path / "live", clock)
    blocked = [failure(T0 + 1000, "blocked", 1)]
    writer.write_cycle(CycleResult(1, T0 + 1000, rows=[], failures=blocked, ok=False))
    assert writer.open_partial is None and journal_of(tmp_path / "live")  # journaled at once
    live = verify_data_dir(tmp_path / "live")
    assert live["ok"] and live["journals"][0]["state"] == "open" and live["journals"][0]["beside"] == "none"
    image = tmp_path / "img"
    crash_image(tmp_path / "live", image)
    report = recover(image, now_ms=NOW, collector_version="0.1.0", host="h2")
    [sealed] = report.recovered
    man = load(paths.manifest_path_for(sealed))
    assert sealed.stat().st_size == 0 and man["rows"] == 0 and man["recovered"] is True
    assert [g["cause"] for g in man["gaps"]] == ["blocked", "restart"]
    assert man["gaps"][1]["start_ms"] == T0 + 1000
    assert verify_data_dir(image, strict=True)["ok"]
    writer.close("stop")


def test_lone_journal_without_records_is_quarantined(tmp_path):
    hour = paths.HourKey("2023-11-14", "22")
    journal = paths.failures_path_for(paths.partial_path(tmp_path, hour, RUN_ID))
    journal.parent.mkdir(parents=True)
    journal.write_bytes(b'{"t_ms": 1')
    report = recover(tmp_path, now_ms=NOW, collector_version="0.1.0", host="h2")
    assert report.quarantined == [tmp_path / "quarantine" / "2023-11-14" / "22" / journal.name]
    assert "orphan journal" in report.problems[0] and not report.recovered


def test_upload_picks_only_sealed_files_and_manifests(tmp_path):
    writer, _recorded = failing_run(tmp_path)
    saved = journal_of(tmp_path).read_bytes()
    writer.close("stop")
    [sealed] = paths.iter_files(tmp_path, paths.DATA_SUFFIX)
    paths.failures_path_for(sealed).write_bytes(saved)
    found, unusable = find_sealed(tmp_path)
    assert [f.data_path for f in found] == [sealed] and unusable == []
    assert found[0].manifest_path == paths.manifest_path_for(sealed)
