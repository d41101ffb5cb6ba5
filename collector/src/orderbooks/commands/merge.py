"""Merge copies of the same collection (one per host) into one derived data folder.

Each distinct book state (token_id, book.timestamp, book.hash) is written once,
in time order: the row as first received plus "observations", every sighting of
that state (source, host, run_id, recv_ms, cycle, latency_ms). The output has
hourly files with manifests (orderbooks verify accepts it; orderbooks quality
reads it as the union of its sources) and says in its manifests that it is
derived and from which sources. The market documents (markets/) are merged
too, each distinct document once. The sources are only read. Conflicts (one
token_id and timestamp with different hashes, one token with different outcomes)
are reported, never resolved. docs/operations.md says what the folder is for.

Every input file is first checked against its manifest (as orderbooks verify
checks it): a file that fails, cannot be read or is not sealed (.partial) is
left out of the merge and listed (text output, and "left_out" in --json); the
good files are still merged.

Refused: a source that is not a data folder (no raw/, markets/, runs/,
state/, uploads/ or quarantine/ in it) or holds no sealed file, the same
source twice (also through a link or a relative path), an output folder inside
a source or a source inside the output, an output that already holds data.

Exit status: 0 when everything was merged without conflicts, 1 when merged
but conflicts were found or input files were left out (see --json), 2 on a bad
option, the same source twice, or an output inside a source (or a source
inside the output), 3 when a source is not a data folder or holds no sealed
file, a file cannot be read, or --out already holds data.

Examples:
  orderbooks merge --out ./merged ./host-a ./host-b
  orderbooks merge --out ./merged ./host-a ./host-b --json | jq '.conflicts'
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

from orderbooks.exitcodes import ExitCode
from orderbooks.quality import merge

HELP = "merge several hosts' copies into one derived data folder (each book state once)"
#: What the environment may set: nothing. The sources and the output are
#: named on the command line; a collector setting never changes a merge.
FROM_ENVIRONMENT: tuple[str, ...] = ()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="new folder to write (must hold no data)")
    parser.add_argument("sources", nargs="+", metavar="SRC", help="data folders to merge (read only)")
    parser.add_argument("--json", action="store_true", help="print the merge summary as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        result = merge.merge(
            Path(args.out), [Path(s) for s in args.sources], now_ms=time.time_ns() // 1_000_000
        )
    except merge.MergeError as exc:
        print(f"orderbooks merge: {exc}", file=sys.stderr)
        return exc.code
    except PermissionError as exc:
        print(f"orderbooks merge: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return ExitCode.ENVIRONMENT
    summary = result.to_dict()
    if args.json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(
            f"merged {len(result.sources)} sources into {result.out_dir}: {result.rows_read} rows read, "
            f"{result.states} book states written ({result.observations} observations) in "
            f"{len(result.files)} hourly files; {result.documents} market documents in "
            f"{len(result.market_files)} daily files"
        )
        if result.split_states:
            print(f"{result.split_states} states seen again two hours after their first row: written again")
        for item in result.left_out:
            detail = "; ".join(item["problems"][:3])
            where = f"{item['source']}:{item['path']}"
            print(f"left out {where}: {item['reason']}" + (f" ({detail})" if detail else ""))
    conflicts = result.hash_conflicts + result.outcome_conflicts
    if result.left_out:
        print(
            f"orderbooks merge: {len(result.left_out)} input files left out (damaged, unreadable or not "
            "sealed); the merged folder lacks their rows",
            file=sys.stderr,
        )
    if conflicts:
        print(
            f"orderbooks merge: {result.hash_conflicts} hash conflicts (same token and timestamp, "
            f"different hash) and {result.outcome_conflicts} outcome conflicts; both sides kept, "
            "see --json",
            file=sys.stderr,
        )
    return ExitCode.FAILED if conflicts or result.left_out else ExitCode.OK
