"""Upload sealed files and their manifests to an rclone remote, each verified by hash.

Only sealed data files that have a manifest are sent (never a .partial, never
a quarantined file), under the same relative path as on disk:
REMOTE:PATH/raw/YYYY-MM-DD/HH/<file>. A file counts as uploaded only when the
remote's MD5 (and SHA-256 where the remote has it) equals the manifest's; a
remote without hashes is verified by downloading the file and hashing it.
Every outcome is appended to DATA_DIR/uploads/ledger.jsonl and each run writes
DATA_DIR/uploads/runs/<run_id>.json. Files already verified are not sent again.

Every option can also be set as ORDERBOOKS_<OPTION>, e.g. ORDERBOOKS_REMOTE.

exit codes: 0 everything verified (or nothing to do), 1 some file failed,
mismatched or was skipped, 2 bad option, 3 rclone binary/config/remote
problem or --data-dir not a data folder (nothing was touched), 130 interrupted.

With --json, stdout holds one JSON document: the run manifest (as written to
uploads/runs/<run_id>.json), with --dry-run the plan (kind
orderbooks.upload_plan), or, when rclone cannot be used, the precondition
result; log lines then go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from orderbooks.commands import _offload_options as options
from orderbooks.exitcodes import ExitCode
from orderbooks.logs import get_logger
from orderbooks.offload.remote import PreconditionError
from orderbooks.offload.upload import (
    Uploader,
    UploadInterrupted,
    precondition_document,
    record_precondition_failure,
)
from orderbooks.store.ledger import LedgerBusy, exclusive

HELP = "upload sealed files to an rclone remote (Google Drive), verified by hash"


def configure(parser: argparse.ArgumentParser) -> None:
    options.add_offload_options(parser, dry_run_help="list what would be sent; change nothing")
    parser.add_argument("--bwlimit", default=None, metavar="RATE", help="rclone --bwlimit, e.g. 2M")


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace) -> int:
    return options.run_reporting(args, _upload)


def _upload(args: argparse.Namespace) -> tuple[int, dict[str, Any] | None]:
    """(exit code, result document) of one upload or dry run."""
    log = get_logger("upload")
    try:
        rclone, version = options.rclone_from_args(args, bwlimit=args.bwlimit)
    except PreconditionError as exc:
        document = options.precondition_result(args, str(exc), precondition_document)
        if options.data_folder_problem(args.data_dir) is None and not args.dry_run:
            with contextlib.suppress(OSError):
                record_precondition_failure(Path(args.data_dir), document)
        return options.precondition_failed("upload", log, str(exc)), document
    data_dir = options.existing_data_dir(args.data_dir, "upload", log)
    if data_dir is None:
        return ExitCode.ENVIRONMENT, options.precondition_result(
            args, str(options.data_folder_problem(args.data_dir)), precondition_document
        )
    uploader = Uploader(data_dir, args.remote, rclone, rclone_version=version, log=log)
    if args.dry_run:
        report = uploader.dry_run()
        if not args.json:
            for item in report.planned:
                print(f"would upload {item['path']} ({item['bytes']} bytes) -> {item['remote']}")
        return ExitCode.OK, report.document
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with exclusive(data_dir):
            report = uploader.run()
    except UploadInterrupted as exc:  # the run manifest on disk says "interrupted"; so does --json
        print(f"orderbooks upload: interrupted (run {exc.report.run_id})", file=sys.stderr)
        return ExitCode.INTERRUPTED, exc.report.document
    except LedgerBusy as exc:
        return options.precondition_failed("upload", log, str(exc)), options.precondition_result(
            args, str(exc), precondition_document
        )
    except OSError as exc:
        log.error("upload_aborted", error=str(exc))
        print(f"orderbooks upload: error: {exc}", file=sys.stderr)
        return ExitCode.ENVIRONMENT, options.precondition_result(args, str(exc), precondition_document)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return (ExitCode.OK if report.ok else ExitCode.FAILED), report.document
