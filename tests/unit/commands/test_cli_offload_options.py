"""commands/_offload_options: what `orderbooks upload` and `orderbooks prune` share."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from orderbooks.commands._offload_options import (
    add_dry_run_and_data_dir,
    existing_data_dir,
    non_negative_int,
    precondition_failed,
)
from orderbooks.config import DEFAULT_DATA_DIR
from orderbooks.exitcodes import ExitCode
from orderbooks.logs import get_logger


def test_non_negative_int_takes_zero_and_up_and_refuses_the_rest():
    assert non_negative_int("0") == 0
    assert non_negative_int("12") == 12
    with pytest.raises(ValueError, match=">= 0"):
        non_negative_int("-1")
    with pytest.raises(ValueError):
        non_negative_int("two")


def test_dry_run_data_dir_and_json_options():
    parser = argparse.ArgumentParser()
    add_dry_run_and_data_dir(parser, dry_run_help="list only")
    assert vars(parser.parse_args([])) == {
        "dry_run": False,
        "data_dir": Path(DEFAULT_DATA_DIR),
        "json": False,
    }
    args = parser.parse_args(["--dry-run", "--data-dir", "/srv/d", "--json"])
    assert (args.dry_run, args.data_dir, args.json) == (True, Path("/srv/d"), True)
    assert "list only" in parser.format_help()


def test_precondition_failed_logs_and_prints_one_error(capsys):
    code = precondition_failed("prune", get_logger("prune"), "ledger is busy")
    assert code == ExitCode.ENVIRONMENT
    out, err = capsys.readouterr()
    assert err == "orderbooks prune: error: ledger is busy\n"
    line = json.loads(out)
    assert (line["level"], line["event"], line["error"]) == ("error", "precondition_failed", "ledger is busy")


def test_existing_data_dir(tmp_path, capsys):
    log = get_logger("upload")
    assert existing_data_dir(str(tmp_path), "upload", log) == tmp_path
    assert capsys.readouterr() == ("", "")
    missing = tmp_path / "absent"
    assert existing_data_dir(missing, "upload", log) is None
    err = capsys.readouterr().err
    assert err == f"orderbooks upload: error: data folder {missing} does not exist\n"
    file = tmp_path / "file"
    file.write_text("x")
    assert existing_data_dir(file, "upload", log) is None
