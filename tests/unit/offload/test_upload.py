"""Upload without a remote: what is a candidate, manifests read defensively, preconditions."""

from __future__ import annotations

import os

import orjson
import pytest
from orderbooks.offload.remote import (
    PreconditionError,
    check_config,
    parse_remote,
    prepare_rclone,
    remote_path_for,
)
from orderbooks.offload.upload import Uploader
from orderbooks.store import paths
from orderbooks.store.hashing import hash_file
from orderbooks.store.ledger import Ledger
from orderbooks.store.sealed import find_sealed
from testkit.sealed_files import make_partial, make_quarantined, make_sealed

HOUR = paths.HourKey("2026-01-02", "03")


def test_only_sealed_files_with_a_manifest_are_candidates(tmp_path):
    sealed = make_sealed(tmp_path, HOUR)
    make_partial(tmp_path, HOUR)
    make_quarantined(tmp_path, HOUR)
    orphan = paths.data_path(tmp_path, HOUR, "20260102T030000Z-000001")
    orphan.write_bytes(b"no manifest yet")
    found, unusable = find_sealed(tmp_path)
    assert [f.rel_data for f in found] == [sealed.rel_data]
    assert found[0].md5 == sealed.md5 and found[0].sha256 == sealed.sha256
    assert unusable == []


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: b"{not json", "unreadable manifest"),
        (lambda m: orjson.dumps([1, 2]), "not a JSON object"),
        (lambda m: orjson.dumps({**m, "sha256": "xyz"}), "'sha256'"),
        (lambda m: orjson.dumps({k: v for k, v in m.items() if k != "md5"}), "'md5'"),
        (lambda m: orjson.dumps({**m, "bytes": "12"}), "'bytes'"),
        (lambda m: orjson.dumps({**m, "path": "raw/elsewhere.jsonl.gz"}), "'path'"),
        (lambda m: orjson.dumps({**m, "file": "other.jsonl.gz"}), "'file'"),
    ],
)
def test_malformed_manifest_is_unusable_with_a_reason(tmp_path, mutate, reason):
    sealed = make_sealed(tmp_path, HOUR)
    manifest = orjson.loads(sealed.manifest.read_bytes())
    sealed.manifest.write_bytes(mutate(manifest))
    found, unusable = find_sealed(tmp_path)
    assert found == []
    assert len(unusable) == 1 and reason in unusable[0].reason
    assert unusable[0].path == sealed.rel_manifest


def test_file_in_the_wrong_hour_folder_is_unusable(tmp_path):
    sealed = make_sealed(tmp_path, HOUR)
    wrong = tmp_path / "raw" / "2026-01-02" / "04"
    wrong.mkdir(parents=True)
    for path in (sealed.data, sealed.manifest):
        path.rename(wrong / path.name)
    found, unusable = find_sealed(tmp_path)
    assert found == [] and "folder" in unusable[0].reason


def test_manifest_without_data_file_is_unusable(tmp_path):
    sealed = make_sealed(tmp_path, HOUR)
    sealed.data.unlink()
    found, unusable = find_sealed(tmp_path)
    assert found == [] and "missing" in unusable[0].reason


def test_remote_paths_mirror_the_local_layout():
    rel = "raw/2026-01-02/03/x.jsonl.gz"
    assert remote_path_for("gdrive:orderbooks", rel) == "gdrive:orderbooks/raw/2026-01-02/03/x.jsonl.gz"
    assert remote_path_for("gdrive:orderbooks/", rel) == "gdrive:orderbooks/raw/2026-01-02/03/x.jsonl.gz"
    assert remote_path_for("gdrive:", rel) == "gdrive:raw/2026-01-02/03/x.jsonl.gz"


@pytest.mark.parametrize("bad", ["", "noremote", ":local:/tmp", "/abs/path"])
def test_remote_must_be_a_named_remote(bad):
    with pytest.raises(PreconditionError):
        parse_remote(bad)


def test_config_checks(tmp_path):
    config = tmp_path / "rclone.conf"
    with pytest.raises(PreconditionError, match="does not exist"):
        check_config(config)
    with pytest.raises(PreconditionError, match="no rclone config"):
        check_config(None)
    config.write_text("[stand]\ntype = local\n")
    for mode in (0o644, 0o640, 0o604):
        os.chmod(config, mode)
        with pytest.raises(PreconditionError, match="chmod 600"):
            check_config(config)
    os.chmod(config, 0o600)
    assert check_config(config) == config
    with pytest.raises(PreconditionError, match="not a regular file"):
        check_config(tmp_path)


def test_missing_binary_is_reported_before_the_config_is_read(tmp_path):
    with pytest.raises(PreconditionError, match="rclone binary not found at"):
        prepare_rclone(remote="stand:x", config=tmp_path / "nope.conf", binary=str(tmp_path / "rclone"))


def test_dry_run_lists_and_writes_nothing(tmp_path, capsys):
    sealed = make_sealed(tmp_path, HOUR)
    before = sorted(p for p in tmp_path.rglob("*"))
    report = Uploader(tmp_path, "stand:dst", None).dry_run()
    assert report.planned == [
        {"path": sealed.rel_data, "bytes": sealed.bytes, "remote": f"stand:dst/{sealed.rel_data}"}
    ]
    assert report.document["kind"] == "orderbooks.upload_plan"
    assert report.document["would_upload"] == report.planned
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert "would upload" not in capsys.readouterr().out  # the library prints nothing; the command does


def test_plan_skips_files_the_ledger_verified_with_the_same_hashes(tmp_path):
    a = make_sealed(tmp_path, HOUR, seed=1)
    b = make_sealed(tmp_path, paths.HourKey("2026-01-02", "04"), seed=2)
    ledger = Ledger(tmp_path)
    on_disk = hash_file(a.manifest)
    m_md5, m_sha = on_disk.md5, on_disk.sha256
    for path, md5, sha in ((a.rel_data, a.md5, a.sha256), (a.rel_manifest, m_md5, m_sha)):
        ledger.append(
            {
                "action": "upload",
                "path": path,
                "md5": md5,
                "sha256": sha,
                "outcome": "verified",
                "remote": "stand:dst",
            }
        )
    # b: only the data file verified, with a stale hash -> still to do
    ledger.append(
        {
            "action": "upload",
            "path": b.rel_data,
            "md5": "0" * 32,
            "outcome": "verified",
            "remote": "stand:dst",
        }
    )
    todo, done, unusable = Uploader(tmp_path, "stand:dst", None).plan()
    assert [t.rel_data for t in todo] == [b.rel_data]
    assert [d.rel_data for d in done] == [a.rel_data]
    assert unusable == []
