"""Check every sealed data file against its manifest, member by member.

DIR is the data folder (default: --data-dir, ORDERBOOKS_DATA_DIR, then
/var/lib/orderbooks), or any copy of it, e.g. one downloaded from Drive.

Exit status: 0 when everything is consistent, 1 when anything is not,
3 when DIR is not a readable folder. Open or leftover .partial files and
quarantined files are reported; they fail the check only with --strict.

Examples:
  orderbooks verify /var/lib/orderbooks
  orderbooks verify ./copy-from-drive --json | jq .counts
  orderbooks verify --strict
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import orjson

from orderbooks import verify
from orderbooks.exitcodes import ExitCode

HELP = "verify sealed files against their manifests (exit 1 on any inconsistency)"
DEFAULT_DATA_DIR = "/var/lib/orderbooks"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", metavar="DIR", help="data folder to check (overrides --data-dir)")
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"data folder when DIR is not given (env ORDERBOOKS_DATA_DIR; default {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--json", action="store_true", help="print the machine-readable summary (JSON)")
    parser.add_argument(
        "--strict", action="store_true", help="also fail on .partial files and quarantined files"
    )


def run(args: argparse.Namespace) -> int:
    data_dir = Path(args.dir or args.data_dir or DEFAULT_DATA_DIR)
    if not data_dir.is_dir() or not os.access(data_dir, os.R_OK | os.X_OK):
        print(f"orderbooks verify: {data_dir} is not a readable folder", file=sys.stderr)
        return ExitCode.ENVIRONMENT
    try:
        summary = verify.verify_data_dir(data_dir, strict=args.strict)
    except PermissionError as exc:
        print(f"orderbooks verify: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return ExitCode.ENVIRONMENT
    if args.json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(verify.format_text(summary))
    return ExitCode.OK if summary["ok"] else ExitCode.FAILED
