"""Delete local sealed files (and their manifests) that are verified on the remote and old enough.

A file is deleted only when its hour (from raw/YYYY-MM-DD/HH, never the file's
mtime) ended more than --keep-days days ago AND the upload ledger
(DATA_DIR/uploads/ledger.jsonl) records the data file and its manifest as
verified on the remote with the hashes the manifest holds now. Partials,
quarantined files and unverified files are never deleted. Every deletion is
logged and appended to the ledger; empty hour and day folders are removed.

Every option can also be set as ORDERBOOKS_<OPTION>, e.g. ORDERBOOKS_KEEP_DAYS.

exit codes: 0 done (files kept for lack of verification are not an error),
1 a deletion failed, 2 bad option, 3 data folder missing or another upload/prune
is running, 130 interrupted.
"""

from __future__ import annotations

import argparse

from orderbooks.commands._offload_options import (
    add_dry_run_and_data_dir,
    existing_data_dir,
    non_negative_int,
    precondition_failed,
)
from orderbooks.exitcodes import ExitCode
from orderbooks.ledger import LedgerBusy, exclusive
from orderbooks.logs import get_logger
from orderbooks.prune import Pruner

HELP = "delete local files verified on the remote and older than N days"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-days", type=non_negative_int, required=True, metavar="N", help="keep files of the last N days"
    )
    add_dry_run_and_data_dir(parser, dry_run_help="list what would be deleted; change nothing")


def run(args: argparse.Namespace) -> int:
    log = get_logger("prune")
    data_dir = existing_data_dir(args.data_dir, "prune", log)
    if data_dir is None:
        return ExitCode.ENVIRONMENT
    pruner = Pruner(data_dir, args.keep_days, log=log)
    if args.dry_run:
        pruner.run(dry_run=True)
        return ExitCode.OK
    try:
        with exclusive(data_dir):
            report = pruner.run()
    except LedgerBusy as exc:
        return precondition_failed("prune", log, str(exc))
    return ExitCode.FAILED if report.errors else ExitCode.OK
