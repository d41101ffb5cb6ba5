"""Check every sealed data file against its manifest, member by member.

DIR is the data folder (default: --data-dir, ORDERBOOKS_DATA_DIR, then
/var/lib/orderbooks), or any copy of it, e.g. one downloaded from Drive.

Besides each sealed file against its manifest, every file a run manifest
(runs/<run_id>.json) lists must be on disk, unless the upload ledger records it
as pruned, and every folder and file verify reads must be readable: one it may
not read is listed as a problem, never skipped.

Exit status: 0 when everything is consistent, 1 when anything is not (a file
against its manifest, a listed file missing), 3 when DIR is not a data folder
(missing, unreadable, or holding none of raw/, markets/, runs/, state/,
uploads/, quarantine/: the message names a child that is one) or when a folder
or file in it could not be read (the rest is still checked and reported).
Open or leftover .partial files and quarantined files are reported; they fail
the check only with --strict.

Examples:
  orderbooks verify /var/lib/orderbooks
  orderbooks verify ./copy-from-drive --json | jq .counts
  orderbooks verify --strict
"""

from __future__ import annotations

import argparse
import sys

import orjson

from orderbooks.commands._data_folder import add_data_folder_arguments, cannot_read, data_folder
from orderbooks.exitcodes import ExitCode
from orderbooks.store import verify

HELP = "verify sealed files against their manifests (exit 1 on any inconsistency)"
#: What the environment may set: the data folder only. What this command
#: measures or prints is never changed by a collector setting.
FROM_ENVIRONMENT = ("--data-dir",)


def configure(parser: argparse.ArgumentParser) -> None:
    add_data_folder_arguments(parser, purpose="check")
    parser.add_argument("--json", action="store_true", help="print the machine-readable summary (JSON)")
    parser.add_argument(
        "--strict", action="store_true", help="also fail on .partial files and quarantined files"
    )


def run(args: argparse.Namespace) -> int:
    data_dir = data_folder(args, "verify")
    if data_dir is None:
        return ExitCode.ENVIRONMENT
    try:
        summary = verify.verify_data_dir(data_dir, strict=args.strict)
    except PermissionError as exc:
        return cannot_read("verify", exc)
    if args.json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(verify.format_text(summary))
    if summary["unreadable"]:
        print(
            f"orderbooks verify: {len(summary['unreadable'])} folders or files could not be read; "
            "the check is incomplete",
            file=sys.stderr,
        )
        return ExitCode.ENVIRONMENT
    return ExitCode.OK if summary["ok"] else ExitCode.FAILED
