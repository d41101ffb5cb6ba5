"""Row schema versions: manifests name their rows' version, verify judges each row by its version.

A file written before manifests named ``row_schema`` (tests/fixtures/row_schema_v1,
written by the collector at 5bbf30d) keeps verifying; a future version with an
extra key (``records.ROW_SCHEMAS`` patched with a version 2) never fails the
files of version 1; a version this code does not know is a problem, never OK.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import pytest
from orderbooks import cli, records
from orderbooks.exitcodes import ExitCode
from orderbooks.records import CycleResult
from orderbooks.store import paths, rows
from orderbooks.store.hashing import hash_file
from orderbooks.store.recovery import recover
from orderbooks.store.verify import verify_data_dir
from orderbooks.store.writer import SnapshotWriter
from testkit.fake_clock import FakeClock

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "tests" / "fixtures" / "row_schema_v1" / "data"
FIXTURE_FILE = "raw/2026-05-12/11/orderbooks-2026-05-12T11Z-20260512T111000Z-5bbf30.jsonl.gz"
T0 = 1_699_999_200_000  # 2023-11-14T22:00:00Z
HOUR_MS = 3_600_000
RUN_ID = "20231114T220000Z-eeeeee"
NEW_KEY = "depth"  # the key the hypothetical version 2 adds


def make_row(version: object, recv_ms: int, cycle: int = 1, **extra: object) -> dict:
    row = {key: "x" for key in records.ROW_SCHEMAS[1]}
    row.update(schema=version, recv_ms=recv_ms, cycle=cycle, series="s", token_id="t1")
    row["book"] = {"bids": [], "asks": []}
    return row | extra


def write(data_dir: Path, hours: list[list[dict]], *, close: bool = True) -> SnapshotWriter:
    """One cycle of *rows* per hour, from T0 on; the files sealed when *close*."""
    clock = FakeClock(wall_ms=T0 + 1000)
    writer = SnapshotWriter(
        data_dir,
        run_id=RUN_ID,
        clock=clock,
        collector_version="0.1.0",
        host="h",
        disk_probe=lambda _p: 1 << 40,
    )
    for cycle, hour_rows in enumerate(hours):
        writer.write_cycle(CycleResult(cycle=cycle, started_ms=clock.wall_ms(), rows=hour_rows))
        clock.advance(HOUR_MS // 1000)
    if close:
        writer.close("stop")
    return writer


def manifests(data_dir: Path) -> dict[str, dict]:
    """The file manifests under *data_dir*, by the path of their data file."""
    return {
        paths.relative(data_dir, f): json.loads(paths.manifest_path_for(f).read_text())
        for f in paths.iter_files(data_dir, paths.DATA_SUFFIX)
    }


def problems_by_file(summary: dict) -> dict[str, list[str]]:
    return {f["path"]: f["problems"] for f in summary["files"]}


@pytest.fixture
def old_folder(tmp_path) -> Path:
    """A copy of the data folder written before manifests named their row schema."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "old"))


@pytest.fixture
def version_2(monkeypatch):
    """A hypothetical row schema version 2: version 1's keys and NEW_KEY."""
    monkeypatch.setitem(records.ROW_SCHEMAS, 2, (*records.ROW_SCHEMAS[1], NEW_KEY))


# ---------------------------------------------------------------- the table


def test_the_collector_writes_the_keys_of_the_version_it_declares():
    assert records.ROW_SCHEMAS[records.ROW_SCHEMA] == records.ROW_KEYS
    assert sorted(records.ROW_SCHEMAS) == list(range(1, len(records.ROW_SCHEMAS) + 1))
    # version 1 is what the collector wrote before versions had numbers: the fixture's rows, in order
    with gzip.open(FIXTURE / FIXTURE_FILE, "rt") as handle:
        written = {tuple(json.loads(line)) for line in handle}
    assert written == {records.ROW_SCHEMAS[1]}


