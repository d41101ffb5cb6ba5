"""Is the collector healthy? Answered from the data folder only.

Reads the collector's state file (DATA_DIR/state/collector.json), the sealed
manifests, the upload ledger and the free space; works for any user who can
read the data folder. Prints a summary (or JSON with --json: ``healthy``,
``alarms`` [{name, since, detail}] and the figures). Exit 0 when healthy,
1 when an alarm is active, 3 when the folder cannot be read or is not a data
folder (none of raw/, markets/, runs/, state/, uploads/, quarantine/ in it;
a just-started collector's folder, with runs/ and state/, is one). The alarms and
their thresholds: docs/operations.md.

Examples:
  orderbooks status
  sudo -u orderbooks orderbooks status --data-dir /var/lib/orderbooks --json
"""

from __future__ import annotations

import argparse
import sys

import orjson

from orderbooks.commands._data_folder import add_data_folder_arguments, cannot_read, data_folder
from orderbooks.exitcodes import ExitCode
from orderbooks.health.status import Status, evaluate

HELP = "is the collector healthy? alarms and figures from the data folder (exit 1: alarm)"
#: What the environment may set: the data folder only. What this command
#: measures or prints is never changed by a collector setting.
FROM_ENVIRONMENT = ("--data-dir",)


def configure(parser: argparse.ArgumentParser) -> None:
    add_data_folder_arguments(parser, purpose="report on")
    parser.add_argument("--json", action="store_true", help="print JSON: healthy, alarms and the figures")


def run(args: argparse.Namespace) -> int:
    data_dir = data_folder(args, "status")
    if data_dir is None:
        return ExitCode.ENVIRONMENT
    try:
        result = evaluate(data_dir)
    except PermissionError as exc:
        return cannot_read("status", exc)
    if args.json:
        sys.stdout.write(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(summary(result))
    return ExitCode.OK if result.healthy else ExitCode.FAILED


def summary(result: Status) -> str:
    report = result.report
    out = [
        f"{'HEALTHY' if result.healthy else 'ALARM'}  data folder {report['data_dir']}  at {report['now']}"
    ]
    for alarm in result.alarms:
        out.append(f"  alarm {alarm['name']}: {alarm['detail']} (since {alarm['since'] or 'unknown'})")
    collector = report.get("collector")
    if collector:
        out.append(
            f"collector: pid {collector['pid']}, run {collector['run_id']}, started {collector['started']}, "
            f"restarts in 24 h: {collector['restarts_24h']}"
        )
        out.append(
            f"rows written: last {_ago(collector['last_row_age_s'])}, "
            f"{collector['rows_last_hour']} in the last hour, "
            f"{collector.get('rows_lost_last_hour', 0)} lost in the last hour; "
            f"last cycle {_ago(collector['last_cycle_age_s'])}"
        )
        for sid, entry in collector["series"].items():
            out.append(
                f"series {sid}: {entry['markets']} markets, {entry['tokens']} tokens, "
                f"last discovery {_ago(entry['last_discovery_age_s'])}"
            )
        failures = ", ".join(f"{k} {v}" for k, v in collector["failures_last_hour"].items()) or "none"
        out.append(f"failures in the last hour: {failures}")
    disk = report.get("disk", {})
    if "free_bytes" in disk:
        out.append(
            f"disk: {disk['free_bytes'] // 2**20} MiB free, floor {disk['floor_bytes'] // 2**20} MiB, "
            f"days to the floor: {disk['days_to_floor']}"
        )
    offload = report.get("offload", {})
    out.append(
        f"offload: {offload.get('unverified_files')} sealed files not verified on the remote, "
        f"oldest {offload.get('oldest_unverified_age_s')} s"
    )
    clock = report.get("clock", {})
    out.append(
        f"clock synchronised: {clock.get('synchronized')} ({clock.get('source')}) "
        f"{clock.get('note', '')}".rstrip()
    )
    return "\n".join(out) + "\n"


def _ago(age_s: float | None) -> str:
    """``12.5 s ago``, or ``never`` when there is no such moment."""
    return "never" if age_s is None else f"{age_s} s ago"
