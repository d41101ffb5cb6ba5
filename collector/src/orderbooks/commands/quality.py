"""Measure how well a data folder was collected: coverage, gaps and their causes,
latency, schedule lateness, unchanged/empty/one-sided books, bytes per hour.

DIR is the data folder (default: --data-dir, ORDERBOOKS_DATA_DIR, then
/var/lib/orderbooks) or any copy of it. Files are read one at a time (sealed
files, and the complete members of .partial files). docs/quality.md explains
every figure and the --json keys.

With several folders (copies from several hosts of the same collection), each
folder's own report is under "sources" and the top level is their union: a
token-cycle is covered when any source has it. A merged folder (orderbooks
merge) is read as the union of its sources.

Exit status: 0 with a report, 1 when no row was found or coverage is below
--min-coverage, 2 on a bad option, 3 when DIR (or another DIR) is not a data
folder (missing, unreadable, or none of raw/, markets/, runs/, state/,
uploads/, quarantine/ in it) or --plot is asked for without matplotlib
(install orderbooks[plot]).

Examples:
  orderbooks quality /var/lib/orderbooks
  orderbooks quality ./copy-from-drive --since 2026-05-12T00:00Z --until 2026-05-13T00:00Z
  orderbooks quality DIR --json | jq '.series[] | {series, coverage_pct}'
  orderbooks quality DIR --plot coverage.png --min-coverage 99.5
  orderbooks quality host-a host-b --json | jq '.totals.coverage_pct, [.sources[].totals.coverage_pct]'
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from orderbooks import quality
from orderbooks.commands._data_folder import (
    add_data_folder_arguments,
    cannot_read,
    checked_data_folder,
    data_folder,
)
from orderbooks.exitcodes import ExitCode
from orderbooks.quality.units import iso_to_ms

HELP = "coverage, gaps, latency and book statistics of a data folder (optional PNG timeline)"
#: What the environment may set: the data folder only. What this command
#: measures or prints is never changed by a collector setting.
FROM_ENVIRONMENT = ("--data-dir",)


def moment_ms(raw: str) -> int:
    """ISO-8601 (``2026-05-12T10:00Z``, naive means UTC) or epoch milliseconds."""
    text = raw.strip()
    if text.isdigit():
        return int(text)
    if len(text) == 10:  # a date alone
        text += "T00:00:00Z"
    value = iso_to_ms(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected an ISO-8601 UTC time or epoch ms, got {raw!r}")
    return value


def _number(raw: str, expected: str) -> float:
    """*raw* as a float; "expected <expected>, got ..." when it is not a number."""
    try:
        return float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {raw!r}") from None


def interval_seconds(raw: str) -> float:
    value = _number(raw, "seconds")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {raw!r}")
    return value


def percent(raw: str) -> float:
    value = _number(raw, "a percentage")
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, got {raw!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    add_data_folder_arguments(parser, purpose="measure")
    parser.add_argument(
        "more_dirs", nargs="*", metavar="DIR", help="more copies of the same collection: report their union"
    )
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    parser.add_argument(
        "--plot", metavar="FILE.png", help="also draw the coverage timeline (needs matplotlib)"
    )
    parser.add_argument(
        "--interval",
        type=interval_seconds,
        metavar="S",
        help="poll interval in seconds (default: from the run manifests, else inferred from the data)",
    )
    parser.add_argument("--since", type=moment_ms, metavar="TIME", help="only rows received at or after TIME")
    parser.add_argument("--until", type=moment_ms, metavar="TIME", help="only rows received before TIME")
    parser.add_argument(
        "--markets", action="store_true", help="text output: also one line per market and hour"
    )
    parser.add_argument("--max-gaps", type=int, default=20, metavar="N", help="text output: longest N gaps")
    parser.add_argument(
        "--min-coverage", type=percent, metavar="PCT", help="exit 1 when overall coverage is below PCT"
    )


def run(args: argparse.Namespace) -> int:
    data_dir = data_folder(args, "quality")
    if data_dir is None:
        return ExitCode.ENVIRONMENT
    if args.since is not None and args.until is not None and args.until <= args.since:
        print("orderbooks quality: --until must be after --since", file=sys.stderr)
        return ExitCode.USAGE
    if args.plot:
        from orderbooks.quality import plot  # noqa: PLC0415 - matplotlib is an optional extra

        problem = plot.unavailable()
        if problem:
            print(f"orderbooks quality: {problem}", file=sys.stderr)
            return ExitCode.ENVIRONMENT
    dirs = [data_dir, *(Path(d) for d in args.more_dirs)]
    for extra in dirs[1:]:
        if not checked_data_folder(extra, "quality"):
            return ExitCode.ENVIRONMENT
    several = len(dirs) > 1 or quality.derived_info(data_dir) is not None
    try:
        if several:
            report = quality.analyze_union(
                dirs, interval_s=args.interval, since_ms=args.since, until_ms=args.until
            )
        else:
            report = quality.analyze(
                data_dir, interval_s=args.interval, since_ms=args.since, until_ms=args.until
            )
    except PermissionError as exc:
        return cannot_read("quality", exc)
    except quality.QualityError as exc:
        print(f"orderbooks quality: {exc}", file=sys.stderr)
        return ExitCode.ENVIRONMENT
    if args.plot:
        plot.render(report, Path(args.plot))
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render = quality.render_union_text if several else quality.render_text
        sys.stdout.write(render(report, markets=args.markets, max_gaps=args.max_gaps))
        if args.plot:
            print(f"timeline written to {args.plot}")
    if report["totals"]["rows"] == 0:
        print(f"orderbooks quality: no rows found in {', '.join(map(str, dirs))}", file=sys.stderr)
        return ExitCode.FAILED
    coverage = report["totals"]["coverage_pct"]
    if args.min_coverage is not None and (coverage is None or coverage < args.min_coverage):
        print(
            f"orderbooks quality: coverage {coverage}% is below --min-coverage {args.min_coverage}%",
            file=sys.stderr,
        )
        return ExitCode.FAILED
    return ExitCode.OK
