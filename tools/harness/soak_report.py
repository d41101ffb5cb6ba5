"""The soak's judgement and report set, shared by both modes.

``judge_and_write`` takes the data folder on this machine (the local soak's, or
the copy fetched from the host), the injected fault windows and what the run
noticed; it runs ``orderbooks verify --json`` and ``orderbooks.quality.analyze``
(fault windows excluded), asks ``soak_verdict.decide`` for the verdict and
writes ``reports/soak-<stamp>/{soak.json,soak.md,quality.json,verify.json,quality.png}``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderbooks import quality
from orderbooks.quality import plot, units
from orderbooks.store import paths

from harness.soak_schedule import EXCLUDE_AFTER_MS, EXCLUDE_BEFORE_MS, INTERVAL_S, exclusion_windows
from harness.soak_verdict import EXPECTED_CAUSES, FaultWindow, decide


@dataclass
class SoakFolders:
    """What both modes' soak runs share: the plan's length and seed, and where
    the run keeps its files. Subclasses add their own fields (keyword use)."""

    duration_s: float
    rounds: int
    seed: int
    stamp: str
    cache_dir: Path
    reports_dir: Path

    @property
    def work_dir(self) -> Path:
        return self.cache_dir / self.stamp

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def report_dir(self) -> Path:
        return self.reports_dir / f"soak-{self.stamp}"

    def run_header(self, mode: str, started_ms: int, finished_ms: int) -> dict[str, Any]:
        """The manifest fields both modes share (subclasses carry ``duration_s``, ``rounds``, ``seed``)."""
        return {
            "mode": mode,
            "stamp": self.stamp,
            "started_at": iso(started_ms),
            "finished_at": iso(finished_ms),
            "duration_s": self.duration_s,
            "rounds": self.rounds,
            "seed": self.seed,
        }

    def write_report(self, played: Any, header: dict[str, Any]) -> dict[str, Any]:
        """Judge the copied data and write the report files (subclasses carry
        ``collector_bin``, ``problems`` and ``commands``)."""
        return judge_and_write(
            out_dir=self.report_dir, data_dir=self.data_dir, collector_bin=self.collector_bin,
            faults=played.faults, fault_details=played.details, problems=self.problems,
            commands=self.commands, header=header,
        )  # fmt: skip


def disk_pressure_facts(disk: Any, floor_mb: int, huge_floor_mb: int) -> dict[str, Any]:
    """The manifest's ``disk_pressure`` section, from either mode's disk-pressure object."""
    ballast = disk.method == "tmpfs_ballast"
    return {
        "method": disk.method,
        "note": disk.note,
        "tmpfs_size_mb": disk.size_mb if ballast else None,
        "floor_mb": floor_mb if ballast else huge_floor_mb,
        "ballast_bytes": disk.ballast_bytes,
        "free_bytes_during": disk.free_during,
    }


SOAK_SCHEMA = 1


def iso(epoch_ms: int | None) -> str | None:
    return units.ms_to_iso(epoch_ms)


def manifest_records(data_dir: Path) -> list[dict[str, Any]]:
    """Every failure record and gap of every file manifest: ``{start_ms, end_ms, error}``."""
    out: list[dict[str, Any]] = []
    for path in sorted((data_dir / paths.RAW_DIR).rglob("*.manifest.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for rec in data.get("failures") or []:
            if isinstance(rec, dict) and isinstance(rec.get("t_ms"), int):
                out.append({"start_ms": rec["t_ms"], "end_ms": rec["t_ms"], "error": rec.get("error")})
        for gap in data.get("gaps") or []:
            if isinstance(gap, dict) and isinstance(gap.get("start_ms"), int):
                end = gap.get("end_ms") if isinstance(gap.get("end_ms"), int) else gap["start_ms"]
                out.append({"start_ms": gap["start_ms"], "end_ms": end, "error": gap.get("cause")})
    return out


def parse_verify_output(returncode: int, stdout: str) -> tuple[int, dict[str, Any] | None]:
    """``orderbooks verify --json``'s status and report (None when it printed no JSON object)."""
    try:
        report = json.loads(stdout)
    except ValueError:
        return returncode, None
    return returncode, report if isinstance(report, dict) else None