def test_the_documented_table_is_the_table():
    text = (REPO / "docs" / "data-format.md").read_text()
    section = text[text.index("### Row schema versions") :]
    documented = {
        int(version): tuple(re.findall(r"`(\w+)`", keys))
        for version, keys in re.findall(r"^\| (\d+) \| ([^|]+) \|", section, flags=re.MULTILINE)
    }
    assert documented == records.ROW_SCHEMAS


def test_a_row_is_judged_by_the_version_it_declares_else_its_files(version_2):
    v1 = json.dumps(make_row(1, 5)).encode()
    v2_without_key = json.dumps(make_row(2, 5)).encode()
    undeclared = json.dumps(make_row("x", 5)).encode()
    assert rows.judge(v1, schema=2)[1] is None
    assert rows.judge(v2_without_key)[1] == f"missing keys [{NEW_KEY!r}]"
    assert rows.judge(undeclared)[1] is None
    assert rows.judge(undeclared, schema=2)[1] == f"missing keys [{NEW_KEY!r}]"
    assert rows.judge(json.dumps(make_row(3, 5)).encode())[1] == "unknown row schema 3 (known: 1, 2)"
    assert rows.judge(json.dumps(make_row(True, 5)).encode(), schema=7)[1] == (
        "unknown row schema 7 (known: 1, 2)"
    )
    assert rows.judge(v2_without_key, ())[1] is None  # keys given: any JSON object


# ---------------------------------------------------------------- (a) files written before


def test_a_file_written_before_row_schema_still_verifies(old_folder, capsys):
    [(rel, recorded)] = manifests(old_folder).items()
    assert rel == FIXTURE_FILE and "row_schema" not in recorded
    assert hash_file(old_folder / rel).sha256 == recorded["sha256"]
    summary = verify_data_dir(old_folder, strict=True)
    assert summary["ok"], summary["problems"]
    assert summary["counts"]["rows"] == recorded["rows"] == 6
    assert cli.main(["verify", str(old_folder), "--strict"], environ={}) == ExitCode.OK
    assert "verify OK: 1/1 sealed files consistent, 6 rows" in capsys.readouterr().out


def test_a_file_written_before_row_schema_verifies_beside_a_version_2(old_folder, version_2):
    assert verify_data_dir(old_folder, strict=True)["ok"]


def test_a_rebuilt_manifest_of_an_old_file_names_version_1(old_folder):
    manifest_path = paths.manifest_path_for(old_folder / FIXTURE_FILE)
    original = json.loads(manifest_path.read_text())
    manifest_path.unlink()
    report = recover(old_folder, now_ms=T0, collector_version="0.1.0", host="h")
    assert report.rebuilt == [manifest_path]
    rebuilt = json.loads(manifest_path.read_text())
    assert rebuilt["rebuilt"] is True and rebuilt["row_schema"] == 1
    assert {k: rebuilt[k] for k in ("sha256", "rows", "rows_per_token")} == {
        k: original[k] for k in ("sha256", "rows", "rows_per_token")
    }
    assert verify_data_dir(old_folder, strict=True)["ok"]


# ---------------------------------------------------------------- what manifests record


def test_sealed_and_recovered_manifests_name_the_row_schema(tmp_path):
    write(tmp_path / "sealed", [[make_row(1, T0 + 1000)]])
    [sealed] = manifests(tmp_path / "sealed").values()
    assert sealed["row_schema"] == records.ROW_SCHEMA == 1

    writer = write(tmp_path / "live", [[make_row(1, T0 + 1000)] * 2], close=False)
    # what a SIGKILL leaves: the partial and the unfinished run manifest, no lock held
    shutil.copytree(tmp_path / "live", tmp_path / "crashed", ignore=shutil.ignore_patterns("*.lock"))
    writer.close("stop")
    report = recover(tmp_path / "crashed", now_ms=T0 + 5000, collector_version="0.1.0", host="h")
    assert len(report.recovered) == 1
    [recovered] = manifests(tmp_path / "crashed").values()
    assert recovered["recovered"] is True and recovered["row_schema"] == 1
    assert verify_data_dir(tmp_path / "crashed", strict=True)["ok"]


