"""A collector that restarts again and again without writing a row (here: a
wrong --gamma-url, each run too short to count 30 empty cycles) is not
healthy: the real process, then the real `orderbooks status`."""

import json
import subprocess

from orderbooks.exitcodes import ExitCode
from testkit.collect_runs import orderbooks_argv


def test_restarts_that_write_nothing_are_an_alarm(collect, tmp_path):
    data_dir = tmp_path / "data"
    dead = "http://127.0.0.1:9"  # nothing listens: connect refused at once
    for _ in range(3):
        run = collect(
            None,
            "--gamma-url",
            f"{dead}/gamma",
            "--clob-url",
            f"{dead}/clob",
            "--interval",
            "1",
            "--duration",
            "3",
            data_dir=data_dir,
        )
        assert run.wait(timeout=60) == ExitCode.OK, run.stderr
    result = subprocess.run(
        [*orderbooks_argv(), "status", str(data_dir), "--json"], capture_output=True, text=True, timeout=60
    )
    report = json.loads(result.stdout)
    assert result.returncode == ExitCode.FAILED, report
    assert "restart_loop" in {a["name"] for a in report["alarms"]}
    assert report["collector"]["last_row_age_s"] is None
