"""Health is rows written: the real process on a file system that fills up
writes only some of what it receives, and `orderbooks status` says so."""

import json
import subprocess
import time

import pytest
from orderbooks.exitcodes import ExitCode
from testkit.collect_runs import orderbooks_argv
from testkit.tmpfs import mounted_tmpfs


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MiB tmpfs: real ENOSPC (needs root and mount, as CI has)."""
    with mounted_tmpfs(tmp_path / "small", "2m") as mount_point:
        yield mount_point


def status(data_dir) -> tuple[int, dict]:
    result = subprocess.run(
        [*orderbooks_argv(), "status", str(data_dir), "--json"], capture_output=True, text=True, timeout=60
    )
    return result.returncode, json.loads(result.stdout)


def test_rows_not_written_turn_status_unhealthy(sim, collect, small_fs):
    data_dir = small_fs / "data"
    data_dir.mkdir()
    filler = small_fs / "filler"
    run = collect(sim, "--interval", "0.5", "--duration", "25", "--disk-floor-mb", "0", data_dir=data_dir)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and '"rows"' not in run.stdout:
        time.sleep(0.2)  # the first rows are on disk: now take the space away
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass  # the file system is full
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "flush_failed" not in run.stdout:
        time.sleep(0.2)
    assert "flush_failed" in run.stdout, "no write ever failed on the full file system"
    filler.unlink()  # space back: the run goes on writing and saves its state
    assert run.wait(timeout=90) == ExitCode.OK, run.stderr

    [run_manifest] = [json.loads(p.read_text()) for p in (data_dir / "runs").glob("*.json")]
    not_written = run_manifest["totals"]["rows_not_written"]
    assert not_written > 0 and run_manifest["totals"]["rows"] > 0
    code, report = status(data_dir)
    assert code == ExitCode.FAILED
    assert "rows_lost" in {a["name"] for a in report["alarms"]}
    assert report["collector"]["rows_lost_total_this_run"] == not_written
    assert report["collector"]["rows_total_this_run"] == run_manifest["totals"]["rows"]
