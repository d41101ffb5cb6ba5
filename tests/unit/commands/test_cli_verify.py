"""`orderbooks verify` driven in-process through cli.main: exit codes, text, --json."""

from __future__ import annotations

import json

from orderbooks import cli
from orderbooks.exitcodes import ExitCode
from orderbooks.records import ROW_KEYS, CycleResult
from orderbooks.store import paths
from testkit.fake_clock import FakeClock
from testkit.writers import new_writer


def make_data_dir(path):
    clock = FakeClock(wall_ms=1_699_999_200_000)
    writer = new_writer(path, clock, "20231114T220000Z-123456", host="h")
    row = dict.fromkeys(ROW_KEYS, "x") | {"recv_ms": clock.wall_ms()}
    writer.write_cycle(CycleResult(cycle=1, started_ms=0, rows=[row, row]))
    writer.close("stop")
    return path


def fresh(capsys):
    capsys.readouterr()  # drop the writer's logs


def test_ok_exit_and_text_summary(tmp_path, capsys):
    make_data_dir(tmp_path)
    assert cli.main(["verify", str(tmp_path)], environ={}) == ExitCode.OK
    out = capsys.readouterr().out
    assert "verify OK: 1/1 sealed files consistent, 2 rows" in out


def test_json_summary(tmp_path, capsys):
    make_data_dir(tmp_path)
    fresh(capsys)
    assert cli.main(["verify", str(tmp_path), "--json"], environ={}) == ExitCode.OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "orderbooks.verify" and summary["schema"] == 1 and summary["ok"] is True
    assert summary["counts"]["rows"] == 2
    assert set(summary) >= {
        "counts",
        "problems",
        "files",
        "partials",
        "orphan_data",
        "orphan_manifests",
        "quarantined",
        "runs",
        "stray",
    }


def test_damage_exits_failed(tmp_path, capsys):
    make_data_dir(tmp_path)
    paths.manifest_path_for(paths.iter_files(tmp_path, paths.DATA_SUFFIX)[0]).unlink()
    assert cli.main(["verify", str(tmp_path)], environ={}) == ExitCode.FAILED
    out = capsys.readouterr().out
    assert "FAIL" in out and "no manifest" in out and "verify FAILED" in out


def test_data_dir_from_environment(tmp_path, capsys):
    make_data_dir(tmp_path)
    fresh(capsys)
    assert cli.main(["verify", "--json"], environ={"ORDERBOOKS_DATA_DIR": str(tmp_path)}) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["data_dir"] == str(tmp_path)


def test_strict_from_flag(tmp_path, capsys):
    make_data_dir(tmp_path)
    partial = paths.partial_path(tmp_path, paths.HourKey("2023-11-14", "23"), "20231114T230000Z-abcdef")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"")
    assert cli.main(["verify", str(tmp_path)], environ={}) == ExitCode.OK
    assert cli.main(["verify", str(tmp_path), "--strict"], environ={}) == ExitCode.FAILED


def test_missing_folder_is_an_environment_error(tmp_path, capsys):
    assert cli.main(["verify", str(tmp_path / "nope")], environ={}) == ExitCode.ENVIRONMENT
    assert "is not a readable folder" in capsys.readouterr().err


def test_help_has_examples(capsys):
    parser = cli.build_parser({})
    verify_parser = parser._subparsers._group_actions[0].choices["verify"]
    assert "orderbooks verify" in verify_parser.format_help()
