"""The redundant-capture scenario of the two-VPS rehearsal (`make rehearsal-redundant`).

Every host of the inventory's group collects the same books from the simulator,
each through its own link (``harness.links``). In turn, each host's link is cut
for CUT seconds at a different time of a SECONDS-long window; then every host
seals its data (a clean stop of the collector) and uploads it under its own
prefix, both copies are fetched from the remote with rclone, and the copies are
compared and merged:

    python -m harness.redundant --inventory .rehearsal/inventory.ini \\
        --links http://127.0.0.1:18785 --rclone-config .rehearsal/rclone.conf \\
        --remote standin:orderbooks --work .rehearsal/redundant --seconds 240 --cut-seconds 60

Pass criteria (each printed with its figures; exit 0 only when all hold):

- each host's copy is on the remote under ``REMOTE/<host>`` and holds rows;
- ``orderbooks quality A B --json`` over the window: each source at or under 90 %
  coverage, the union at or over 97 %;
- each source has its own gap over its cut (at least half the cut long) whose
  cause the collector recorded (e.g. ``connect``): the outage is in its data, not hidden;
- ``orderbooks merge --out M A B`` exits 0 (no conflict), ``orderbooks verify M``
  exits 0, M holds each ``(token_id, timestamp, hash)`` once and one observation
  per source row;
- ``orderbooks quality M`` over the window equals the union's within one point.

Writes REPORTS_DIR/redundant-<UTC>/redundant.json. Exit 0 on PASS, 1 on FAIL,
2 on bad usage.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gate.verify_host import bin_path, testinfra_host

from gate import layout

SOURCE_MAX_PCT = 90.0
UNION_MIN_PCT = 97.0
MERGED_TOLERANCE_PCT = 1.0
#: A source's own gap over its cut must be at least this share of the cut.
GAP_SHARE_OF_CUT = 0.5
#: Gap causes of `orderbooks quality` that no failure record of the collector explains.
UNRECORDED_CAUSES = frozenset({"unexplained", "unknown", "not_running", "market_not_collected"})
#: The cuts must take at least this share of the window, or a source's 90 % proves nothing.
MIN_CUT_SHARE = 0.2


def say(message: str) -> None:
    print(f"redundant: {message}", flush=True)


@dataclass(frozen=True)
class Cut:
    host: str
    start_s: float  # from the window's start
    end_s: float


@dataclass(frozen=True)
class Criterion:
    name: str
    passed: bool
    detail: str


def cut_schedule(hosts: list[str], seconds: float, cut_s: float) -> list[Cut]:
    """One cut per host, each in the middle of its own share of the window, so no
    two overlap and each host has time to recover before the next is cut."""
    if not hosts:
        raise ValueError("no host to cut")
    share = seconds / len(hosts)
    if cut_s <= 0 or cut_s >= share:
        raise ValueError(f"a cut of {cut_s} s does not fit {len(hosts)} hosts in {seconds} s")
    if cut_s / seconds < MIN_CUT_SHARE:
        raise ValueError(f"a cut of {cut_s} s is under {MIN_CUT_SHARE:.0%} of {seconds} s")
    lead = (share - cut_s) / 2
    return [Cut(h, i * share + lead, i * share + lead + cut_s) for i, h in enumerate(hosts)]


def overlap_s(gap: dict[str, Any], start_ms: int, end_ms: int) -> float:
    return max(0, min(int(gap["end_ms"]), end_ms) - max(int(gap["start_ms"]), start_ms)) / 1000


def judge(
    *,
    cuts: list[Cut],
    t0_ms: int,
    fetched_rows: dict[str, int],
    report: dict[str, Any],
    merge_rc: int,
    verify_rc: int,
    merged_keys: Counter,
    merged_observations: int,
    merged_report: dict[str, Any],
) -> list[Criterion]:
    """The pass criteria from what was measured (pure)."""
    out: list[Criterion] = []
    hosts = [c.host for c in cuts]
    empty = [h for h in hosts if fetched_rows.get(h, 0) == 0]
    out.append(
        Criterion(
            "every host's copy fetched from its prefix",
            not empty,
            ", ".join(f"{h}: {fetched_rows.get(h, 0)} rows" for h in hosts),
        )
    )
    sources = {s["source"]: s for s in report.get("sources", [])}
    coverage = {h: sources.get(h, {}).get("totals", {}).get("coverage_pct") for h in hosts}
    union = report.get("totals", {}).get("coverage_pct")
    out.append(
        Criterion(
            f"each source at or under {SOURCE_MAX_PCT:g} %",
            all(isinstance(c, int | float) and c <= SOURCE_MAX_PCT for c in coverage.values()),
            ", ".join(f"{h}: {coverage[h]} %" for h in hosts),
        )
    )
    out.append(
        Criterion(
            f"the union at or over {UNION_MIN_PCT:g} %",
            isinstance(union, int | float) and union >= UNION_MIN_PCT,
            f"union: {union} %",
        )
    )
    for cut in cuts:
        start_ms, end_ms = t0_ms + int(cut.start_s * 1000), t0_ms + int(cut.end_s * 1000)
        gaps = sources.get(cut.host, {}).get("gaps", [])
        longest = max((overlap_s(g, start_ms, end_ms) for g in gaps), default=0.0)
        causes = sorted({g.get("cause", "?") for g in gaps if overlap_s(g, start_ms, end_ms) > 0})
        needed = GAP_SHARE_OF_CUT * (cut.end_s - cut.start_s)
        out.append(
            Criterion(
                f"{cut.host}'s own data shows its cut, with a recorded cause",
                longest >= needed and bool(set(causes) - UNRECORDED_CAUSES),
                f"longest gap over the cut {longest:.1f} s (need {needed:.1f} s), causes {causes}",
            )
        )
    out.append(Criterion("orderbooks merge exits 0 (no conflict)", merge_rc == 0, f"exit {merge_rc}"))
    out.append(
        Criterion("orderbooks verify of the merged folder exits 0", verify_rc == 0, f"exit {verify_rc}")
    )
    repeated = sum(1 for n in merged_keys.values() if n > 1)
    out.append(
        Criterion(
            "each (token_id, timestamp, hash) once in the merged folder",
            bool(merged_keys) and repeated == 0,
            f"{len(merged_keys)} states, {repeated} repeated",
        )
    )
    source_rows = sum(fetched_rows.values())
    out.append(
        Criterion(
            "one observation per source row",
            merged_observations == source_rows,
            f"{merged_observations} observations, {source_rows} source rows",
        )
    )
    merged = merged_report.get("totals", {}).get("coverage_pct")
    out.append(
        Criterion(
            f"the merged folder's coverage equals the union's within {MERGED_TOLERANCE_PCT:g} point",
            isinstance(merged, int | float)
            and isinstance(union, int | float)
            and abs(merged - union) <= MERGED_TOLERANCE_PCT,
            f"merged {merged} %, union {union} %",
        )
    )
    return out


# ---------------------------------------------------------------- the steps


def rows_of(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((folder / "raw").rglob("*.jsonl.gz")):
        with gzip.open(path, "rt") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    return rows


def run(argv: list[str], *, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)


def inventory_hosts(inventory: str) -> list[str]:
    listing = run([bin_path("ansible-inventory"), "-i", inventory, "--list"])
    if listing.returncode != 0:
        raise SystemExit(f"redundant: ansible-inventory failed: {listing.stderr.strip()[-300:]}")
    return list(json.loads(listing.stdout).get("orderbooks", {}).get("hosts", []))


def link_call(base: str, method: str, path: str) -> dict[str, Any]:
    request = urllib.request.Request(base.rstrip("/") + path, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def iso(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def run_cuts(links: str, cuts: list[Cut], t0: float, seconds: float) -> list[dict[str, Any]]:
    """Cut and restore each host's link on the schedule (always restored); the
    cuts as the links recorded them."""

    def until(offset_s: float) -> None:
        time.sleep(max(0.0, t0 + offset_s - time.time()))

    try:
        for cut in cuts:
            until(cut.start_s)
            link_call(links, "POST", f"/cut/{cut.host}")
            say(f"cut {cut.host} off the API for {cut.end_s - cut.start_s:g} s")
            until(cut.end_s)
            link_call(links, "POST", f"/restore/{cut.host}")
            say(f"restored {cut.host}")
        until(seconds)
    finally:
        for cut in cuts:
            link_call(links, "POST", f"/restore/{cut.host}")
    state = link_call(links, "GET", "/links")
    return [dict(host=c.host, **state[c.host]["cuts"][-1]) for c in cuts]


def seal_and_upload(inventory: str, host_name: str) -> dict[str, Any]:
    """Clean stop (seals the open file), one upload run, collector started again."""
    host = testinfra_host(inventory, host_name)
    where = layout.resolve(inventory, host_name)
    stopped = host.run(f"systemctl stop {where.collector_unit}")
    upload = host.run(f"systemctl start {where.upload_unit}")
    last = host.run(f"cat {where.data_dir}/uploads/last-upload.json")
    started = host.run(f"systemctl start {where.collector_unit}")
    try:
        result = json.loads(last.stdout).get("result")
    except ValueError:
        result = None
    return {"stop_rc": stopped.rc, "upload_rc": upload.rc, "upload_result": result, "start_rc": started.rc}


def quality_json(dirs: list[Path], since_ms: int, until_ms: int) -> dict[str, Any]:
    done = run(
        [
            bin_path("orderbooks"),
            "quality",
            *map(str, dirs),
            "--json",
            "--since",
            str(since_ms),
            "--until",
            str(until_ms),
        ]
    )
    try:
        return json.loads(done.stdout)
    except ValueError:
        say(f"orderbooks quality gave no JSON (exit {done.returncode}): {done.stderr.strip()[-300:]}")
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="redundant", description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--links", required=True, help="control URL of harness.links")
    parser.add_argument("--rclone-config", required=True)
    parser.add_argument("--remote", required=True, help="REMOTE:PATH the hosts upload under (plus /<host>)")
    parser.add_argument(
        "--work", type=Path, required=True, help="folder for the fetched copies and the merge"
    )
    parser.add_argument("--seconds", type=float, default=240.0, help="the window (default 240)")
    parser.add_argument("--cut-seconds", type=float, default=60.0, help="each host's cut (default 60)")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    hosts = inventory_hosts(args.inventory)
    try:
        cuts = cut_schedule(hosts, args.seconds, args.cut_seconds)
    except ValueError as exc:
        parser.error(str(exc))
    missing = [h for h in hosts if h not in link_call(args.links, "GET", "/links")]
    if len(hosts) < 2 or missing:
        parser.error(f"need two or more hosts, each with a link: hosts {hosts}, without a link {missing}")

    t0 = time.time()
    t0_ms = int(t0 * 1000)
    say(f"window of {args.seconds:g} s from {iso(t0_ms)}; cuts: " + ", ".join(
        f"{c.host} +{c.start_s:g}..{c.end_s:g} s" for c in cuts
    ))  # fmt: skip
    recorded = run_cuts(args.links, cuts, t0, args.seconds)
    t_end_ms = int(time.time() * 1000)

    say("sealing and uploading on every host (clean stop, one upload run, start)")
    uploads = {h: seal_and_upload(args.inventory, h) for h in hosts}
    shutil.rmtree(args.work, ignore_errors=True)
    copies = {h: args.work / h for h in hosts}
    fetched: dict[str, int] = {}
    source_rows: dict[str, list[dict[str, Any]]] = {}
    for host, folder in copies.items():
        remote = f"{args.remote.rstrip('/')}/{host}"
        done = run([bin_path("rclone"), "--config", args.rclone_config, "copy", remote, str(folder)])
        if done.returncode != 0:
            say(f"rclone copy {remote} failed: {done.stderr.strip()[-300:]}")
        source_rows[host] = rows_of(folder) if folder.is_dir() else []
        fetched[host] = len(source_rows[host])
        say(f"fetched {remote} -> {folder}: {fetched[host]} rows")

    report = quality_json(list(copies.values()), t0_ms, t_end_ms)
    merged_dir = args.work / "merged"
    merge = run(
        [bin_path("orderbooks"), "merge", "--out", str(merged_dir), *map(str, copies.values()), "--json"]
    )
    verify = run([bin_path("orderbooks"), "verify", str(merged_dir)])
    merged_rows = rows_of(merged_dir) if merged_dir.is_dir() else []
    keys = Counter((r["token_id"], r["book"]["timestamp"], r["book"]["hash"]) for r in merged_rows)
    observations = sum(len(r.get("observations", [])) for r in merged_rows)
    merged_report = quality_json([merged_dir], t0_ms, t_end_ms)

    criteria = judge(
        cuts=cuts,
        t0_ms=t0_ms,
        fetched_rows=fetched,
        report=report,
        merge_rc=merge.returncode,
        verify_rc=verify.returncode,
        merged_keys=keys,
        merged_observations=observations,
        merged_report=merged_report,
    )
    passed = all(c.passed for c in criteria)
    print_table(cuts, recorded, report, merged_report)
    for criterion in criteria:
        print(f"  {'PASS' if criterion.passed else 'FAIL'}  {criterion.name}: {criterion.detail}")
    folder = args.reports_dir / time.strftime("redundant-%Y%m%dT%H%M%SZ", time.gmtime(t0))
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "kind": "orderbooks.rehearsal.redundant",
        "verdict": "PASS" if passed else "FAIL",
        "window": {"start_ms": t0_ms, "end_ms": t_end_ms, "seconds": args.seconds},
        "cuts": recorded,
        "uploads": uploads,
        "fetched_rows": fetched,
        "coverage": coverage_table(report, merged_report),
        "merge": {"exit": merge.returncode, "summary": _json_or_text(merge.stdout)},
        "verify": {"exit": verify.returncode, "output": verify.stdout[-2000:]},
        "criteria": [asdict(c) for c in criteria],
    }
    (folder / "redundant.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"redundant: {document['verdict']}")
    print(f"redundant report: {folder / 'redundant.json'}")
    return 0 if passed else 1


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text[-2000:]


def coverage_table(report: dict[str, Any], merged_report: dict[str, Any]) -> dict[str, Any]:
    table = {s["source"]: s.get("totals", {}).get("coverage_pct") for s in report.get("sources", [])}
    table["union"] = report.get("totals", {}).get("coverage_pct")
    table["merged"] = merged_report.get("totals", {}).get("coverage_pct")
    return table


def print_table(
    cuts: list[Cut], recorded: list[dict[str, Any]], report: dict[str, Any], merged_report: dict[str, Any]
) -> None:
    table = coverage_table(report, merged_report)
    when = {r["host"]: f"{iso(r['start_ms'])}-{iso(r['end_ms'])}" for r in recorded if r.get("end_ms")}
    print(f"{'copy':<16} {'cut off the API (UTC)':<30} coverage")
    for cut in cuts:
        print(f"{cut.host:<16} {when.get(cut.host, '?'):<30} {table.get(cut.host)} %")
    print(f"{'union':<16} {'':<30} {table['union']} %")
    print(f"{'merged':<16} {'':<30} {table['merged']} %")


if __name__ == "__main__":
    sys.exit(main())
