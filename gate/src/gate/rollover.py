"""Wait until the host's collector has collected through a market rollover.

    python -m gate.rollover --inventory .vps/rehearsal/inventory.ini --deadline 120

The collector polls the current window of each series and the next upcoming
one, so a series shows two markets from the start; a third market in its rows
means a new window was discovered and polled: at least one rollover. Exit 0
when seen, 1 at the deadline (the last observation is printed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from gate import layout
from gate.evidence import GateEvidence, Pending, PollTimeout
from gate.verify_host import bin_path, testinfra_host

MARKETS_AFTER_ROLLOVER = 3
WHAT = "a market rollover in the collected rows"


def markets_per_series(found: dict) -> dict[str, int]:
    return {series: len(info["slugs"]) for series, info in found["series"].items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rollover", description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--host", default=None, help="inventory host (default: the only one)")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds (default 120)")
    args = parser.parse_args(argv)
    host_name = args.host or inventory_single_host(args.inventory)
    ev = GateEvidence("rehearsal", testinfra_host(args.inventory, host_name))
    data_dir = layout.resolve(args.inventory, host_name).data_dir

    def check() -> object:
        found = ev.probe("rows", data_dir, "--files", "6")
        counts = markets_per_series(found)
        if counts and max(counts.values()) >= MARKETS_AFTER_ROLLOVER:
            return counts
        return Pending(f"markets per series so far: {counts or 'no rows yet'}")

    try:
        counts = ev.poll(
            "a market rollover in the collected rows", check, deadline_s=args.deadline, every_s=2
        )
    except PollTimeout as exc:
        print(f"rollover: {exc}", file=sys.stderr)
        return 1
    print(f"rollover: seen after {ev.facts['waits'][WHAT]} s; markets per series: {counts}")
    return 0


def inventory_single_host(inventory: str) -> str:
    listing = subprocess.run(
        [bin_path("ansible-inventory"), "-i", inventory, "--list"], capture_output=True, text=True, check=True
    )
    hosts = json.loads(listing.stdout).get("orderbooks", {}).get("hosts", [])
    if len(hosts) != 1:
        raise SystemExit(f"rollover: expected one host in group orderbooks, found {hosts}")
    return hosts[0]


if __name__ == "__main__":
    sys.exit(main())
