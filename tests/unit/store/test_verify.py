"""verify: a clean folder passes; each kind of damage is caught and named."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from orderbooks.records import ROW_KEYS, CycleResult
from orderbooks.store import gzmembers, paths
from orderbooks.store.verify import format_text, verify_data_dir
from orderbooks.store.writer import SnapshotWriter
from testkit.fake_clock import FakeClock
from testkit.writers import new_writer

T0 = 1_699_999_200_000  # 2023-11-14T22:00:00Z


def row(cycle: int, recv_ms: int, token: str = "t1") -> dict:
    base = dict.fromkeys(ROW_KEYS, "x")
    base.update(
        schema=1, recv_ms=recv_ms, cycle=cycle, token_id=token, series="s", book={"bids": [], "asks": []}
    )
    return base


def write_hours(data_dir: Path, hours: int = 2, run_id: str = "20231114T220000Z-dddddd") -> SnapshotWriter:
    clock = FakeClock(wall_ms=T0 + 1000)
    writer = new_writer(data_dir, clock, run_id, host="h")
    for cycle in range(hours * 2):
        writer.write_cycle(
            CycleResult(cycle=cycle, started_ms=0, rows=[row(cycle, clock.wall_ms(), "t1")] * 2)
        )
        clock.advance(1800)
    return writer


@pytest.fixture
def data_dir(tmp_path) -> Path:
    write_hours(tmp_path).close("stop")
    return tmp_path


def first_file(data_dir: Path) -> Path:
    return paths.iter_files(data_dir, paths.DATA_SUFFIX)[0]


def test_clean_folder_is_ok(data_dir):
    summary = verify_data_dir(data_dir)
    assert summary["ok"], summary["problems"]
    assert summary["counts"]["files"] == 2 and summary["counts"]["rows"] == 8
    assert summary["counts"]["runs"] == 1
    assert "verify OK: 2/2 sealed files consistent, 8 rows" in format_text(summary)


def test_flipped_byte_is_caught(data_dir):
    target = first_file(data_dir)
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    target.write_bytes(bytes(raw))
    summary = verify_data_dir(data_dir)
    assert not summary["ok"]
    [bad] = [f for f in summary["files"] if not f["ok"]]
    assert bad["path"] == paths.relative(data_dir, target)
    assert any(p.startswith("sha256") for p in bad["problems"])
    assert summary["counts"]["files_failed"] == 1


def test_flipped_byte_in_crc_trailer_is_caught_even_with_a_matching_manifest(data_dir):
    """The manifest is regenerated for the damaged bytes: only the member CRC can tell."""
    target = first_file(data_dir)
    raw = bytearray(target.read_bytes())
    raw[-8] ^= 0x01
    target.write_bytes(bytes(raw))
    man_path = paths.manifest_path_for(target)
    man = json.loads(man_path.read_text())
    import hashlib

    man["sha256"] = hashlib.sha256(raw).hexdigest()
    man["md5"] = hashlib.md5(raw).hexdigest()
    man_path.write_text(json.dumps(man))
    summary = verify_data_dir(data_dir)
    [bad] = [f for f in summary["files"] if not f["ok"]]
    assert any("damaged at byte" in p for p in bad["problems"])


def test_missing_manifest_is_an_orphan(data_dir):
    target = first_file(data_dir)
    paths.manifest_path_for(target).unlink()
    summary = verify_data_dir(data_dir)
    assert not summary["ok"]
    assert summary["orphan_data"] == [paths.relative(data_dir, target)]


def test_manifest_without_data(data_dir):
    target = first_file(data_dir)
    target.unlink()
    summary = verify_data_dir(data_dir)
    assert not summary["ok"]
    assert summary["orphan_manifests"] == [paths.relative(data_dir, paths.manifest_path_for(target))]


def test_wrong_row_count_in_manifest(data_dir):
    man_path = paths.manifest_path_for(first_file(data_dir))
    man = json.loads(man_path.read_text())
    man["rows"] += 1
    man_path.write_text(json.dumps(man))
    summary = verify_data_dir(data_dir)
    assert not summary["ok"]
    assert any("rows: manifest says 5, data has 4" in p for p in summary["problems"])


def test_row_without_required_keys_is_caught(tmp_path):
    hour = paths.HourKey("2023-11-14", "22")
    data = paths.data_path(tmp_path, hour, "20231114T220000Z-eeeeee")
    data.parent.mkdir(parents=True)
    data.write_bytes(gzmembers.compress_member(b'{"recv_ms": 1}\n[1]\n'))
    summary = verify_data_dir(tmp_path)
    problems = summary["files"][0]["problems"]
    assert any("missing keys" in p for p in problems)
    assert any("not a JSON object" in p for p in problems)


def test_member_without_final_newline_is_caught(tmp_path):
    hour = paths.HourKey("2023-11-14", "22")
    data = paths.data_path(tmp_path, hour, "20231114T220000Z-eeeeee")
    data.parent.mkdir(parents=True)
    data.write_bytes(gzmembers.compress_member(json.dumps(row(1, 1)).encode()))
    assert any("newline" in p for p in verify_data_dir(tmp_path)["problems"])


def test_open_partial_is_reported_not_failed_unless_strict(tmp_path):
    writer = write_hours(tmp_path, hours=1)  # both cycles in 22:xx: the file is still open
    summary = verify_data_dir(tmp_path)
    assert summary["ok"], summary["problems"]
    assert [p["state"] for p in summary["partials"]] == ["open"]
    assert summary["partials"][0]["rows"] == 4
    assert summary["counts"]["runs_unfinished"] == 1
    assert not verify_data_dir(tmp_path, strict=True)["ok"]
    writer.close("stop")


def test_leftover_partial_and_quarantine(tmp_path):
    hour = paths.HourKey("2023-11-14", "22")
    partial = paths.partial_path(tmp_path, hour, "20231114T220000Z-ffffff")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(gzmembers.compress_member(b"x\n") + b"\x1f\x8b\x08")
    quarantined = tmp_path / "quarantine" / "2023-11-14" / "22" / "y.jsonl.gz.partial"
    quarantined.parent.mkdir(parents=True)
    quarantined.write_bytes(b"\x1f")
    summary = verify_data_dir(tmp_path)
    assert summary["ok"]
    assert summary["partials"][0]["state"] == "leftover" and summary["partials"][0]["tail_bytes"] == 3
    assert summary["quarantined"] == [{"path": "quarantine/2023-11-14/22/y.jsonl.gz.partial", "bytes": 1}]
    strict = verify_data_dir(tmp_path, strict=True)
    assert not strict["ok"] and len(strict["problems"]) == 2


def test_unreadable_run_manifest_fails(data_dir):
    (data_dir / "runs" / "broken.json").write_text("{")
    assert not verify_data_dir(data_dir)["ok"]


def test_reads_like_zcat(data_dir):
    """What docs/data-format.md promises: the file is plain multi-member gzip JSONL."""
    lines = gzip.decompress(first_file(data_dir).read_bytes()).splitlines()
    assert all(set(ROW_KEYS) <= set(json.loads(line)) for line in lines)
