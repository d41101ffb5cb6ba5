"""Prune: only verified, old-enough sealed files that are on the remote now go; everything else stays.

The remote is the real rclone's local backend in a folder beside the data folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
from orderbooks.offload.prune import Pruner
from orderbooks.offload.rclone import Rclone
from orderbooks.store import paths
from orderbooks.store.hashing import hash_file
from orderbooks.store.ledger import Ledger
from testkit.fake_clock import FakeClock
from testkit.offload_helpers import rclone_binary, write_config
from testkit.sealed_files import DAY_MS, all_files, make_partial, make_quarantined, make_sealed

NOW = paths.HourKey("2026-01-10", "12").start_ms()
OLD = paths.HourKey("2026-01-07", "05")  # ended > 2 days before NOW
YOUNG = paths.HourKey("2026-01-10", "02")


def remote_root(data_dir: Path) -> Path:
    return data_dir.parent / f"{data_dir.name}.remote"


def remote_of(data_dir: Path) -> str:
    return f"stand:{remote_root(data_dir)}"


def put_on_remote(data_dir: Path, rel: str) -> Path:
    target = remote_root(data_dir) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data_dir / rel, target)
    return target


def mark_verified(data_dir, sealed, *, data=True, manifest=True, md5=None, remote=None, copy=True):
    ledger = Ledger(data_dir)
    remote = remote or remote_of(data_dir)
    if copy:
        put_on_remote(data_dir, sealed.rel_data)
        put_on_remote(data_dir, sealed.rel_manifest)
    if data:
        ledger.append(
            {
                "action": "upload",
                "path": sealed.rel_data,
                "md5": md5 or sealed.md5,
                "sha256": sealed.sha256,
                "outcome": "verified",
                "remote": remote,
            }
        )
    if manifest:
        on_disk = hash_file(sealed.manifest)
        m_md5, m_sha = on_disk.md5, on_disk.sha256
        ledger.append(
            {
                "action": "upload",
                "path": sealed.rel_manifest,
                "md5": m_md5,
                "sha256": m_sha,
                "outcome": "verified",
                "remote": remote,
            }
        )


def pruner(data_dir, keep_days=2, remote=None):
    config = write_config(data_dir.parent / f"{data_dir.name}.rclone.conf")
    rclone = Rclone(rclone_binary(), config, retries=1, timeout_s=5)
    return Pruner(data_dir, keep_days, remote or remote_of(data_dir), rclone, clock=FakeClock(wall_ms=NOW))


def test_verified_old_file_and_manifest_are_deleted_and_recorded(tmp_path):
    sealed = make_sealed(tmp_path, OLD)
    mark_verified(tmp_path, sealed)
    manifest_md5 = hash_file(sealed.manifest).md5
    report = pruner(tmp_path).run()
    assert report.deleted == [sealed.rel_data, sealed.rel_manifest]
    assert not sealed.data.exists() and not sealed.manifest.exists()
    assert not (tmp_path / "raw" / OLD.date).exists()  # empty hour and day folders removed
    assert (tmp_path / "raw").is_dir()
    pruned = [e for e in Ledger(tmp_path).read().entries if e["action"] == "prune"]
    assert [(e["path"], e["outcome"], e["md5"]) for e in pruned] == [
        (sealed.rel_data, "pruned", sealed.md5),
        (sealed.rel_manifest, "pruned", manifest_md5),
    ]


def test_young_files_are_kept_even_if_verified(tmp_path):
    sealed = make_sealed(tmp_path, YOUNG)
    mark_verified(tmp_path, sealed)
    report = pruner(tmp_path).run()
    assert report.deleted == [] and report.kept_young == 1
    assert sealed.data.exists()


def test_age_comes_from_the_hour_folder_not_mtime(tmp_path):
    import os

    sealed = make_sealed(tmp_path, YOUNG)
    mark_verified(tmp_path, sealed)
    os.utime(sealed.data, (0, 0))  # ancient mtime must not matter
    assert pruner(tmp_path).run().deleted == []
    old = make_sealed(tmp_path, OLD)
    mark_verified(tmp_path, old)
    os.utime(old.data, (NOW / 1000, NOW / 1000))  # fresh mtime must not matter either
    assert old.rel_data in pruner(tmp_path).run().deleted


def test_keep_days_boundary(tmp_path):
    hour = paths.HourKey.from_epoch_ms(NOW - DAY_MS - 3_600_000)  # ended exactly 1 day before NOW
    sealed = make_sealed(tmp_path, hour)
    mark_verified(tmp_path, sealed)
    assert pruner(tmp_path, keep_days=2).run().deleted == []
    assert pruner(tmp_path, keep_days=1).run().deleted == [sealed.rel_data, sealed.rel_manifest]


def test_unverified_files_are_kept(tmp_path):
    nothing = make_sealed(tmp_path, OLD, seed=1)
    data_only = make_sealed(tmp_path, OLD, seed=2)
    mark_verified(tmp_path, data_only, manifest=False)
    manifest_only = make_sealed(tmp_path, OLD, seed=3)
    mark_verified(tmp_path, manifest_only, data=False)
    stale_hash = make_sealed(tmp_path, OLD, seed=4)
    mark_verified(tmp_path, stale_hash, md5="0" * 32)
    before = all_files(tmp_path)
    report = pruner(tmp_path).run()
    assert report.deleted == []
    assert sorted(report.kept_unverified) == sorted(
        s.rel_data for s in (nothing, data_only, manifest_only, stale_hash)
    )
    assert all_files(tmp_path) == before


def test_ledger_mismatch_or_failed_outcome_does_not_count(tmp_path):
    sealed = make_sealed(tmp_path, OLD)
    ledger = Ledger(tmp_path)
    for outcome in ("mismatch", "failed", "skipped"):
        ledger.append(
            {
                "action": "upload",
                "path": sealed.rel_data,
                "md5": sealed.md5,
                "sha256": sealed.sha256,
                "outcome": outcome,
                "remote": remote_of(tmp_path),
            }
        )
    mark_verified(tmp_path, sealed, data=False)
    assert pruner(tmp_path).run().deleted == []
    assert sealed.data.exists()


def test_partials_quarantine_and_malformed_manifests_are_never_touched(tmp_path):
    partial = make_partial(tmp_path, OLD)
    quarantined = make_quarantined(tmp_path, OLD)
    bad = make_sealed(tmp_path, OLD, seed=5)
    mark_verified(tmp_path, bad)
    bad.manifest.write_bytes(b"{broken")
    before = all_files(tmp_path)
    report = pruner(tmp_path, keep_days=0).run()
    assert report.deleted == []
    assert len(report.kept_unusable) == 1 and "unreadable" in report.kept_unusable[0][1]
    assert all_files(tmp_path) == before
    assert partial.exists() and quarantined.exists()


def test_sealed_file_with_a_partial_twin_is_kept(tmp_path):
    sealed = make_sealed(tmp_path, OLD)
    mark_verified(tmp_path, sealed)
    sealed.manifest.with_name(paths.stem_of(sealed.manifest) + paths.PARTIAL_SUFFIX).write_bytes(b"x")
    assert pruner(tmp_path).run().deleted == []
    assert sealed.data.exists()


def test_dry_run_changes_nothing(tmp_path, capsys):
    sealed = make_sealed(tmp_path, OLD)
    mark_verified(tmp_path, sealed)
    before = all_files(tmp_path)
    ledger_before = (tmp_path / "uploads" / "ledger.jsonl").read_bytes()
    report = pruner(tmp_path).run(dry_run=True)
    assert report.would_delete == [sealed.rel_data, sealed.rel_manifest]
    assert report.sizes[sealed.rel_data] == sealed.bytes
    assert report.document["kind"] == "orderbooks.prune_plan"
    assert [f["path"] for f in report.document["would_delete"]] == report.would_delete
    assert all_files(tmp_path) == before
    assert (tmp_path / "uploads" / "ledger.jsonl").read_bytes() == ledger_before
    assert "would delete" not in capsys.readouterr().out  # the library prints nothing; the command does


def test_interrupted_prune_is_finished_next_time(tmp_path):
    sealed = make_sealed(tmp_path, OLD)
    mark_verified(tmp_path, sealed)
    sealed.data.unlink()  # crash after the data file, before the manifest
    report = pruner(tmp_path).run()
    assert report.deleted == [sealed.rel_manifest]
    assert not sealed.manifest.exists()


def test_manifest_without_data_and_without_verification_is_kept(tmp_path):
    sealed = make_sealed(tmp_path, OLD)
    sealed.data.unlink()
    report = pruner(tmp_path).run()
    assert report.deleted == [] and sealed.manifest.exists()
    assert "missing" in report.kept_unusable[0][1]


def test_other_files_in_the_hour_folder_keep_it(tmp_path):
    sealed = make_sealed(tmp_path, OLD, seed=1)
    keep = make_sealed(tmp_path, OLD, seed=2)
    mark_verified(tmp_path, sealed)
    pruner(tmp_path).run()
    assert keep.data.exists() and keep.manifest.exists()
    assert orjson.loads(keep.manifest.read_bytes())["md5"] == keep.md5


def test_file_deleted_on_the_remote_is_kept_recorded_and_unverified(tmp_path):
    lost = make_sealed(tmp_path, OLD, seed=1)
    there = make_sealed(tmp_path, OLD, seed=2)
    mark_verified(tmp_path, lost)
    mark_verified(tmp_path, there)
    (remote_root(tmp_path) / lost.rel_data).unlink()  # someone cleaned up the Drive folder
    report = pruner(tmp_path).run()
    assert lost.data.exists() and lost.manifest.exists()
    assert not there.data.exists()
    assert [(p, o) for p, o, _ in report.kept_remote] == [(lost.rel_data, "remote_lost")]
    entries = [e for e in Ledger(tmp_path).read().entries if e["path"] == lost.rel_data]
    assert [e["outcome"] for e in entries] == ["verified", "remote_lost"]
    assert entries[-1]["remote"] == remote_of(tmp_path)


def test_different_copy_on_the_remote_is_a_mismatch_and_kept(tmp_path):
    sealed = make_sealed(tmp_path, OLD)
    mark_verified(tmp_path, sealed)
    target = remote_root(tmp_path) / sealed.rel_manifest
    blob = bytearray(target.read_bytes())
    blob[5] ^= 0x20  # same size, other bytes
    target.write_bytes(bytes(blob))
    report = pruner(tmp_path).run()
    assert sealed.data.exists() and sealed.manifest.exists()
    assert [(p, o) for p, o, _ in report.kept_remote] == [(sealed.rel_manifest, "remote_mismatch")]


def test_verified_on_another_remote_or_without_remote_prunes_nothing(tmp_path):
    moved = make_sealed(tmp_path, OLD, seed=1)
    mark_verified(tmp_path, moved)  # copies on the old remote, ledger says so
    legacy = make_sealed(tmp_path, OLD, seed=2)
    for rel, md5, sha in (
        (legacy.rel_data, legacy.md5, legacy.sha256),
        (legacy.rel_manifest, hash_file(legacy.manifest).md5, hash_file(legacy.manifest).sha256),
    ):
        put_on_remote(tmp_path, rel)
        Ledger(tmp_path).append(
            {"action": "upload", "path": rel, "md5": md5, "sha256": sha, "outcome": "verified"}
        )
    new_root = tmp_path.parent / "new-remote"
    before = all_files(tmp_path)
    report = pruner(tmp_path, remote=f"stand:{new_root}").run()
    assert report.deleted == [] and all_files(tmp_path) == before
    assert sorted(report.kept_unverified) == sorted([moved.rel_data, legacy.rel_data])


def test_remote_that_cannot_be_listed_prunes_nothing(tmp_path):
    sealed = make_sealed(tmp_path, OLD)
    mark_verified(tmp_path, sealed, remote="nosuchremote:x")
    before = all_files(tmp_path)
    report = pruner(tmp_path, remote="nosuchremote:x").run()
    assert report.deleted == [] and report.remote_error
    assert all_files(tmp_path) == before


def test_same_name_duplicate_with_other_hashes_is_a_mismatch_never_a_pass():
    """Drive allows two files under one name; the listing's parsed objects decide (no rclone call)."""
    from orderbooks.offload.prune import RemoteCheck
    from orderbooks.offload.rclone import RemoteObject

    good = RemoteObject(10, {"md5": "a" * 32, "sha256": "b" * 64})
    other = RemoteObject(10, {"md5": "c" * 32})
    check = RemoteCheck(None, "gdrive:orderbooks")
    check._tree = {"raw/x": [good, other], "raw/y": [good, good]}
    outcome, detail = check.confirm("raw/x", 10, "a" * 32, "b" * 64)
    assert outcome == "remote_mismatch" and "2 files with this name" in detail
    assert check.confirm("raw/y", 10, "a" * 32, "b" * 64)[0] == ""
    assert check.confirm("raw/z", 10, "a" * 32, "b" * 64)[0] == "remote_lost"