def run_verify(collector_bin: Path, data_dir: Path) -> tuple[list[str], int, dict[str, Any] | None]:
    argv = [str(collector_bin), "verify", str(data_dir), "--json"]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (argv, *parse_verify_output(result.returncode, result.stdout))


def verify_summary(verify_rc: int | None, verify: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "exit": verify_rc,
        "ok": None if verify is None else verify.get("ok"),
        "counts": None if verify is None else verify.get("counts"),
        "problems": None if verify is None else list(verify.get("problems") or [])[:20],
    }


def longest_gap_s(fault: Mapping[str, Any], gaps: Sequence[Mapping[str, Any]], slack_ms: int) -> float | None:
    """The longest quality gap overlapping a fault's window (with the verdict's slack), in seconds."""
    lo, hi = int(fault["start_ms"]) - slack_ms, int(fault["end_ms"]) + slack_ms
    spans = [int(g["end_ms"]) - int(g["start_ms"]) for g in gaps if g["start_ms"] <= hi and g["end_ms"] >= lo]
    return round(max(spans) / 1000, 3) if spans else None


def judge_and_write(
    *,
    out_dir: Path,
    data_dir: Path,
    collector_bin: Path,
    faults: Sequence[FaultWindow],
    fault_details: Sequence[Mapping[str, Any]],
    problems: list[str],
    commands: list[str],
    header: Mapping[str, Any],
) -> dict[str, Any]:
    """Verify, analyse, decide, write the report set; return the manifest (``soak.json``).

    *header* holds the mode's own keys (``mode``, ``stamp``, times, ``collector``,
    ``simulator``, ``disk_pressure``, and in inventory mode ``inventory``/``host``);
    they go after ``verdict``/``reasons`` in the manifest, in the given order.
    """
    argv, verify_rc, verify = run_verify(collector_bin, data_dir)
    commands.append(" ".join(argv))
    if verify is None:
        problems.append(f"orderbooks verify printed no JSON (status {verify_rc})")
    exclude = exclusion_windows(list(faults))
    report = quality.analyze(data_dir, interval_s=INTERVAL_S, exclude=exclude)
    records = manifest_records(data_dir)
    decision = decide(faults=faults, verify=verify, quality=report, records=records, run_problems=problems)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "quality.json").write_bytes(json.dumps(report, indent=1).encode())
    (out_dir / "verify.json").write_text(json.dumps(verify, indent=1) if verify is not None else "null")
    png: Path | None = out_dir / "quality.png"
    try:
        plot.render(report, png)
    except RuntimeError as exc:
        problems.append(f"no PNG: {exc}")
        png = None
    gaps = list(report.get("gaps") or [])
    for item, detail in zip(decision["faults"], fault_details, strict=True):
        item["start"], item["end"] = iso(item["start_ms"]), iso(item["end_ms"])
        item["longest_gap_s"] = longest_gap_s(item, gaps, 5_000)
        if detail:
            item["detail"] = dict(detail)
    totals = report["totals"]
    manifest: dict[str, Any] = {
        "schema": SOAK_SCHEMA,
        "kind": "orderbooks.soak",
        "mode": header["mode"],
        "stamp": header["stamp"],
        "verdict": decision["verdict"],
        "reasons": decision["reasons"],
    }
    manifest.update({k: v for k, v in header.items() if k not in manifest})
    manifest.update(
        {
            "interval_s": INTERVAL_S,
            "data_dir": str(data_dir),
            "faults": decision["faults"],
            "expected_causes": {k: list(v) for k, v in EXPECTED_CAUSES.items()},
            "excluded": [{"start_ms": a, "end_ms": b} for a, b in exclude],
            "exclude_margin_ms": {"before": EXCLUDE_BEFORE_MS, "after": EXCLUDE_AFTER_MS},
            "coverage_pct": decision["coverage_pct"],
            "min_coverage_pct": decision["min_coverage_pct"],
            "verify": verify_summary(verify_rc, verify),
            "quality": {
                "span": report["span"],
                "files": report["files"],
                "rows": totals.get("rows"),
                "expected_cycles": totals.get("expected_cycles"),
                "observed_cycles": totals.get("observed_cycles"),
                "gaps": totals.get("gaps"),
                "gap_seconds": totals.get("gap_seconds"),
                "gaps_by_cause": totals.get("gaps_by_cause"),
                "failures_by_class": report["failures_by_class"],
                "latency_ms": totals.get("latency_ms"),
                "lateness_ms": totals.get("lateness_ms"),
                "problems": report["problems"],
            },
            "commands": commands,
            "files": {
                "manifest": str(out_dir / "soak.json"),
                "summary": str(out_dir / "soak.md"),
                "quality_json": str(out_dir / "quality.json"),
                "verify_json": str(out_dir / "verify.json"),
                "png": str(png) if png else None,
            },
        }
    )
    (out_dir / "soak.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (out_dir / "soak.md").write_text(render_summary(manifest))
    return manifest


def render_summary(manifest: Mapping[str, Any]) -> str:
    """The short human summary written next to soak.json."""
    lines = [
        f"# Soak {manifest['stamp']}: {manifest['verdict']}",
        "",
        f"- mode: {manifest['mode']}; {manifest['duration_s']:g} s from {manifest['started_at']} "
        f"to {manifest['finished_at']}; interval {manifest['interval_s']:g} s; seed {manifest['seed']}",
    ]
    host = manifest.get("host")
    if host:
        facts = host.get("facts") or {}
        lines.append(
            f"- host: {host.get('name')} (`{manifest.get('inventory')}`): {facts.get('os', '?')}, "
            f"{facts.get('virtualization', '?')}, release {facts.get('release', '?')}; clock offset "
            f"{host.get('clock_offset_ms')} ms; service restored: {host.get('service_restored')}"
        )
    lines += [
        f"- coverage outside the injected faults: {_pct(manifest['coverage_pct'])} "
        f"(PASS needs >= {manifest['min_coverage_pct']} %)",
        f"- verify: exit {manifest['verify']['exit']}, ok {manifest['verify']['ok']}, "
        f"counts {json.dumps(manifest['verify']['counts'])}",
    ]
    if manifest.get("host_verify"):
        hv = manifest["host_verify"]
        lines.append(
            f"- verify on the host: exit {hv['exit']}, ok {hv['ok']}, counts {json.dumps(hv['counts'])}"
        )
    lines += [
        f"- disk pressure: {manifest['disk_pressure']['method']} ({manifest['disk_pressure']['note']})",
        f"- data: `{manifest['data_dir']}`; timeline: `quality.png`",
        "",
        "## Reasons" if manifest["reasons"] else "## Reasons: none",
        *[f"- {r}" for r in manifest["reasons"]],
        "",
        "## Injected faults",
        "",
        "| kind | start | end | expected cause | gaps overlapping | with expected cause "
        "| longest gap | records | visible |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in manifest["faults"]:
        longest = "-" if f.get("longest_gap_s") is None else f"{f['longest_gap_s']:g} s"
        lines.append(
            f"| {f['kind']} | {f['start']} | {f['end']} | {'/'.join(f['expected_causes'])} | "
            f"{f['gaps_overlapping']} | {f['gaps_with_expected_cause']} | {longest} | "
            f"{sum(f['records_with_expected_class'].values())} | "
            f"{'yes' if f['visible'] else ('not required' if not f['gap_required'] else 'NO')} |"
        )
    details = [f for f in manifest["faults"] if f.get("detail")]
    if details:
        lines += ["", "## What the collector's host reported", ""]
        lines += [f"- {f['kind']} at {f['start']}: {json.dumps(f['detail'])}" for f in details]
    lines += [
        "",
        "Re-check the data:",
        "",
        "```sh",
        f".venv/bin/orderbooks verify {manifest['data_dir']}",
        f".venv/bin/orderbooks quality {manifest['data_dir']}",
        "```",
        "",
    ]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} %"
