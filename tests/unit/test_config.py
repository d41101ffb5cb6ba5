"""Settings parsing and validation (before any network call)."""

import argparse
from pathlib import Path

import pytest
from orderbooks import config
from orderbooks.config import ConfigError, Settings
from orderbooks.exitcodes import ExitCode


def parse(argv, environ=None):
    from orderbooks.cli import build_parser

    return build_parser(environ or {}).parse_args(["collect", *argv])


def test_defaults_match_the_contract(tmp_path):
    args = parse(["--data-dir", str(tmp_path)])
    s = config.settings_from_args(args)
    assert s.gamma_url == "https://gamma-api.polymarket.com"
    assert s.clob_url == "https://clob.polymarket.com"
    assert s.series == ("10684", "10192", "10114", "10331", "41")
    assert s.interval == 1.0
    assert s.duration is None
    assert (s.grace_seconds, s.upcoming, s.discovery_interval, s.books_chunk_size) == (120.0, 1, 60.0, 50)
    assert (s.disk_floor_mb, s.compress_level) == (1024, 6)
    assert Settings().data_dir == Path("/var/lib/orderbooks")


def test_environment_overrides_defaults_and_cli_wins(tmp_path):
    env = {
        "ORDERBOOKS_INTERVAL": "0.25",
        "ORDERBOOKS_SERIES": "10684, 41",
        "ORDERBOOKS_DATA_DIR": str(tmp_path),
    }
    s = config.settings_from_args(parse([], env))
    assert s.interval == 0.25
    assert s.series == ("10684", "41")
    assert s.data_dir == tmp_path
    s = config.settings_from_args(parse(["--interval", "2"], env))
    assert s.interval == 2.0


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "nan", "inf", ""])
def test_interval_must_be_positive(raw):
    with pytest.raises(argparse.ArgumentTypeError):
        config.positive_float(raw)


@pytest.mark.parametrize(
    "raw",
    ["ftp://x", "http://", "gamma-api.polymarket.com", "http://h:99999", "http://h/?q=1", "http://h/#f"],
)
def test_malformed_urls_are_refused(raw):
    with pytest.raises(argparse.ArgumentTypeError, match="malformed URL"):
        config.http_url(raw)


def test_url_keeps_path_and_drops_trailing_slash():
    assert config.http_url("http://127.0.0.1:8765/gamma/") == "http://127.0.0.1:8765/gamma"


@pytest.mark.parametrize("raw", ["abc", "10684,,41", "", "10684;41", "1e3", "-5"])
def test_series_format_is_checked(raw):
    with pytest.raises(argparse.ArgumentTypeError):
        config.series_ids(raw)


def test_series_are_deduplicated_in_order():
    assert config.series_ids("41,10684,41") == ("41", "10684")


def test_duration_shorter_than_interval_is_a_usage_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        config.settings_from_args(parse(["--data-dir", str(tmp_path), "--interval", "5", "--duration", "1"]))
    assert info.value.code == ExitCode.USAGE


def test_every_option_has_an_environment_name_in_help():
    from orderbooks.cli import build_parser

    sub = build_parser({})._subparsers._group_actions[0].choices["collect"]
    longs = [a for a in sub._actions if a.option_strings and a.dest != "help"]
    assert len(longs) >= 18
    for action in longs:
        env = "ORDERBOOKS_" + action.option_strings[0][2:].replace("-", "_").upper()
        assert env in action.help
