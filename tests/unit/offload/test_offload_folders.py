"""Upload and prune say what they could not read (issue 22, case 3): a day folder linked out of
the data folder and an hour folder the service user cannot read are reported in their run
documents and make their exit code 1, instead of being passed over with "ok"."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from orderbooks import cli
from orderbooks.exitcodes import ExitCode
from orderbooks.health import status
from orderbooks.health.clocksync import ClockState
from orderbooks.store import paths
from testkit.offload_helpers import rclone_binary, write_config
from testkit.sealed_files import make_sealed
from testkit.unprivileged import as_service_user, hand_over, service_dir

KEPT = paths.HourKey("2026-01-02", "03")
HIDDEN = paths.HourKey("2026-01-03", "04")


def environment(folder: Path) -> dict[str, str]:
    config = write_config(folder / "rclone" / "rclone.conf")
    return {
        "ORDERBOOKS_REMOTE": f"stand:{folder / 'remote'}",
        "ORDERBOOKS_DATA_DIR": str(folder / "data"),
        "ORDERBOOKS_RCLONE_CONFIG": str(config),
        "ORDERBOOKS_RCLONE_BINARY": rclone_binary(),
        "ORDERBOOKS_RETRIES": "1",
        "ORDERBOOKS_TIMEOUT": "5",
        "ORDERBOOKS_KEEP_DAYS": "1",
    }


def last(data: Path, name: str) -> dict:
    return orjson.loads((data / "uploads" / name).read_bytes())


def linked_out(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    data = tmp_path / "data"
    make_sealed(data, KEPT)
    make_sealed(tmp_path / "elsewhere", HIDDEN)
    (data / "raw" / HIDDEN.date).symlink_to(tmp_path / "elsewhere" / "raw" / HIDDEN.date)
    return data, environment(tmp_path)


def test_upload_reports_a_day_folder_linked_out_and_fails(tmp_path):
    data, env = linked_out(tmp_path)
    assert cli.main(["upload"], env) == ExitCode.FAILED
    document = last(data, paths.LAST_UPLOAD_NAME)
    assert document["result"] == "failed"
    [failure] = document["failures"]
    assert failure["path"] == f"raw/{HIDDEN.date}" and "leading out of the data folder" in failure["detail"]
    assert (tmp_path / "remote" / "raw" / KEPT.date).is_dir()  # the rest is uploaded all the same
    assert not (tmp_path / "remote" / "raw" / HIDDEN.date).exists()
    found = status.evaluate(
        data, free_bytes=lambda _p: 2**40, clock_state=lambda: ClockState(True, "t")
    ).alarms
    assert {"upload_failed", "unreadable"} <= {a["name"] for a in found}


def test_prune_reports_a_day_folder_linked_out_and_fails(tmp_path):
    data, env = linked_out(tmp_path)
    assert cli.main(["upload"], env) == ExitCode.FAILED
    assert cli.main(["prune"], env) == ExitCode.FAILED
    document = last(data, paths.LAST_PRUNE_NAME)
    assert document["result"] == "failed" and document["totals"]["unreadable"] == 1
    assert document["unreadable"][0]["path"] == f"raw/{HIDDEN.date}"
    assert not (data / "raw" / KEPT.date).exists()  # what could be judged was pruned
    assert (tmp_path / "elsewhere" / "raw" / HIDDEN.date).is_dir()  # never followed, never deleted
    found = status.evaluate(
        data, free_bytes=lambda _p: 2**40, clock_state=lambda: ClockState(True, "t")
    ).alarms
    prune = [a for a in found if a["name"] == "prune_failed"]
    assert prune and "1 unreadable" in prune[0]["detail"]


def test_upload_and_prune_report_an_hour_folder_the_service_user_cannot_read():
    with service_dir() as folder:
        data = folder / "data"
        make_sealed(data, KEPT)
        hidden = make_sealed(data, HIDDEN)
        env = environment(folder)
        hand_over(folder)
        os.chmod(hidden.data.parent, 0o000)
        assert as_service_user(cli.main, ["upload"], env) == ExitCode.FAILED
        document = last(data, paths.LAST_UPLOAD_NAME)
        assert [(f["path"], f["detail"]) for f in document["failures"]] == [
            (f"raw/{HIDDEN.date}/{HIDDEN.hour}", "cannot be read: Permission denied")
        ]
        assert as_service_user(cli.main, ["prune"], env) == ExitCode.FAILED
        document = last(data, paths.LAST_PRUNE_NAME)
        assert document["unreadable"] == [
            {"path": f"raw/{HIDDEN.date}/{HIDDEN.hour}", "reason": "cannot be read: Permission denied"}
        ]
        os.chmod(hidden.data.parent, 0o755)
        assert hidden.data.exists()  # nothing in it was touched
