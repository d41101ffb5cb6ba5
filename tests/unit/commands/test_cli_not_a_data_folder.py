"""Issue 22: every command that reads a data folder refuses a folder that is not one, by the
rule in store/folder.py, and still accepts a just-started collector's folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from orderbooks import cli
from orderbooks.exitcodes import ExitCode
from orderbooks.store import folder, paths
from testkit.fabricate import Scenario, write_run
from testkit.offload_helpers import rclone_binary, write_config

HOUR = paths.HourKey("2026-01-02", "03")


def argv_for(command: str, data_dir: Path, tmp_path: Path) -> list[str]:
    if command in ("upload", "prune"):
        config = write_config(tmp_path / "rclone" / "rclone.conf")
        extra = ["--keep-days", "1"] if command == "prune" else []
        return [
            command, *extra, "--remote", f"stand:{tmp_path / 'remote'}", "--data-dir", str(data_dir),
            "--rclone-config", str(config), "--rclone-binary", rclone_binary(), "--dry-run",
        ]  # fmt: skip
    return [command, str(data_dir)]


@pytest.fixture
def above(tmp_path: Path) -> Path:
    """A folder one level above a real data folder (written by the real writer)."""
    parent = tmp_path / "x"
    write_run(parent / "orderbooks", Scenario(cycles=30, series={"10684": 300}))
    return parent


@pytest.mark.parametrize("command", ["verify", "quality", "status", "upload", "prune"])
def test_one_level_above_the_data_folder_is_refused_with_a_suggestion(
    command: str, above: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = cli.main(argv_for(command, above, tmp_path), environ={})
    out, err = capsys.readouterr()
    assert code == ExitCode.ENVIRONMENT
    assert f"{above} is not a data folder: no raw/, markets/, runs/, state/, uploads/ or quarantine/" in err
    assert f"(did you mean {above / 'orderbooks'}?)" in err
    assert "verify OK" not in out
    assert not (above / paths.UPLOADS_DIR).exists()  # nothing written into the wrong folder


def test_no_suggestion_unless_exactly_one_child_is_a_data_folder(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name / paths.RUNS_DIR).mkdir(parents=True)
    problem = folder.not_a_data_folder(tmp_path)
    assert problem is not None and "is not a data folder" in problem and "did you mean" not in problem
    (tmp_path / "b" / paths.RUNS_DIR).rmdir()
    assert f"did you mean {tmp_path / 'a'}?" in str(folder.not_a_data_folder(tmp_path))


#: What a collector's folder holds before its first sealed file (or a provisioned, empty one).
FRESH = [(paths.RUNS_DIR,), (paths.STATE_DIR,), (paths.RUNS_DIR, paths.STATE_DIR), ()]


@pytest.mark.parametrize("command", ["verify", "status"])
@pytest.mark.parametrize("made", FRESH)
def test_a_fresh_data_folder_is_still_accepted(
    command: str, made: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for name in made:
        (data_dir / name).mkdir()
    code = cli.main([command, str(data_dir)], environ={})
    assert code != ExitCode.ENVIRONMENT, capsys.readouterr().err
    assert "is not a data folder" not in capsys.readouterr().err
    if command == "verify":
        assert code == ExitCode.OK


def test_quality_refuses_a_second_folder_that_is_not_a_data_folder(
    above: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = cli.main(["quality", str(above / "orderbooks"), str(above)], environ={})
    assert code == ExitCode.ENVIRONMENT
    assert f"{above} is not a data folder" in capsys.readouterr().err
