"""What `orderbooks upload` and `orderbooks prune` share: options and precondition reports.

Both take ``--dry-run``, ``--data-dir`` (a data folder that must exist:
``store.folder.not_a_data_folder``) and ``--json`` (the result document on
stdout, log lines on stderr), and report a failed precondition the same way:
one ``precondition_failed`` log line, one ``orderbooks <command>: error: ...``
line on stderr, exit code ENVIRONMENT.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from orderbooks import logs
from orderbooks.clock import SystemClock
from orderbooks.config import DEFAULT_DATA_DIR
from orderbooks.exitcodes import ExitCode
from orderbooks.logs import Logger
from orderbooks.offload.rclone import Rclone
from orderbooks.offload.remote import prepare_rclone
from orderbooks.store.folder import is_folder, not_a_data_folder


def non_negative_int(raw: str) -> int:
    """Option type: an integer >= 0."""
    value = int(raw)
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def add_dry_run_and_data_dir(parser: argparse.ArgumentParser, *, dry_run_help: str) -> None:
    parser.add_argument("--dry-run", action="store_true", help=dry_run_help)
    parser.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR), metavar="DIR")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON document on stdout (log lines go to stderr); same exit codes",
    )


@contextlib.contextmanager
def logs_for(args: argparse.Namespace) -> Iterator[None]:
    """With --json, log lines go to stderr so that stdout holds only the result document."""
    if getattr(args, "json", False):
        with logs.to_stream(sys.stderr):
            yield
    else:
        yield


def print_json(document: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def precondition_result(
    args: argparse.Namespace, error: str, document: Callable[[str, str, int], dict[str, Any]]
) -> dict[str, Any]:
    """The result document of a run that could not start: *document* (the command's own
    precondition document) for the remote, the error and now."""
    return document(args.remote, error, SystemClock().wall_ms())


def run_reporting(
    args: argparse.Namespace, body: Callable[[argparse.Namespace], tuple[int, dict[str, Any] | None]]
) -> int:
    """Run *body* (exit code, result document) under logs_for(); with --json, print its document."""
    with logs_for(args):
        code, document = body(args)
    if args.json and document:
        print_json(document)
    return code


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be > 0")
    return value


def add_rclone_options(parser: argparse.ArgumentParser) -> None:
    """--remote and how rclone is run: the same settings for upload and prune (one upload.env)."""
    parser.add_argument("--remote", required=True, metavar="REMOTE:PATH", help="e.g. gdrive:orderbooks")
    parser.add_argument(
        "--rclone-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="rclone config (mode 0600); else RCLONE_CONFIG, else rclone's default path",
    )
    parser.add_argument(
        "--rclone-binary",
        default=None,
        metavar="PATH",
        help="rclone executable (default: the rclone shipped beside this orderbooks, else PATH)",
    )
    parser.add_argument(
        "--retries", type=non_negative_int, default=3, metavar="N", help="rclone --retries (default 3)"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=60.0,
        metavar="S",
        help="rclone connect and idle timeout in seconds (default 60)",
    )


def add_offload_options(parser: argparse.ArgumentParser, *, dry_run_help: str) -> None:
    """What upload and prune both take: the rclone options, then --dry-run, --data-dir and --json."""
    add_rclone_options(parser)
    add_dry_run_and_data_dir(parser, dry_run_help=dry_run_help)


def rclone_from_args(args: argparse.Namespace, *, bwlimit: str | None = None) -> tuple[Rclone, str]:
    """The configured rclone and its version from the options add_rclone_options() added.

    Raises PreconditionError (binary, config or remote unusable).
    """
    return prepare_rclone(
        remote=args.remote,
        config=args.rclone_config,
        binary=args.rclone_binary,
        retries=args.retries,
        timeout_s=args.timeout,
        environ=getattr(args, "_environ", None),
        bwlimit=bwlimit,
    )


def precondition_failed(command: str, log: Logger, message: str) -> int:
    """Log and print *message* once; the exit code to return."""
    log.error("precondition_failed", error=message)
    print(f"orderbooks {command}: error: {message}", file=sys.stderr)
    return ExitCode.ENVIRONMENT


def existing_data_dir(raw: str | Path, command: str, log: Logger) -> Path | None:
    """The data folder *raw*, or None (reported by precondition_failed) when it is not a data folder
    (``store.folder.not_a_data_folder``); ``data_folder_problem`` says why."""
    problem = data_folder_problem(raw)
    if problem is None:
        return Path(raw)
    precondition_failed(command, log, problem)
    return None


def data_folder_problem(raw: str | Path) -> str | None:
    """Why *raw* cannot be the data folder of an upload or prune (None: it can)."""
    data_dir = Path(raw)
    if not is_folder(data_dir):
        return f"data folder {data_dir} does not exist"
    return not_a_data_folder(data_dir)
