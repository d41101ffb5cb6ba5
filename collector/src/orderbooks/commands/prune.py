"""Delete local sealed files (and their manifests) that are verified on the remote and old enough.

A file is deleted only when its hour (from raw/YYYY-MM-DD/HH, never the file's
mtime) ended more than --keep-days days ago AND the upload ledger
(DATA_DIR/uploads/ledger.jsonl) records the data file and its manifest as
verified on --remote with the hashes the manifest holds now AND the remote,
asked now (one listing per run, a download where it has no hashes), still
holds both with those hashes. A copy missing or different on the remote keeps
the local file, gets a remote_lost/remote_mismatch ledger line, and is sent
again by the next upload. Partials, quarantined files and unverified files are
never deleted. Every deletion is
logged and appended to the ledger; empty hour and day folders are removed.

Every option can also be set as ORDERBOOKS_<OPTION>, e.g. ORDERBOOKS_KEEP_DAYS.

exit codes: 0 done (files kept for lack of verification are not an error),
1 a deletion failed, a copy was missing or different on the remote, or the
remote could not be listed (nothing was deleted then), 2 bad option, 3 rclone
binary/config/remote problem, data folder missing or not a data folder (none
of raw/, markets/, runs/, state/, uploads/, quarantine/ in it), or another
upload/prune is running, 130 interrupted.

With --json, stdout holds one JSON document: the result (as written to
uploads/last-prune.json), with --dry-run the plan (kind orderbooks.prune_plan),
or, when rclone cannot be used, the precondition result; log lines then go to
stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

from orderbooks.commands import _offload_options as options
from orderbooks.exitcodes import ExitCode
from orderbooks.logs import get_logger
from orderbooks.offload.prune import Pruner, precondition_document
from orderbooks.offload.remote import PreconditionError
from orderbooks.store.ledger import LedgerBusy, exclusive

HELP = "delete local files verified on the remote and older than N days"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-days",
        type=options.non_negative_int,
        required=True,
        metavar="N",
        help="keep files of the last N days",
    )
    options.add_offload_options(parser, dry_run_help="list what would be deleted; change nothing")


def run(args: argparse.Namespace) -> int:
    return options.run_reporting(args, _prune)


def _prune(args: argparse.Namespace) -> tuple[int, dict[str, Any] | None]:
    """(exit code, result document) of one prune or dry run."""
    log = get_logger("prune")
    data_dir = options.existing_data_dir(args.data_dir, "prune", log)
    if data_dir is None:
        return ExitCode.ENVIRONMENT, options.precondition_result(
            args, str(options.data_folder_problem(args.data_dir)), precondition_document
        )
    try:
        rclone, version = options.rclone_from_args(args)
    except PreconditionError as exc:
        return options.precondition_failed("prune", log, str(exc)), options.precondition_result(
            args, str(exc), precondition_document
        )
    pruner = Pruner(data_dir, args.keep_days, args.remote, rclone, log=log, rclone_version=version)
    if args.dry_run:
        report = pruner.run(dry_run=True)
        if not args.json:
            for rel in report.would_delete:
                print(f"would delete {rel} ({report.sizes[rel]} bytes)")
        return ExitCode.OK, report.document
    try:
        with exclusive(data_dir):
            report = pruner.run()
    except LedgerBusy as exc:
        return options.precondition_failed("prune", log, str(exc)), options.precondition_result(
            args, str(exc), precondition_document
        )
    return (ExitCode.FAILED if report.failed else ExitCode.OK), report.document
