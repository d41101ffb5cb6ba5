"""A collector setting in the environment never changes what another command
measures or makes it fail, and every bad value is reported at once."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from orderbooks import cli
from orderbooks.exitcodes import ExitCode
from testkit.fabricate import Scenario, write_run


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    write_run(target, Scenario(cycles=60, series={"10684": 300}))
    return target


def report(data_dir: Path, environ: dict[str, str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert cli.main(["quality", str(data_dir), "--json"], environ=environ) == ExitCode.OK
    return orjson.loads(capsys.readouterr().out)


def test_the_collectors_interval_does_not_change_what_quality_measures(data_dir, capsys):
    plain = report(data_dir, {}, capsys)
    with_setting = report(data_dir, {"ORDERBOOKS_INTERVAL": "2"}, capsys)
    assert with_setting["totals"] == plain["totals"]
    assert with_setting["interval_s"] == plain["interval_s"] == 1.0


@pytest.mark.parametrize("command", ["verify", "quality", "status"])
def test_a_bad_collector_setting_is_not_another_commands_error(data_dir, command, capsys):
    clean = cli.main([command, str(data_dir)], environ={})
    capsys.readouterr()
    code = cli.main([command, str(data_dir)], environ={"ORDERBOOKS_INTERVAL": "banana"})
    err = capsys.readouterr().err
    assert code == clean and code != ExitCode.USAGE
    assert "ORDERBOOKS_INTERVAL" not in err


def test_the_data_folder_still_comes_from_the_environment(data_dir, capsys):
    assert cli.main(["verify", "--json"], environ={"ORDERBOOKS_DATA_DIR": str(data_dir)}) == ExitCode.OK
    assert orjson.loads(capsys.readouterr().out)["ok"] is True


def test_every_bad_value_in_the_environment_is_reported(capsys, monkeypatch):
    """collect names every bad value in one error; check-config (which reads the
    process environment) one line each."""
    environ = {
        "ORDERBOOKS_INTERVAL": "banana",
        "ORDERBOOKS_DURATION": "soon",
        "ORDERBOOKS_FLUSH_ROWS": "many",
    }
    assert cli.main(["collect"], environ=environ) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert all(name in err for name in environ), err
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["check-config"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert all(f"{name}=" in err for name in environ) and "3 bad setting(s)" in err, err


def test_a_bad_heartbeat_url_in_the_environment_is_named_but_never_printed(capsys, monkeypatch):
    secret = "https://hc-ping.com/0b7c-secret-token?x y"
    assert cli.main(["collect"], environ={"ORDERBOOKS_HEARTBEAT_URL": secret}) == ExitCode.USAGE
    monkeypatch.setenv("ORDERBOOKS_HEARTBEAT_URL", secret)
    assert cli.main(["check-config"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("ORDERBOOKS_HEARTBEAT_URL='https://hc-ping.com/<redacted>'") == 2
    assert "0b7c-secret-token" not in err
