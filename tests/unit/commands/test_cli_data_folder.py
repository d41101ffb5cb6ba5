"""commands/_data_folder: the data folder `orderbooks verify` and `orderbooks quality` read."""

from __future__ import annotations

import argparse
from pathlib import Path

from orderbooks.commands._data_folder import add_data_folder_arguments, cannot_read, readable_data_folder
from orderbooks.config import DEFAULT_DATA_DIR
from orderbooks.exitcodes import ExitCode


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser()
    add_data_folder_arguments(made, purpose="inspect")
    return made


def test_dir_wins_over_data_dir_which_wins_over_the_default(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    args = parser().parse_args([str(first), "--data-dir", str(second)])
    assert readable_data_folder(args, "verify") == first
    assert readable_data_folder(parser().parse_args(["--data-dir", str(second)]), "verify") == second
    args = parser().parse_args([])
    assert (args.dir, args.data_dir) == (None, None)
    assert "data folder to inspect (overrides --data-dir)" in parser().format_help()
    assert f"default {DEFAULT_DATA_DIR}" in parser().format_help()


def test_missing_folder_is_reported_once(tmp_path, capsys):
    missing = tmp_path / "absent"
    assert readable_data_folder(parser().parse_args([str(missing)]), "quality") is None
    assert capsys.readouterr().err == f"orderbooks quality: {missing} is not a readable folder\n"


def test_a_file_is_not_a_data_folder(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    assert readable_data_folder(parser().parse_args(["--data-dir", str(file)]), "verify") is None


def test_cannot_read_names_the_file(capsys):
    exc = PermissionError(13, "Permission denied", str(Path("/d/raw/x.jsonl.gz")))
    assert cannot_read("verify", exc) == ExitCode.ENVIRONMENT
    assert capsys.readouterr().err == "orderbooks verify: cannot read /d/raw/x.jsonl.gz: Permission denied\n"
