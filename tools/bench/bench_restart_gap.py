"""Restart gap under systemd: time from a SIGKILL of the collector to its next written row.

    python tools/bench/bench_restart_gap.py --inventory .vps/<name>/inventory.ini [--kills 5] [--wait 20]

Runs against a host provisioned by ansible/site.yml (the disposable VPS or any
inventory). Each round, on the host: reads the MainPID of
orderbooks-collector.service, notes the host's clock in ms and sends SIGKILL;
systemd restarts the service (Restart=always). After --wait seconds it finds,
on the host, the earliest row received after the kill (complete gzip members of
the files written since). Gap = that row's recv_ms minus the kill time, both
from the host's clock. Target: at most 2 s (best peer: 5.5-6.9 s).
All commands go through `ansible` with the given inventory.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import figure

SERVICE = "orderbooks-collector.service"
DATA_DIR = "/var/lib/orderbooks"
HOST_PYTHON = "/opt/orderbooks/current/venv/bin/python"

KILL = (
    f"pid=$(systemctl show -p MainPID --value {SERVICE}); "
    '[ "${pid:-0}" -gt 0 ] || { echo "no running collector"; exit 3; }; '
    't=$(date +%s%3N); kill -KILL "$pid"; echo "KILLED $t $pid"'
)

#: Runs on the host with the release's own Python: earliest recv_ms after KILL_MS in files changed since.
PROBE = """
import os, sys, orjson
from orderbooks.store import gzmembers
kill_ms = int(sys.argv[1]); best = None
for root, _dirs, files in os.walk(sys.argv[2] + "/raw"):
    for name in files:
        path = os.path.join(root, name)
        if not name.endswith((".jsonl.gz", ".jsonl.gz.partial")) or os.stat(path).st_mtime * 1000 < kill_ms:
            continue
        with open(path, "rb") as handle:
            try:
                for member in gzmembers.iter_members(handle):
                    for line in gzmembers.split_lines(member.data):
                        recv = orjson.loads(line).get("recv_ms", 0)
                        if recv > kill_ms and (best is None or recv < best):
                            best = recv
            except gzmembers.DamagedTail:
                pass
print("FIRST", best)
"""


def ansible_shell(inventory: Path, host: str, command: str) -> str:
    result = subprocess.run(
        ["ansible", "-i", str(inventory), host, "-o", "-m", "ansible.builtin.shell", "-a", command],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(
            f"ansible failed ({result.returncode}): {result.stdout.strip()} {result.stderr.strip()}"
        )
    return result.stdout


def field(output: str, marker: str) -> list[str]:
    for chunk in output.replace("\\n", "\n").splitlines():
        if marker in chunk:
            return chunk.split(marker, 1)[1].split()
    raise RuntimeError(f"no {marker!r} in: {output.strip()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, required=True)
    parser.add_argument("--host", default="all", help="inventory host or group (default: all; use one host)")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--wait", type=float, default=20.0, help="seconds between a kill and the probe")
    args = parser.parse_args()
    if not args.inventory.is_file():
        print(f"no inventory at {args.inventory}: bring a host up first (make vps-up)", file=sys.stderr)
        return 3
    gaps = []
    for round_no in range(1, args.kills + 1):
        kill_ms, pid = (int(v) for v in field(ansible_shell(args.inventory, args.host, KILL), "KILLED ")[:2])
        time.sleep(args.wait)
        probe = f"{HOST_PYTHON} -c {shlex.quote(PROBE)} {kill_ms} {DATA_DIR}"
        first = field(ansible_shell(args.inventory, args.host, probe), "FIRST ")[0]
        if first == "None":
            print(f"round {round_no}: killed pid {pid}; no row within {args.wait:g} s")
            gaps.append(float("inf"))
            continue
        gap_s = (int(first) - kill_ms) / 1000
        gaps.append(gap_s)
        print(f"round {round_no}: killed pid {pid} at {kill_ms}; next row at {first}: gap {gap_s:.3f} s")
    finite = [g for g in gaps if g != float("inf")]
    figure("restart gap, rounds", len(gaps), "", f"{len(gaps) - len(finite)} without a row")
    if finite:
        figure("restart gap min", f"{min(finite):.3f}", "s")
        figure("restart gap median", f"{statistics.median(finite):.3f}", "s")
        figure("restart gap max", f"{max(finite):.3f}", "s", "target <= 2 s")
    return 0 if finite and len(finite) == len(gaps) and max(finite) <= 2.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
