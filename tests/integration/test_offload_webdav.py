"""Upload through a real network remote: `rclone serve webdav` on loopback, with faults.

WebDAV gives no hashes, so every file here is verified by downloading it
(`rclone cat`) and hashing the bytes. Each test ends by checking that no local
file was deleted without a verified remote copy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orderbooks.exitcodes import ExitCode
from orderbooks.store import paths
from testkit.offload_helpers import (
    WebDav,
    assert_nothing_lost,
    file_hashes,
    free_port,
    kill_server_before_copyto,
    ledger_entries,
    outcomes,
    prune,
    rclone_binary,
    upload,
    write_config,
)
from testkit.sealed_files import all_files, make_sealed

pytest_plugins = ["conftest_offload"]


def hours(n: int, day: str = "2026-01-02") -> list[paths.HourKey]:
    return [paths.HourKey(day, f"{h:02d}") for h in range(n)]


def test_upload_over_webdav_verifies_by_download(data_dir, tmp_path, webdav):
    made = [make_sealed(data_dir, hour) for hour in hours(2)]
    config = webdav.client_config(tmp_path / "rclone.conf")
    assert upload(data_dir, "dav:archive", config) == ExitCode.OK
    for sealed in made:
        assert file_hashes(webdav.folder / "archive" / sealed.rel_data) == (sealed.md5, sealed.sha256)
    details = [e["detail"] for e in ledger_entries(data_dir)]
    assert all("(download)" in d for d in details), details
    assert not list(webdav.folder.rglob("*.uploading"))
    assert prune(data_dir, 0, "dav:archive", config) == ExitCode.OK
    assert_nothing_lost(data_dir, webdav.folder / "archive", made)
    assert not any(s.data.exists() for s in made)


def test_remote_down_in_the_middle_of_a_run_is_picked_up_next_run(data_dir, tmp_path, webdav):
    made = [make_sealed(data_dir, hour) for hour in hours(4)]
    config = webdav.client_config(tmp_path / "rclone.conf")
    # the 5th copyto (3rd data file) finds the server killed just before it
    wrapper = kill_server_before_copyto(tmp_path, webdav, 5)
    assert upload(data_dir, "dav:archive", config, binary=wrapper) == ExitCode.FAILED
    seen = outcomes(data_dir)
    assert seen[made[0].rel_data] == ["verified"] and seen[made[1].rel_manifest] == ["verified"]
    assert seen[made[2].rel_data] == ["failed"] and seen[made[3].rel_data] == ["failed"]
    failed = [e for e in ledger_entries(data_dir) if e["outcome"] == "failed"]
    assert all("transfer failed" in e["detail"] or "not reachable" in e["detail"] for e in failed)
    # prune while the remote is down: it cannot re-check the remote, so nothing goes
    before = all_files(data_dir)
    assert prune(data_dir, 0, "dav:archive", config) == ExitCode.FAILED
    assert all_files(data_dir) == before
    # the remote comes back: the next run finishes the job without resending what was verified
    webdav.start()
    assert upload(data_dir, "dav:archive", config) == ExitCode.OK
    seen = outcomes(data_dir)
    assert seen[made[0].rel_data] == ["verified"]  # not sent again
    assert seen[made[2].rel_data] == ["failed", "verified"]
    assert seen[made[3].rel_manifest] == ["verified"]
    assert prune(data_dir, 0, "dav:archive", config) == ExitCode.OK
    assert not any(s.data.exists() or s.manifest.exists() for s in made)
    assert_nothing_lost(data_dir, webdav.folder / "archive", made)


def test_rclone_killed_mid_transfer_leaves_no_final_file_and_next_run_completes(data_dir, tmp_path, webdav):
    big = make_sealed(data_dir, paths.HourKey("2026-01-02", "05"), members=4, rows_per_member=1500)
    assert big.bytes > 300_000
    config = webdav.client_config(tmp_path / "rclone.conf")
    argv = [str(Path(sys.executable).with_name("orderbooks")), "upload", "--remote", "dav:archive"]
    argv += ["--data-dir", str(data_dir), "--rclone-config", str(config), "--rclone-binary", rclone_binary()]
    argv += ["--bwlimit", "100k", "--retries", "1"]
    quiet = subprocess.DEVNULL
    proc = subprocess.Popen(argv, stdout=quiet, stderr=quiet, start_new_session=True)
    staging = webdav.folder / "archive" / (big.rel_data + ".uploading")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (staging.exists() and staging.stat().st_size > 0):
        time.sleep(0.05)
    assert staging.exists(), "the transfer never started"
    os.killpg(proc.pid, signal.SIGKILL)  # orderbooks and rclone together, as a power cut would
    proc.wait(timeout=10)
    assert not (webdav.folder / "archive" / big.rel_data).exists()  # never a truncated final file
    assert staging.stat().st_size < big.bytes
    assert "verified" not in outcomes(data_dir).get(big.rel_data, [])
    assert prune(data_dir, 0, "dav:archive", config) == ExitCode.OK
    assert big.data.exists()
    # next run: the staging leftover is replaced, the file verified
    assert upload(data_dir, "dav:archive", config) == ExitCode.OK
    assert file_hashes(webdav.folder / "archive" / big.rel_data) == (big.md5, big.sha256)
    assert not staging.exists()
    assert outcomes(data_dir)[big.rel_data][-1] == "verified"
    assert prune(data_dir, 0, "dav:archive", config) == ExitCode.OK
    assert_nothing_lost(data_dir, webdav.folder / "archive", [big])


def test_corrupted_remote_copy_is_a_mismatch_over_the_network(data_dir, tmp_path, webdav):
    sealed = make_sealed(data_dir, paths.HourKey("2026-01-02", "07"))
    target = webdav.folder / "archive" / sealed.rel_data
    target.parent.mkdir(parents=True)
    blob = bytearray(sealed.data.read_bytes())
    blob[10] ^= 0x55
    target.write_bytes(bytes(blob))
    config = webdav.client_config(tmp_path / "rclone.conf")
    assert upload(data_dir, "dav:archive", config) == ExitCode.FAILED
    (entry,) = [e for e in ledger_entries(data_dir) if e["path"] == sealed.rel_data]
    assert entry["outcome"] == "mismatch" and "md5" in entry["detail"]
    assert target.read_bytes() == bytes(blob)
    assert prune(data_dir, 0, "dav:archive", config) == ExitCode.OK
    assert sealed.data.exists() and sealed.manifest.exists()


def test_read_only_remote_fails_every_file_and_keeps_everything(data_dir, tmp_path):
    made = [make_sealed(data_dir, hour) for hour in hours(2)]
    empty = write_config(tmp_path / "server.conf", "")
    server = WebDav(tmp_path / "served", free_port(), empty, read_only=True).start()
    try:
        config = server.client_config(tmp_path / "rclone.conf")
        assert upload(data_dir, "dav:archive", config) == ExitCode.FAILED
    finally:
        server.stop()
    seen = outcomes(data_dir)
    assert {s.rel_data: seen[s.rel_data] for s in made} == {s.rel_data: ["failed"] for s in made}
    before = all_files(data_dir)
    assert prune(data_dir, 0, "dav:archive", config) == ExitCode.OK
    assert all_files(data_dir) == before
    assert not list((tmp_path / "served").rglob("*.jsonl.gz"))


def test_bad_config_through_the_installed_command(data_dir, tmp_path):
    make_sealed(data_dir, paths.HourKey("2026-01-02", "08"))
    config = write_config(tmp_path / "rclone.conf", mode=0o644)
    command = str(Path(sys.executable).with_name("orderbooks"))
    env = {
        **os.environ,
        "ORDERBOOKS_REMOTE": f"stand:{tmp_path}/remote",
        "ORDERBOOKS_DATA_DIR": str(data_dir),
        "ORDERBOOKS_RCLONE_CONFIG": str(config),
        "ORDERBOOKS_RCLONE_BINARY": rclone_binary(),
    }
    before = all_files(data_dir)
    done = subprocess.run([command, "upload"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitCode.ENVIRONMENT
    assert done.stderr.strip().count("\n") == 0 and "chmod 600" in done.stderr
    env["ORDERBOOKS_REMOTE"] = "gdrive:orderbooks"
    os.chmod(config, 0o600)
    done = subprocess.run([command, "upload"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitCode.ENVIRONMENT and "'gdrive' is not in" in done.stderr
    assert all_files(data_dir) == before
