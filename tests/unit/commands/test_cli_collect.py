"""`orderbooks collect` on the command line: bad values fail fast with one line, before any network call."""

import httpx
import pytest
from orderbooks import cli
from orderbooks.exitcodes import ExitCode


@pytest.fixture
def no_network(monkeypatch):
    sent = []

    def refuse(self, request, **kwargs):
        sent.append(request)
        raise AssertionError(f"network call attempted: {request.url}")

    monkeypatch.setattr(httpx.Client, "send", refuse)
    return sent


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        (["--interval", "0"], {}, "--interval: must be a finite number > 0"),
        (["--interval", "-1"], {}, "--interval"),
        (["--gamma-url", "not a url"], {}, "malformed URL"),
        (["--clob-url", "ftp://clob"], {}, "malformed URL"),
        (["--series", "btc-5m"], {}, "series ids are numbers"),
        ([], {"ORDERBOOKS_INTERVAL": "zero"}, "ORDERBOOKS_INTERVAL='zero'"),
        ([], {"ORDERBOOKS_SERIES": "10684,,41"}, "ORDERBOOKS_SERIES"),
        (["--duration", "0.1", "--interval", "1"], {}, "shorter than one --interval"),
        (["--books-chunk-size", "0"], {}, "--books-chunk-size"),
        (["--log-level", "loud"], {}, "--log-level"),
    ],
)
def test_bad_values_exit_usage_with_one_line(argv, env, needle, tmp_path, capsys, no_network):  # noqa: PLR0917 - pytest fixtures and parameters
    try:
        code = cli.main(["collect", "--data-dir", str(tmp_path), *argv], environ=env)
    except SystemExit as exc:  # argparse errors exit from inside parse_args
        code = exc.code
    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err
    assert out == ""
    assert no_network == []


def test_unwritable_data_dir_exits_environment(tmp_path, capsys, no_network):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = cli.main(["collect", "--data-dir", str(blocker / "data")], environ={})
    err = capsys.readouterr().err
    assert code == ExitCode.ENVIRONMENT
    assert "not writable" in err and len(err.strip().splitlines()) == 1
    assert no_network == []


def test_help_lists_every_option_and_an_example(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["collect", "--help"], environ={})
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--data-dir",
        "--gamma-url",
        "--clob-url",
        "--interval",
        "--series",
        "--duration",
        "--grace-seconds",
        "--upcoming",
        "--discovery-interval",
        "--books-chunk-size",
        "--connect-timeout",
        "--read-timeout",
        "--max-retries",
        "--flush-rows",
        "--flush-seconds",
        "--disk-floor-mb",
        "--compress-level",
        "--log-level",
    ):
        assert option in out
    assert "Examples:" in out and "ORDERBOOKS_" in out
