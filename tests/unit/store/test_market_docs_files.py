"""Market documents files on disk: recovery after a kill, verify, and upload/prune seeing them."""

from __future__ import annotations

import os
import shutil

import orjson
from orderbooks.offload.prune import Pruner
from orderbooks.offload.rclone import Rclone
from orderbooks.store import manifest, paths
from orderbooks.store.hashing import hash_file
from orderbooks.store.ledger import Ledger
from orderbooks.store.market_files import DocsFile
from orderbooks.store.paths import DayKey
from orderbooks.store.paths import markets_partial_path as partial_path
from orderbooks.store.recovery import recover_market_documents as recover
from orderbooks.store.sealed import find_sealed
from orderbooks.store.verify import verify_data_dir
from testkit.fake_clock import FakeClock
from testkit.offload_helpers import rclone_binary, write_config

RUN_ID = "20260107T050000Z-abcdef"
OLD = DayKey("2026-01-07")
NOW = DayKey("2026-01-10").start_ms() + 12 * 3_600_000


def doc(n, kind="first_seen"):
    market = {"id": str(n), "conditionId": f"0x{n}", "closed": kind == "closed"}
    if kind == "closed":
        market["outcomePrices"] = '["0", "1"]'
    return {
        "schema": 1,
        "kind": kind,
        "recv_ms": OLD.start_ms() + n,
        "series": "10684",
        "slug": f"btc-updown-5m-{n}",
        "condition_id": f"0x{n}",
        "market_id": str(n),
        "window_start": "2026-01-07T05:00:00Z",
        "window_end": "2026-01-07T05:05:00Z",
        "tokens": {f"{n}1": "Up", f"{n}2": "Down"},
        "source": "GET /events/keyset",
        "market": market,
    }


TWO = (doc(1), doc(1, "closed"))


def written(data_dir, day=OLD, run_id=RUN_ID, docs=TWO, seal=False):
    clock = FakeClock(wall_ms=day.start_ms() + 60_000)
    files = DocsFile(data_dir, run_id=run_id, clock=clock, host="h", version="t")
    for item in docs:
        files.append(item)
    if seal:
        files.close()
    return partial_path(data_dir, day, run_id)


def test_a_killed_runs_partial_is_cut_to_its_last_member_and_sealed(tmp_path):
    partial = written(tmp_path)
    with open(partial, "ab") as handle:
        handle.write(b"\x1f\x8b\x08\x00torn")
    before = verify_data_dir(tmp_path)
    assert before["ok"] and before["partials"][0]["state"] == "leftover"
    report = recover(tmp_path, now_ms=NOW, version="t", host="h")
    final = partial.with_name(paths.stem_of(partial) + paths.DATA_SUFFIX)
    assert report.recovered == [paths.relative(tmp_path, final)] and report.bytes_dropped == 8
    sealed = manifest.read_json(paths.manifest_path_for(final))
    assert sealed["recovered"] and sealed["records_by_kind"] == {"closed": 1, "first_seen": 1}
    after = verify_data_dir(tmp_path)
    assert after["ok"], after["problems"]
    assert after["counts"]["recovered"] == 1 and after["partials"] == []


def test_a_partial_without_a_complete_member_is_quarantined_and_a_live_one_left_alone(tmp_path):
    partial = written(tmp_path, docs=())
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\x1f\x8b\x08")
    live_id = "20260107T060000Z-123456"
    (tmp_path / paths.RUNS_DIR).mkdir()
    lock = manifest.RunLock(manifest.run_lock_path(tmp_path, live_id))
    live = written(tmp_path, run_id=live_id)
    report = recover(tmp_path, now_ms=NOW, version="t", host="h")
    lock.release()
    assert report.quarantined == [f"quarantine/{paths.relative(tmp_path, partial)}"]
    assert live.exists() and report.recovered == []


def test_a_sealed_file_without_manifest_gets_one_rebuilt(tmp_path):
    written(tmp_path, seal=True)
    [mf] = (tmp_path / "markets").rglob("*.manifest.json")
    mf.unlink()
    assert not verify_data_dir(tmp_path)["ok"]
    report = recover(tmp_path, now_ms=NOW, version="t", host="h")
    assert len(report.rebuilt) == 1 and manifest.read_json(mf)["rebuilt"]
    assert verify_data_dir(tmp_path)["ok"]


def test_verify_catches_a_manifest_that_lies_and_a_line_that_is_no_document(tmp_path):
    written(tmp_path, seal=True)
    [mf] = (tmp_path / "markets").rglob("*.manifest.json")
    lie = orjson.loads(mf.read_bytes()) | {"records": 3}
    mf.write_bytes(orjson.dumps(lie))
    summary = verify_data_dir(tmp_path)
    assert not summary["ok"] and any("records: manifest says 3" in p for p in summary["problems"])
    written(tmp_path, day=DayKey("2026-01-08"), docs=({"kind": "closed"},), seal=True)
    problems = verify_data_dir(tmp_path)["problems"]
    assert any("2026-01-08" in p and "missing keys" in p for p in problems)


def test_upload_finds_the_markets_file_with_its_day(tmp_path):
    written(tmp_path, seal=True)
    found, unusable = find_sealed(tmp_path)
    assert unusable == [] and [s.period for s in found] == [OLD]
    assert found[0].rel_data == f"markets/2026-01-07/markets-2026-01-07-{RUN_ID}.jsonl.gz"
    moved = tmp_path / "markets" / "2026-01-08"
    moved.mkdir()
    for path in (tmp_path / "markets" / "2026-01-07").iterdir():
        path.rename(moved / path.name)
    found, unusable = find_sealed(tmp_path)
    assert found == [] and "!= folder 2026-01-08" in unusable[0].reason


def test_prune_deletes_an_old_verified_markets_file_and_keeps_a_young_one(tmp_path):
    data = tmp_path / "data"
    written(data, seal=True)
    written(data, day=DayKey("2026-01-09"), run_id="20260109T000000Z-abcdef", seal=True)
    remote_root = tmp_path / "remote"
    remote = f"stand:{remote_root}"
    ledger = Ledger(data)
    for sealed in find_sealed(data)[0]:
        for local, rel in ((sealed.data_path, sealed.rel_data), (sealed.manifest_path, sealed.rel_manifest)):
            (remote_root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, remote_root / rel)
            on_disk = hash_file(local)
            entry = {"action": "upload", "path": rel, "md5": on_disk.md5, "sha256": on_disk.sha256}
            entry["outcome"] = "verified"
            ledger.append(entry | {"remote": remote})
    rclone = Rclone(rclone_binary(), write_config(tmp_path / "rclone.conf"), retries=1, timeout_s=5)
    report = Pruner(data, 2, remote, rclone, clock=FakeClock(wall_ms=NOW)).run()
    assert sorted(report.deleted) == [
        f"markets/2026-01-07/markets-2026-01-07-{RUN_ID}.jsonl.gz",
        f"markets/2026-01-07/markets-2026-01-07-{RUN_ID}.manifest.json",
    ]
    assert report.kept_young == 1 and "markets/2026-01-07" in report.removed_dirs
    assert not (data / "markets" / "2026-01-07").exists() and (data / "markets").is_dir()
    assert os.listdir(data / "markets" / "2026-01-09")