def test_an_empty_file_names_the_version_this_collector_writes(tmp_path):
    write(tmp_path, [[]])
    [recorded] = manifests(tmp_path).values()
    assert recorded["rows"] == 0 and recorded["row_schema"] == records.ROW_SCHEMA


def test_rows_without_an_integer_version_are_judged_by_their_manifest(tmp_path):
    write(tmp_path, [[make_row("x", T0 + 1000)]])
    [recorded] = manifests(tmp_path).values()
    assert recorded["row_schema"] == records.ROW_SCHEMA
    assert verify_data_dir(tmp_path)["ok"]


# ---------------------------------------------------------------- (b) a version 2


def test_a_version_2_key_fails_only_version_2_rows_without_it(tmp_path, version_2):
    v1_hour = [make_row(1, T0 + 1000), make_row(1, T0 + 1001)]
    v2_hour = [make_row(2, T0 + HOUR_MS + 1000, **{NEW_KEY: 3}), make_row(2, T0 + HOUR_MS + 1001)]
    write(tmp_path, [v1_hour, v2_hour])
    recorded = manifests(tmp_path)
    v1_file, v2_file = sorted(recorded)
    assert recorded[v1_file]["row_schema"] == 1 and recorded[v2_file]["row_schema"] == 2

    summary = verify_data_dir(tmp_path)
    assert problems_by_file(summary) == {
        v1_file: [],
        v2_file: [f"member 0 line 2: missing keys [{NEW_KEY!r}]"],
    }
    assert not summary["ok"]
    assert cli.main(["verify", str(tmp_path)], environ={}) == ExitCode.FAILED


def test_version_2_rows_with_the_key_verify(tmp_path, version_2):
    write(tmp_path, [[make_row(2, T0 + 1000, **{NEW_KEY: 3})]])
    assert verify_data_dir(tmp_path, strict=True)["ok"]


def test_a_manifest_naming_another_version_than_its_rows_is_caught(tmp_path, version_2):
    write(tmp_path, [[make_row(1, T0 + 1000)]])
    [data_file] = paths.iter_files(tmp_path, paths.DATA_SUFFIX)
    manifest_path = paths.manifest_path_for(data_file)
    manifest_path.write_text(json.dumps(json.loads(manifest_path.read_text()) | {"row_schema": 2}))
    assert problems_by_file(verify_data_dir(tmp_path)) == {
        paths.relative(tmp_path, data_file): ["row_schema: manifest says 2, rows declare up to 1"]
    }


# ---------------------------------------------------------------- (c) unknown versions


def test_rows_of_an_unknown_version_are_reported(tmp_path, capsys):
    write(tmp_path, [[make_row(3, T0 + 1000)]])
    [(rel, recorded)] = manifests(tmp_path).items()
    assert recorded["row_schema"] == 3
    summary = verify_data_dir(tmp_path)
    assert problems_by_file(summary) == {
        rel: [
            "member 0 line 1: unknown row schema 3 (known: 1)",
            "row_schema: unknown row schema 3 (known: 1)",
        ]
    }
    assert cli.main(["verify", str(tmp_path)], environ={}) == ExitCode.FAILED
    assert f"FAIL  {rel}: row_schema: unknown row schema 3 (known: 1)" in capsys.readouterr().out


@pytest.mark.parametrize("declared", [3, "1", None, True])
def test_a_manifest_naming_an_unknown_version_is_reported(old_folder, declared):
    manifest_path = paths.manifest_path_for(old_folder / FIXTURE_FILE)
    recorded = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps(recorded | {"row_schema": declared}))
    summary = verify_data_dir(old_folder)
    assert not summary["ok"]
    assert problems_by_file(summary) == {
        FIXTURE_FILE: [f"row_schema: unknown row schema {declared!r} (known: 1)"]
    }
