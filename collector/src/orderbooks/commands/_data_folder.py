"""The data folder that `orderbooks verify` and `orderbooks quality` read.

DIR (positional) wins over ``--data-dir`` (also ORDERBOOKS_DATA_DIR), which
wins over the default. The folder may be any copy of a data folder; it must be
a readable data folder (``store.folder.not_a_data_folder``: raw/, markets/,
runs/, state/, uploads/ or quarantine/ in it), or the command prints one line
saying what it expected and exits ENVIRONMENT.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orderbooks.config import DEFAULT_DATA_DIR
from orderbooks.exitcodes import ExitCode
from orderbooks.store.folder import is_readable_folder, not_a_data_folder


def add_data_folder_arguments(parser: argparse.ArgumentParser, *, purpose: str) -> None:
    """DIR and --data-dir; *purpose* completes "data folder to ..." in DIR's help."""
    parser.add_argument(
        "dir", nargs="?", metavar="DIR", help=f"data folder to {purpose} (overrides --data-dir)"
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"data folder when DIR is not given (env ORDERBOOKS_DATA_DIR; default {DEFAULT_DATA_DIR})",
    )


def readable_data_folder(args: argparse.Namespace, command: str) -> Path | None:
    """The chosen data folder, or None (after one line on stderr) when it is not a readable folder."""
    data_dir = Path(args.dir or args.data_dir or DEFAULT_DATA_DIR)
    if not is_readable_folder(data_dir):
        print(f"orderbooks {command}: {data_dir} is not a readable folder", file=sys.stderr)
        return None
    return data_dir


def data_folder(args: argparse.Namespace, command: str) -> Path | None:
    """The chosen data folder, or None (after one line on stderr) when it is not a data folder."""
    data_dir = Path(args.dir or args.data_dir or DEFAULT_DATA_DIR)
    return data_dir if checked_data_folder(data_dir, command) else None


def checked_data_folder(data_dir: Path, command: str, what: str = "") -> bool:
    """True when *data_dir* is a data folder; otherwise one line on stderr (``what`` prefixes it)."""
    problem = not_a_data_folder(data_dir)
    if problem is not None:
        print(f"orderbooks {command}: {what}{problem}", file=sys.stderr)
        return False
    return True


def cannot_read(command: str, exc: PermissionError) -> int:
    """Report a file inside the data folder that could not be read; the exit code to return."""
    print(f"orderbooks {command}: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
    return ExitCode.ENVIRONMENT
