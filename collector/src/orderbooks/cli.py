"""The `orderbooks` command line: a thin dispatcher over the library.

Every option of every subcommand can also be given as an environment variable
``ORDERBOOKS_<OPTION>`` (dashes become underscores), so a systemd unit can use
an ``EnvironmentFile``. The command line wins over the environment.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Collection, Sequence

from orderbooks import __version__, config
from orderbooks.exitcodes import ExitCode

#: Subcommand name -> module under orderbooks.commands.
SUBCOMMANDS: dict[str, str] = {
    "collect": "orderbooks.commands.collect",
    "verify": "orderbooks.commands.verify",
    "upload": "orderbooks.commands.upload",
    "prune": "orderbooks.commands.prune",
    "quality": "orderbooks.commands.quality",
    "merge": "orderbooks.commands.merge",
    "status": "orderbooks.commands.status",
    "check-config": "orderbooks.commands.check_config",
}

ENV_PREFIX = "ORDERBOOKS_"


class UsageError(Exception):
    """A bad option value; reported as one line, exit code USAGE."""


def env_name(option: str) -> str:
    """``--data-dir`` -> ``ORDERBOOKS_DATA_DIR``."""
    return ENV_PREFIX + option.lstrip("-").replace("-", "_").upper()


def apply_environment(
    parser: argparse.ArgumentParser, environ: dict[str, str], options: Collection[str] | None = None
) -> None:
    """Make ``ORDERBOOKS_<OPTION>`` the default of the long options of *parser*:
    every one, or only those in *options* (a command's ``FROM_ENVIRONMENT``).

    Flags (store_true) accept 1/true/yes/on and 0/false/no/off. Every bad value
    is reported, in one ``UsageError``, not only the first.
    """
    problems: list[str] = []
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or action.dest in ("help", "version"):
            continue
        if options is not None and longs[0] not in options:
            continue
        name = env_name(longs[0])
        if name not in environ:
            continue
        raw = environ[name]
        try:
            if isinstance(action, argparse._StoreTrueAction):
                value: object = parse_bool(raw, name)
            elif action.type is not None:
                try:
                    value = action.type(raw)
                except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
                    raise UsageError(f"{name}={shown_value(longs[0], raw)!r}: {exc}") from exc
            else:
                value = raw
        except UsageError as exc:
            problems.append(str(exc))
            continue
        action.default = value
        action.required = False
    if problems:
        raise UsageError("; ".join(problems))


def shown_value(option: str, raw: str) -> str:
    """*raw* as an error message may show it: a secret option's value redacted."""
    return (config.redact_url(raw) or config.REDACTED) if option in config.SECRET_OPTIONS else raw


def parse_bool(raw: str, name: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(f"{name}={raw!r}: expected true or false")


def build_parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    environ = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="orderbooks",
        description="Collect Polymarket BTC up/down order books (read-only public APIs), "
        "verify the files, offload them with rclone, and measure their quality.",
    )
    parser.add_argument("--version", action="version", version=f"orderbooks {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(sub)
        # A bad value is the chosen command's error only: ORDERBOOKS_INTERVAL is
        # the collector's setting, never a reason for `verify` to fail.
        try:
            apply_environment(sub, environ, getattr(module, "FROM_ENVIRONMENT", None))
            problem = None
        except UsageError as exc:
            problem = exc
        sub.set_defaults(_run=module.run, _environ=environ, _environment_problem=problem)
    return parser


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    try:
        parser = build_parser(environ)
        args = parser.parse_args(argv)
        if args._environment_problem is not None:
            raise args._environment_problem
        return int(args._run(args))
    except UsageError as exc:
        print(f"orderbooks: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
