"""rclone.py against the real rclone binary and its `local` backend (no network)."""

from __future__ import annotations

import hashlib
import os

import pytest
from orderbooks.offload.rclone import Rclone, RcloneError, find_binary
from testkit.offload_helpers import rclone_binary, write_config


@pytest.fixture
def rclone(tmp_path):
    return Rclone(rclone_binary(), write_config(tmp_path / "rclone.conf"), retries=1, timeout_s=5)


def test_version_and_listremotes(rclone):
    assert rclone.version().startswith("rclone v")
    assert rclone.listremotes() == ["stand"]


def test_copyto_stat_cat_moveto(rclone, tmp_path):
    data = os.urandom(50_000)
    local = tmp_path / "a.bin"
    local.write_bytes(data)
    dst = tmp_path / "remote"
    assert rclone.stat(f"stand:{dst}/x/a.bin") is None  # missing folder
    rclone.copyto(local, f"stand:{dst}/x/a.bin")
    assert rclone.stat(f"stand:{dst}/x/b.bin") is None  # missing file in an existing folder
    obj = rclone.stat(f"stand:{dst}/x/a.bin")
    assert obj.size == len(data)
    assert obj.hashes["md5"] == hashlib.md5(data).hexdigest()
    assert obj.hashes["sha256"] == hashlib.sha256(data).hexdigest()
    size, hashes = rclone.cat_hashes(f"stand:{dst}/x/a.bin")
    assert size == len(data) and hashes["sha256"] == hashlib.sha256(data).hexdigest()
    rclone.moveto(f"stand:{dst}/x/a.bin", f"stand:{dst}/y/a.bin")
    assert (dst / "y" / "a.bin").read_bytes() == data
    assert not (dst / "x" / "a.bin").exists()


def test_errors_carry_exit_code_and_message(rclone, tmp_path):
    with pytest.raises(RcloneError) as info:
        rclone.copyto(tmp_path / "missing.bin", f"stand:{tmp_path}/r/missing.bin")
    assert info.value.returncode not in (0, None)
    with pytest.raises(RcloneError):
        rclone.cat_hashes(f"stand:{tmp_path}/r/missing.bin")


def test_flags_are_bounded(rclone):
    flags = rclone.base_flags()
    assert flags[flags.index("--retries") + 1] == "1"
    assert "--low-level-retries" in flags and "--contimeout" in flags and "--timeout" in flags
    assert flags[flags.index("--config") + 1] == rclone.config


def test_find_binary(tmp_path):
    assert find_binary(str(tmp_path / "nope")) is None
    plain = tmp_path / "not-executable"
    plain.write_text("")
    assert find_binary(str(plain)) is None
    assert find_binary(rclone_binary()) == rclone_binary()


def test_an_empty_hash_in_a_listing_is_no_hash():
    from orderbooks.offload.rclone import _object

    obj = _object({"Path": "x", "Size": 3, "Hashes": {"md5": "", "SHA256": "AB"}})
    assert obj.hashes == {"sha256": "ab"}  # no md5 -> upload and prune download and hash instead
