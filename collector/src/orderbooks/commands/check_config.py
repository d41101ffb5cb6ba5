"""Check the collector's settings without starting it: every value, every message.

ENV_FILE is an environment file (KEY=VALUE lines, as systemd's
EnvironmentFile= reads them); without it the process environment is checked.
Each ORDERBOOKS_* setting is parsed exactly as `orderbooks collect` parses it;
every bad value gets one line naming the setting, and an unknown ORDERBOOKS_*
name is an error too (a typo would otherwise be ignored). Exit 0 when all is
well, 2 when anything is wrong, 3 when ENV_FILE cannot be read. Used by the
deploy (template validate) and by the unit (ExecStartPre=).

Examples:
  orderbooks check-config /etc/orderbooks/collector.env
  ORDERBOOKS_INTERVAL=banana orderbooks check-config
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from orderbooks import config
from orderbooks.exitcodes import ExitCode

HELP = "validate collector settings (an env file or the environment); exit 2 naming each bad value"
PREFIX = "ORDERBOOKS_"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env_file", nargs="?", metavar="ENV_FILE", help="environment file to check")


def parse_env_file(text: str) -> tuple[dict[str, str], list[str]]:
    """KEY=VALUE lines (comments, blank lines and quotes as systemd allows); (values, problems)."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        key, sep, raw = stripped.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            problems.append(f"line {number}: not KEY=VALUE: {stripped[:80]!r}")
            continue
        raw = raw.strip()
        if raw[:1] in ("'", '"'):
            try:
                parts = shlex.split(raw)
            except ValueError as exc:
                problems.append(f"line {number}: {key}: {exc}")
                continue
            raw = " ".join(parts)
        values[key] = raw
    return values, problems


def problems_of(environ: dict[str, str]) -> list[str]:
    """Every problem of the ORDERBOOKS_* settings in *environ*, one line each."""
    known = {}
    for option, type_, _metavar, _help in config.OPTIONS:
        known[PREFIX + option[2:].replace("-", "_").upper()] = (option, type_)
    problems: list[str] = []
    values: dict[str, object] = {}
    for name in sorted(k for k in environ if k.startswith(PREFIX)):
        raw = environ[name]
        if name not in known:
            problems.append(f"{name}: unknown setting (known: {', '.join(sorted(known))})")
            continue
        option, type_ = known[name]
        try:
            values[option[2:].replace("-", "_")] = type_(raw)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            shown = (config.redact_url(raw) or config.REDACTED) if option in config.SECRET_OPTIONS else raw
            problems.append(f"{name}={shown!r}: {exc}")
    if not problems:
        try:
            config.check_settings(config.Settings(**values))  # type: ignore[arg-type]
        except config.ConfigError as exc:
            problems.append(str(exc))
    return problems


def run(args: argparse.Namespace) -> int:
    if args.env_file:
        try:
            text = Path(args.env_file).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"orderbooks check-config: cannot read {args.env_file}: {exc}", file=sys.stderr)
            return ExitCode.ENVIRONMENT
        environ, problems = parse_env_file(text)
        source = args.env_file
    else:
        environ, problems = dict(os.environ), []
        source = "the environment"
    problems += problems_of(environ)
    for problem in problems:
        print(f"orderbooks check-config: {source}: {problem}", file=sys.stderr)
    if problems:
        print(f"orderbooks check-config: {len(problems)} bad setting(s) in {source}", file=sys.stderr)
        return ExitCode.USAGE
    count = sum(1 for k in environ if k.startswith(PREFIX))
    print(f"orderbooks check-config: {source}: {count} setting(s) OK")
    return ExitCode.OK
