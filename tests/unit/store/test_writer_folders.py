"""The writer never writes through a symbolic link out of the data folder; recovery never follows one.

Issue 22, case 3: a symlinked day folder (DATA_DIR/raw/<day> -> elsewhere) made the writer put
its files outside the data folder, where verify, upload and prune never look.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from orderbooks.records import ERROR_CLASSES, CycleResult
from orderbooks.store import paths, recovery
from orderbooks.store.verify import verify_data_dir
from testkit.fake_clock import FakeClock
from testkit.writers import new_writer
from testkit.writers import sample_row as row

HOUR_MS = 3_600_000
T0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR_MS)  # 2023-11-14T22:00:00Z
HOUR = paths.HourKey.from_epoch_ms(T0)


def cycle(clock: FakeClock, n: int) -> CycleResult:
    return CycleResult(
        cycle=n, started_ms=clock.wall_ms(), rows=[row(n, t, clock.wall_ms()) for t in ("t1", "t2")]
    )


def every_file(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def logs(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("member_cycles", [0, 60])
def test_a_symlinked_day_folder_gets_no_file_and_its_rows_are_counted_lost(tmp_path, capsys, member_cycles):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (data / "raw").mkdir(parents=True)
    elsewhere.mkdir()
    (data / "raw" / HOUR.date).symlink_to(elsewhere)
    clock = FakeClock(wall_ms=T0 + 1000)
    writer = new_writer(data, clock, member_cycles=member_cycles)
    for n in range(6):
        writer.write_cycle(cycle(clock, n))
        clock.advance(10)
    writer.close("stop")
    assert every_file(elsewhere) == []  # nothing written outside the data folder
    totals = writer.run_manifest["totals"]
    assert totals["rows"] == 0 and totals["rows_not_written"] == 12
    assert totals["failures_by_class"] == {"unsafe_path": 6}
    assert "unsafe_path" in ERROR_CLASSES
    [incident] = writer.run_manifest["unsafe_paths"]
    assert incident["folder"] == f"raw/{HOUR.date}/{HOUR.hour}"
    assert "symbolic link leading out of the data folder" in incident["reason"]
    warned = [entry for entry in logs(capsys) if entry["event"] == "unsafe_path"]
    assert len(warned) == 1 and warned[0]["level"] == "warning"  # once per incident, not per cycle
    assert not writer._unsealed  # nothing left to retry for ever


def test_writing_resumes_in_the_same_hour_once_the_link_is_gone(tmp_path):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (data / "raw").mkdir(parents=True)
    elsewhere.mkdir()
    link = data / "raw" / HOUR.date
    link.symlink_to(elsewhere)
    clock = FakeClock(wall_ms=T0 + 1000)
    writer = new_writer(data, clock)
    writer.write_cycle(cycle(clock, 1))
    link.unlink()
    clock.advance(10)
    writer.write_cycle(cycle(clock, 2))
    writer.close("stop")
    assert every_file(elsewhere) == []
    [sealed] = paths.iter_files(data, paths.DATA_SUFFIX)
    manifest = json.loads(paths.manifest_path_for(sealed).read_text())
    assert manifest["rows"] == 2
    assert [f["error"] for f in manifest["failures"]] == ["unsafe_path"]
    assert verify_data_dir(data)["ok"]


def test_recovery_never_follows_a_partial_linked_out_of_the_data_folder(tmp_path, capsys):
    data, outside = tmp_path / "data", tmp_path / "outside"
    clock = FakeClock(wall_ms=T0 + 1000)
    writer = new_writer(data, clock, run_id="20231114T220000Z-aaaaaa")
    writer.write_cycle(cycle(clock, 1))
    partial = writer.open_partial
    assert partial is not None
    # a crash leaves the partial; someone replaces it by a link to a file elsewhere
    outside.mkdir()
    target = outside / partial.name
    target.write_bytes(partial.read_bytes())
    writer._lock.release(remove=True)
    partial.unlink()
    partial.symlink_to(target)
    before = target.read_bytes()
    report = recovery.recover(data, now_ms=T0 + 2 * HOUR_MS, collector_version="0.1.0", host="h1")
    assert report.recovered == [] and report.quarantined == []
    assert partial.is_symlink() and target.read_bytes() == before  # left alone, both sides
    assert every_file(outside) == [target]
    skipped = [entry for entry in logs(capsys) if entry["event"] == "recovery_skipped"]
    assert [entry["path"] for entry in skipped] == [paths.relative(data, partial)]
