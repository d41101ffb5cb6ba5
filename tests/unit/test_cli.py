"""The dispatcher: subcommands, environment overlay, named exit codes."""

import argparse
import pathlib

import pytest
from orderbooks import __version__, cli
from orderbooks.exitcodes import ExitCode

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"], environ={})
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"orderbooks {__version__}"


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_every_subcommand_has_help_and_is_documented(name):
    parser = cli.build_parser(environ={})
    sub = parser._subparsers._group_actions[0].choices[name]
    assert sub.description, f"{name} is missing its docstring"
    module = __import__(cli.SUBCOMMANDS[name], fromlist=["HELP"])
    assert module.HELP and "not implemented" not in module.HELP
    documented = "".join(p.read_text() for p in DOCS.glob("*.md"))
    assert f"orderbooks {name}" in documented, f"docs/ never mention `orderbooks {name}`"


def test_env_name():
    assert cli.env_name("--data-dir") == "ORDERBOOKS_DATA_DIR"
    assert cli.env_name("--keep-days") == "ORDERBOOKS_KEEP_DAYS"


def _parser():
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--data-dir", default="/var/lib/orderbooks")
    parser.add_argument("--dry-run", action="store_true")
    return parser


def test_environment_sets_defaults_and_command_line_wins():
    parser = _parser()
    cli.apply_environment(
        parser, {"ORDERBOOKS_INTERVAL": "0.5", "ORDERBOOKS_DATA_DIR": "/srv/x", "ORDERBOOKS_DRY_RUN": "yes"}
    )
    args = parser.parse_args([])
    assert (args.interval, args.data_dir, args.dry_run) == (0.5, "/srv/x", True)
    assert parser.parse_args(["--interval", "2"]).interval == 2.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORDERBOOKS_INTERVAL": "fast"}, "ORDERBOOKS_INTERVAL='fast'"),
        ({"ORDERBOOKS_DRY_RUN": "maybe"}, "expected true or false"),
    ],
)
def test_bad_environment_value_is_a_usage_error(env, message):
    with pytest.raises(cli.UsageError, match=message):
        cli.apply_environment(_parser(), env)


def test_bad_environment_value_exits_with_usage_code(capsys):
    code = cli.main(["collect", "--duration", "1"], environ={"ORDERBOOKS_INTERVAL": "fast"})
    assert code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith("orderbooks: error:") and "ORDERBOOKS_INTERVAL" in err
    assert len(err.strip().splitlines()) == 1
