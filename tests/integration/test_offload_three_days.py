"""Done-when for offload: three simulated days, uploaded through faults, then pruned with --keep-days 1.

- run 1: the WebDAV server is killed in the middle of the run (real connection refused);
- one file already has a different copy on the remote (a mismatch that never clears);
- run 2: the server is back; everything else verifies;
- prune --keep-days 1.

Then: every pruned file is on the remote with a matching hash, every unverified
file is still local, and the ledger accounts for every file.
"""

from __future__ import annotations

import time

from orderbooks.exitcodes import ExitCode
from testkit.offload_helpers import (
    assert_nothing_lost,
    file_hashes,
    kill_server_before_copyto,
    ledger_entries,
    outcomes,
    prune,
    upload,
)
from testkit.sealed_files import DAY_MS, make_days, make_partial, make_quarantined

pytest_plugins = ["conftest_offload"]


def test_three_days_through_faults_then_prune(data_dir, tmp_path, webdav):
    now_ms = int(time.time() * 1000)
    made = make_days(data_dir, days=3, hours=(0, 6, 12, 18), end_ms=now_ms)
    assert len(made) >= 9
    oldest = made[0].hour
    partial = make_partial(data_dir, oldest)
    quarantined = make_quarantined(data_dir, oldest)
    remote_root = webdav.folder / "archive"
    config = webdav.client_config(tmp_path / "rclone.conf")

    # a different file already sits under the name of the second-oldest file
    victim = made[1]
    impostor = remote_root / victim.rel_data
    impostor.parent.mkdir(parents=True)
    impostor.write_bytes(b"not the same bytes at all")

    # run 1: the server dies before the 4th copyto
    wrapper = kill_server_before_copyto(tmp_path, webdav, 4)
    assert upload(data_dir, "dav:archive", config, binary=wrapper) == ExitCode.FAILED
    first = outcomes(data_dir)
    assert first[victim.rel_data] == ["mismatch"]
    assert first[made[-1].rel_data] == ["failed"]

    # run 2: the server is back
    webdav.start()
    assert upload(data_dir, "dav:archive", config) == ExitCode.FAILED  # the mismatch stays loud
    assert upload(data_dir, "dav:archive", config, "--dry-run") == ExitCode.OK

    # prune: keep one day
    cutoff_ms = int(time.time() * 1000) - DAY_MS
    assert prune(data_dir, 1, "dav:archive", config) == ExitCode.OK

    entries = ledger_entries(data_dir)
    seen = outcomes(data_dir)
    pruned = {e["path"]: e for e in entries if e["action"] == "prune"}
    verified = {(e["path"], e["md5"], e["sha256"]) for e in entries if e["outcome"] == "verified"}
    assert pruned, "nothing was old enough to prune"

    # every pruned file is on the remote with a matching hash (and was verified with that hash)
    for rel, entry in pruned.items():
        remote_md5, remote_sha = file_hashes(remote_root / rel)
        assert (remote_md5, remote_sha) == (entry["md5"], entry["sha256"]), rel
        assert (rel, remote_md5, remote_sha) in verified, rel
    for sealed in made:
        if sealed.rel_data in pruned:
            assert sealed.hour.end_ms() <= cutoff_ms + 60_000

    # every unverified file is still local (data and manifest)
    assert victim.data.exists() and victim.manifest.exists()
    assert seen[victim.rel_data] == ["mismatch", "mismatch"]
    assert impostor.read_bytes() == b"not the same bytes at all"
    for sealed in made:
        if not any(o == "verified" for o in seen.get(sealed.rel_data, [])):
            assert sealed.data.exists() and sealed.manifest.exists(), sealed.rel_data

    # the ledger accounts for every file: each was tried, and each one gone from disk was pruned
    for sealed in made:
        for rel, local in ((sealed.rel_data, sealed.data), (sealed.rel_manifest, sealed.manifest)):
            if rel == victim.rel_manifest:
                assert rel not in seen  # a manifest follows its data file, never alone
                continue
            assert rel in seen and seen[rel][0] in ("verified", "failed", "mismatch"), rel
            if not local.exists():
                assert seen[rel][-1] == "pruned", rel
            elif sealed.hour.end_ms() <= cutoff_ms - 60_000 and sealed is not victim:
                raise AssertionError(f"{rel} is old and verified but was not pruned")

    # partials and quarantined files are never uploaded or pruned
    assert partial.exists() and quarantined.exists()
    assert not any(".partial" in e["path"] or "quarantine" in e["path"] for e in entries)
    assert not list(remote_root.rglob("*.partial")) and not list(remote_root.rglob("*.uploading"))
    assert_nothing_lost(data_dir, remote_root, made)
