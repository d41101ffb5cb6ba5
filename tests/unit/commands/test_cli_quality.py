"""`orderbooks quality` through the real dispatcher: exit codes, text, JSON, PNG."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
import pytest
from orderbooks import cli
from orderbooks.exitcodes import ExitCode
from testkit.fabricate import T0_MS, Scenario, write_run


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    write_run(target, Scenario(cycles=180, series={"10684": 300}, outages=[(30, 40, "http_status")]))
    return target


def test_text_report(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["quality", str(data_dir)], environ={}) == ExitCode.OK
    out = capsys.readouterr().out
    assert "coverage  94.44%" in out
    assert "http_status" in out


def test_json_report_and_data_dir_from_environment(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["quality", "--json"], environ={"ORDERBOOKS_DATA_DIR": str(data_dir)})
    report = orjson.loads(capsys.readouterr().out)
    assert code == ExitCode.OK
    assert report["kind"] == "orderbooks.quality"
    assert report["totals"]["observed_cycles"] == 340
    assert [g["cause"] for g in report["gaps"]] == ["http_status"]


def test_min_coverage_fails_below_threshold(data_dir: Path) -> None:
    assert cli.main(["quality", str(data_dir), "--min-coverage", "99.5"], environ={}) == ExitCode.FAILED
    assert cli.main(["quality", str(data_dir), "--min-coverage", "90"], environ={}) == ExitCode.OK


def test_since_until_and_interval_options(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["quality", str(data_dir), "--json", "--interval", "1", "--since", str(T0_MS + 60_000)]
    argv += ["--until", "2026-05-12T10:02:00Z"]
    assert cli.main(argv, environ={}) == ExitCode.OK
    report = orjson.loads(capsys.readouterr().out)
    assert report["totals"]["rows"] == 120
    assert report["interval_source"] == "option"


def test_no_rows_is_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["quality", str(tmp_path)], environ={}) == ExitCode.FAILED
    assert "no rows" in capsys.readouterr().err


def test_missing_folder_is_an_environment_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["quality", str(tmp_path / "absent")], environ={}) == ExitCode.ENVIRONMENT
    assert "not a readable folder" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--interval", "0"], ["--since", "yesterday"], ["--min-coverage", "101"]])
def test_bad_option_values_are_usage_errors(tmp_path: Path, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["quality", str(tmp_path), *argv], environ={})
    assert exc.value.code == ExitCode.USAGE


def test_until_before_since_is_a_usage_error(data_dir: Path) -> None:
    argv = ["quality", str(data_dir), "--since", "2026-05-12T11:00Z", "--until", "2026-05-12T10:00Z"]
    assert cli.main(argv, environ={}) == ExitCode.USAGE


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs orderbooks[plot]")
def test_plot_option_writes_the_png(data_dir: Path, tmp_path: Path) -> None:
    png = tmp_path / "coverage.png"
    assert cli.main(["quality", str(data_dir), "--plot", str(png)], environ={}) == ExitCode.OK
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_plot_without_matplotlib_is_an_environment_error(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "matplotlib" else real(name)
    )
    code = cli.main(["quality", str(data_dir), "--plot", str(tmp_path / "x.png")], environ={})
    assert code == ExitCode.ENVIRONMENT
    assert "pip install 'orderbooks[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
