"""Kill campaign: SIGKILL a real `orderbooks collect` at random moments, restart, verify.

    python tools/harness/kill_campaign.py --kills 200 [--seed 7] [--report reports/kill-campaign.json]
    make kill-campaign N=200

Runs the loopback simulator (polysim) in this process and `orderbooks collect`
as a subprocess against it. Each round starts the collector, waits a random
time (covering start-up, recovery and flushes), SIGKILLs it and inspects the
data folder while nothing runs. For a share of the kills (--anchor-rate) the
random wait starts only once the collector has its own .partial open, so kills
during writing happen however slow start-up is on a loaded machine:

* rows "flushed" = rows in sealed files + rows in complete (CRC-checked) gzip
  members of .partial files + the full rows of a member cut after sync flushes
  (what recovery keeps); per file, this number never goes down across the
  campaign (no flushed row lost), and the total never goes down;
* with --torn-tail-rate, some leftover partials get the start of a member
  appended after the kill (what a power loss can leave); recovery must cut it;
* a .partial seen after a kill is later sealed holding exactly the rows that
  were readable in its complete members before the restart, marked
  ``recovered: true`` (or, if the kill hit between manifest and rename, the seal
  is completed with the manifest already written), or quarantined if it had no
  complete member;
* a failure journal seen alone after a kill (the run's first cycles failed
  before any row was written, common on a loaded machine) is tracked like a
  partial of 0 rows: recovery seals that hour as an empty file marked
  ``recovered: true``, so every file verify counts as recovered was seen crashed.

After the last kill one clean run recovers the leftovers and stops by itself,
then `orderbooks verify DIR --json` must exit 0. A JSON summary goes to stdout
(and to --report); the exit status is 0 only if every check held.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from orderbooks.store import gzmembers, manifest, paths
from polysim import start_simulator

ANCHOR_TIMEOUT_S = 120.0  # a generous bound on collector start-up, for a loaded machine
ANCHOR_POLL_S = 0.02


def flushed_rows(data_dir: Path) -> dict[str, dict[str, Any]]:
    """stem -> {state, rows readable behind a CRC, recovered flag} for every data file."""
    found: dict[str, dict[str, Any]] = {}
    for suffix, state in ((paths.DATA_SUFFIX, "sealed"), (paths.PARTIAL_SUFFIX, "partial")):
        for path in paths.iter_files(data_dir, suffix):
            stats, scan = manifest.stats_from_data(path)
            rows = stats.rows
            if state == "partial" and scan.tail_bytes:
                # rows of a member cut after sync flushes are flushed rows too: recovery keeps them
                kept, _used = manifest.salvage_rows(path, scan.good_end)
                rows += kept.count(b"\n")
            entry: dict[str, Any] = {
                "state": state,
                "rows": rows,
                "members": scan.members,
                "tail_bytes": scan.tail_bytes,
                "manifest_beside": paths.manifest_path_for(path).exists(),
            }
            if state == "sealed" and entry["manifest_beside"]:
                recorded = json.loads(paths.manifest_path_for(path).read_text())
                entry["recovered"] = recorded.get("recovered")
                entry["manifest_rows"] = recorded.get("rows")
            found[paths.stem_of(path)] = entry
    for suffix in (paths.PARTIAL_SUFFIX, paths.FAILURES_SUFFIX):
        for path in paths.iter_files(data_dir, suffix, top=paths.QUARANTINE_DIR):
            found.setdefault(paths.stem_of(path), {"state": "quarantined", "rows": 0})
    # A failure journal alone is an hour whose first cycles failed before any row was
    # written: recovery seals it as an empty file marked recovered, so it is tracked too.
    for path in paths.iter_files(data_dir, paths.FAILURES_SUFFIX):
        found.setdefault(paths.stem_of(path), {"state": "journal", "rows": 0})
    return found


def collector_command(
    data_dir: Path, sim: Any, interval: float, duration: float | None, member_cycles: int | None = None
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "orderbooks",
        "collect",
        "--data-dir",
        str(data_dir),
        "--gamma-url",
        sim.gamma_url,
        "--clob-url",
        sim.clob_url,
        "--interval",
        str(interval),
        "--disk-floor-mb",
        "1",
        "--discovery-interval",
        "5",
    ]
    if duration is not None:
        command += ["--duration", str(duration)]
    if member_cycles is not None:
        command += ["--member-cycles", str(member_cycles)]
    return command


def run_campaign(
    kills: int,
    *,
    seed: int = 1,
    work_dir: Path | None = None,
    min_wait: float = 0.05,
    max_wait: float = 2.5,
    interval: float = 0.1,
    torn_tail_rate: float = 0.3,
    anchor_rate: float = 0.5,
    member_cycles: int | None = None,
) -> dict[str, Any]:
    rng = random.Random(seed)
    # a stream of its own: which kills are anchored depends on the seed only, not on
    # how many partials the torn-tail draws met (that depends on the machine's speed)
    anchor_rng = random.Random(f"anchor-{seed}")
    anchored_kills = 0
    own_work_dir = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="kill-campaign-")) if work_dir is None else Path(work_dir)
    data_dir = work / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = work / "collector.log"
    violations: list[str] = []
    waits: list[float] = []
    pending: dict[str, int] = {}  # stem of a partial seen after a kill -> its flushed rows then
    outcome = {"recovered": 0, "completed": 0, "quarantined": 0}
    best: dict[str, int] = {}  # stem -> most flushed rows ever seen
    totals: list[int] = []
    injected: dict[str, int] = {}  # stem -> bytes of torn member appended after a kill
    started = time.monotonic()

    sim = start_simulator(port=0, control_port=0, window_seconds=10, seed=seed)
    try:
        with open(log_path, "ab") as log:
            for kill in range(1, kills + 1):
                before = {paths.stem_of(p) for p in paths.iter_files(data_dir, paths.PARTIAL_SUFFIX)}
                proc = subprocess.Popen(
                    collector_command(data_dir, sim, interval, None, member_cycles),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                anchored = anchor_rng.random() < anchor_rate
                wait = rng.uniform(min_wait, max_wait)
                waits.append(wait)
                if anchored:
                    if _wait_for_own_partial(data_dir, proc, before):
                        anchored_kills += 1
                    else:
                        violations.append(
                            f"kill {kill}: the collector wrote no partial within {ANCHOR_TIMEOUT_S} s"
                        )
                time.sleep(wait)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                _inject_torn_tails(data_dir, rng, torn_tail_rate, injected)
                seen = flushed_rows(data_dir)
                _check_round(
                    kill, seen=seen, pending=pending, outcome=outcome, best=best, violations=violations
                )
                totals.append(sum(entry["rows"] for entry in seen.values()))
                if len(totals) > 1 and totals[-1] < totals[-2]:
                    violations.append(
                        f"kill {kill}: total flushed rows went down {totals[-2]} -> {totals[-1]}"
                    )

            final = subprocess.run(
                collector_command(data_dir, sim, interval, duration=2.0, member_cycles=member_cycles),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )
        if final.returncode != 0:
            violations.append(f"final clean run exited {final.returncode}")
        seen = flushed_rows(data_dir)
        _check_round(kills + 1, seen=seen, pending=pending, outcome=outcome, best=best, violations=violations)
        if pending:
            violations.append(f"partials never sealed or quarantined: {sorted(pending)}")
        verify = subprocess.run(
            [sys.executable, "-m", "orderbooks", "verify", str(data_dir), "--json"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        summary = json.loads(verify.stdout) if verify.stdout.strip() else {}
        if verify.returncode != 0:
            violations.append(
                f"orderbooks verify exited {verify.returncode}: {summary.get('problems', [])[:10]}"
            )
        counts = summary.get("counts", {})
        if counts.get("files_failed", 1) != 0:
            violations.append(f"{counts.get('files_failed')} files fail verify")
        if counts.get("partials_open", 0) + counts.get("partials_leftover", 0):
            violations.append("partials left after the final clean run")
        # Book files only: flushed_rows tracks raw/; the markets/ documents files a kill also
        # leaves are checked by verify (files_failed above), not counted here.
        recovered_files = [
            f
            for f in summary.get("files", [])
            if f["recovered"] and Path(f["path"]).parts[0] == paths.RAW_DIR
        ]
        dropped = [
            json.loads((data_dir / paths.manifest_path_for(Path(f["path"]))).read_text())["bytes_dropped"]
            for f in recovered_files
        ]
        for f in recovered_files:
            man = json.loads((data_dir / paths.manifest_path_for(Path(f["path"]))).read_text())
            stem = paths.stem_of(Path(f["path"]))
            if man["bytes_dropped"] < injected.get(stem, 0):
                violations.append(
                    f"{stem}: {injected[stem]} torn bytes injected, {man['bytes_dropped']} dropped"
                )
        if len(recovered_files) != outcome["recovered"]:
            violations.append(
                f"{outcome['recovered']} partials recovered but {len(recovered_files)} files marked recovered"
            )
    finally:
        sim.stop()

    result = {
        "kind": "orderbooks.kill_campaign",
        "ok": not violations,
        "kills": kills,
        "seed": seed,
        "wait_s": {"min": round(min(waits, default=0), 3), "max": round(max(waits, default=0), 3)},
        "interval_s": interval,
        "duration_s": round(time.monotonic() - started, 1),
        "kills_anchored": anchored_kills,
        "member_cycles": member_cycles,
        "partials_recovered": outcome["recovered"],
        "book_files_marked_recovered": len(recovered_files),
        "seals_completed": outcome["completed"],
        "partials_quarantined": outcome["quarantined"],
        "rows_flushed_after_last_kill": totals[-1] if totals else 0,
        "torn_tails_injected": len(injected),
        "files_cut_back": sum(1 for d in dropped if d),
        "bytes_dropped": sum(dropped),
        "verify_exit": verify.returncode,
        "verify_counts": counts,
        "violations": violations,
        "work_dir": None if own_work_dir else str(work),
    }
    if own_work_dir and not violations:
        shutil.rmtree(work, ignore_errors=True)
    elif own_work_dir:
        result["work_dir"] = str(work)  # kept for inspection
    return result


def _wait_for_own_partial(data_dir: Path, proc: subprocess.Popen[bytes], before: set[str]) -> bool:
    """Block until *proc* has a .partial not among *before* open (False: it exited or never did).

    Anchored kills start their random wait here rather than at the process
    start, so a loaded machine (slow interpreter start-up) still gets kills
    that land while a file is being written.
    """
    deadline = time.monotonic() + ANCHOR_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        if any(paths.stem_of(p) not in before for p in paths.iter_files(data_dir, paths.PARTIAL_SUFFIX)):
            return True
        time.sleep(ANCHOR_POLL_S)
    return False


def _inject_torn_tails(data_dir: Path, rng: random.Random, rate: float, injected: dict[str, int]) -> None:
    """Power-loss model: the start of a member that was being written (never fsynced) reached the disk."""
    for partial in paths.iter_files(data_dir, paths.PARTIAL_SUFFIX):
        if rng.random() >= rate:
            continue
        member = gzmembers.compress_member(rng.randbytes(2000))
        torn = member[: rng.randrange(1, len(member))]  # any proper prefix: never a complete member
        with open(partial, "ab") as handle:
            handle.write(torn)
        stem = paths.stem_of(partial)
        injected[stem] = injected.get(stem, 0) + len(torn)


def _check_round(
    label: int,
    *,
    seen: dict[str, dict[str, Any]],
    pending: dict[str, int],
    outcome: dict[str, int],
    best: dict[str, int],
    violations: list[str],
) -> None:
    for stem, rows_before in list(pending.items()):
        entry = seen.get(stem)
        if entry is None:
            violations.append(f"round {label}: {stem} vanished")
            pending.pop(stem)
        elif entry["state"] == "sealed":
            pending.pop(stem)
            if entry["rows"] != rows_before:
                violations.append(
                    f"round {label}: {stem} sealed with {entry['rows']} rows, {rows_before} flushed"
                )
            if entry.get("recovered") is True:
                outcome["recovered"] += 1
            elif entry.get("manifest_beside"):
                outcome["completed"] += 1  # killed between manifest write and rename
            else:
                violations.append(f"round {label}: {stem} sealed without manifest")
        elif entry["state"] == "quarantined":
            pending.pop(stem)
            outcome["quarantined"] += 1
            if rows_before:
                violations.append(f"round {label}: {stem} quarantined but had {rows_before} flushed rows")
    for stem, entry in seen.items():
        if entry["rows"] < best.get(stem, 0):
            violations.append(f"round {label}: {stem} lost rows {best[stem]} -> {entry['rows']}")
        best[stem] = max(best.get(stem, 0), entry["rows"])
        if entry["state"] == "sealed" and entry.get("manifest_rows") not in (None, entry["rows"]):
            violations.append(
                f"round {label}: {stem} manifest rows {entry['manifest_rows']} != {entry['rows']}"
            )
        if entry["state"] in ("partial", "journal") and stem not in pending:
            pending[stem] = entry["rows"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=25, help="number of SIGKILLs (default 25)")
    parser.add_argument(
        "--seed", type=int, default=1, help="random seed for the kill times and the simulator"
    )
    parser.add_argument("--min-wait", type=float, default=0.05, help="shortest life of a collector (s)")
    parser.add_argument("--max-wait", type=float, default=2.5, help="longest life of a collector (s)")
    parser.add_argument("--interval", type=float, default=0.1, help="collector poll interval (s)")
    parser.add_argument(
        "--torn-tail-rate",
        type=float,
        default=0.3,
        help="share of leftover partials that get a torn member appended after a kill (power-loss model)",
    )
    parser.add_argument(
        "--anchor-rate",
        type=float,
        default=0.5,
        help="share of kills whose random wait starts once the collector has its own partial open",
    )
    parser.add_argument(
        "--member-cycles",
        type=int,
        default=None,
        help="collector --member-cycles (default: the collector's; 0: one file per hour)",
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the data and logs here")
    parser.add_argument("--report", type=Path, default=None, help="also write the JSON summary here")
    options = vars(parser.parse_args(argv))
    report = options.pop("report")  # every other option is a keyword of run_campaign
    result = run_campaign(**options)
    text = json.dumps(result, indent=2)
    print(text)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
