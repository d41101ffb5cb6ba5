"""``orderbooks status`` reads the ledger through prune's verified index: both call the same files verified.

In each case one sealed file is old, on the remote (the real rclone's local
backend) and has a verified manifest; only its data file's ledger lines vary.
Status counts it unverified exactly when a prune dry run keeps it as
unverified, and a prune dry run would delete it exactly when status counts it
verified.
"""

from __future__ import annotations

import shutil

import pytest
from orderbooks.health import status
from orderbooks.health.clocksync import ClockState
from orderbooks.offload.prune import Pruner
from orderbooks.offload.rclone import Rclone
from orderbooks.store import paths
from orderbooks.store.hashing import hash_file
from orderbooks.store.ledger import Ledger
from testkit.fake_clock import FakeClock
from testkit.offload_helpers import rclone_binary, write_config
from testkit.sealed_files import make_sealed

NOW = paths.HourKey("2026-01-10", "12").start_ms()
OLD = paths.HourKey("2026-01-07", "05")


def line(path, md5, sha256, remote, *, outcome="verified", action="upload"):
    return {
        "action": action,
        "path": path,
        "md5": md5,
        "sha256": sha256,
        "remote": remote,
        "outcome": outcome,
    }


def data_line(s, r, **changes):
    """A ledger line of the sealed data file: verified on *r* with its hashes, but for *changes*."""
    return {**line(s.rel_data, s.md5, s.sha256, r), **changes}


CASES = [
    pytest.param(lambda s, r: [data_line(s, r)], True, id="verified here"),
    # the old status reading compared remotes as plain strings and called this unverified
    pytest.param(
        lambda s, r: [data_line(s, r, remote=r + "/")],
        True,
        id="verified here, remote written with a trailing slash",
    ),
    # the old status reading compared md5 only and called this verified
    pytest.param(lambda s, r: [data_line(s, r, sha256="0" * 64)], False, id="verified with another sha256"),
    pytest.param(
        lambda s, r: [data_line(s, r, remote="other:place")], False, id="verified on another remote"
    ),
    pytest.param(
        lambda s, r: [data_line(s, r), data_line(s, r, outcome="remote_lost", action="prune")],
        False,
        id="verified, then lost on the remote",
    ),
    pytest.param(
        lambda s, r: [
            data_line(s, r),
            data_line(s, r, outcome="remote_mismatch", action="prune"),
            data_line(s, r),
        ],
        True,
        id="verified again after a mismatch",
    ),
    pytest.param(lambda s, r: [], False, id="never verified"),
]


@pytest.mark.parametrize(("data_lines", "verified"), CASES)
def test_status_and_prune_agree_on_what_is_verified(tmp_path, data_lines, verified):
    data_dir = tmp_path / "data"
    remote_root = tmp_path / "remote"
    remote = f"stand:{remote_root}"
    sealed = make_sealed(data_dir, OLD)
    for rel in (sealed.rel_data, sealed.rel_manifest):
        (remote_root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / rel, remote_root / rel)
    ledger = Ledger(data_dir)
    for entry in data_lines(sealed, remote):
        ledger.append(entry)
    on_disk = hash_file(
        sealed.manifest
    )  # the manifest verified here: the newest upload line names the remote
    ledger.append(line(sealed.rel_manifest, on_disk.md5, on_disk.sha256, remote))

    rclone = Rclone(rclone_binary(), write_config(tmp_path / "rclone.conf"), retries=1, timeout_s=5)
    plan = Pruner(data_dir, 2, remote, rclone, clock=FakeClock(wall_ms=NOW)).run(dry_run=True)
    result = status.evaluate(
        data_dir,
        now_ms=NOW,
        free_bytes=lambda _p: 100 * 2**30,
        clock_state=lambda: ClockState(True, "adjtimex"),
    )

    assert plan.kept_unverified == ([] if verified else [sealed.rel_data])
    assert plan.would_delete == ([sealed.rel_data, sealed.rel_manifest] if verified else [])
    assert result.report["offload"]["unverified_files"] == (0 if verified else 1)
