"""The soak's verdict: PASS or NEEDS_REVIEW with the reasons (pure, no I/O).

``decide()`` takes what the soak injected (fault windows), what ``orderbooks
verify --json`` said, the ``orderbooks.quality.analyze`` report (computed with
the fault windows excluded) and the failure records and gaps read from the
manifests. PASS needs all three of:

* zero corrupted files: verify ran and said ``ok``, and quality found no damaged
  sealed file;
* every injected fault visible: a quality gap overlapping the fault's window
  whose causes include one of the fault's expected classes, or a manifest record
  of such a class inside the window. A clean restart may be seamless (no gap),
  so it is not required to show;
* coverage outside the injected faults of at least ``MIN_COVERAGE_PCT``.

Anything the soak itself noticed (the collector exiting on its own, a fault it
could not inject) is passed in as ``run_problems`` and is a reason too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PASS = "PASS"
NEEDS_REVIEW = "NEEDS_REVIEW"
MIN_COVERAGE_PCT = 99.5
#: How far outside a fault's window a gap or record may lie and still count for it.
SLACK_MS = 5_000

#: Fault kind -> the failure classes (quality gap causes) that show it.
EXPECTED_CAUSES: dict[str, tuple[str, ...]] = {
    "down": ("connect",),
    "429": ("rate_limited",),
    "sigkill": ("restart",),
    "restart": ("not_running",),
    "disk": ("disk_floor",),
}
#: A clean restart (SIGTERM, start) may leave no gap at all.
GAP_OPTIONAL = frozenset({"restart"})


@dataclass(frozen=True)
class FaultWindow:
    """One injected fault: [start_ms, end_ms) on the collector host's clock."""

    kind: str
    start_ms: int
    end_ms: int
    expected_causes: tuple[str, ...] = ()
    gap_required: bool = True

    @classmethod
    def of(cls, kind: str, start_ms: int, end_ms: int) -> FaultWindow:
        """A window of a known kind, with that kind's expected causes."""
        if kind not in EXPECTED_CAUSES:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(EXPECTED_CAUSES)}")
        return cls(kind, int(start_ms), int(end_ms), EXPECTED_CAUSES[kind], kind not in GAP_OPTIONAL)

    def overlaps(self, start_ms: int, end_ms: int, slack_ms: int) -> bool:
        return start_ms <= self.end_ms + slack_ms and end_ms >= self.start_ms - slack_ms


def fault_evidence(
    fault: FaultWindow,
    gaps: Iterable[Mapping[str, Any]],
    records: Iterable[Mapping[str, Any]],
    slack_ms: int = SLACK_MS,
) -> dict[str, Any]:
    """What the data shows of one fault: overlapping gaps, their causes, matching records."""
    expected = set(fault.expected_causes)
    overlapping = [g for g in gaps if fault.overlaps(int(g["start_ms"]), int(g["end_ms"]), slack_ms)]
    causes: Counter[str] = Counter()
    matching_gaps = 0
    for gap in overlapping:
        gap_causes = set(gap.get("causes") or {}) | {str(gap.get("cause"))}
        causes[str(gap.get("cause"))] += 1
        if gap_causes & expected:
            matching_gaps += 1
    matching_records: Counter[str] = Counter()
    for record in records:
        error = str(record.get("error"))
        start = int(record["start_ms"])
        end = int(record.get("end_ms", start))
        if error in expected and fault.overlaps(start, end, slack_ms):
            matching_records[error] += 1
    visible = matching_gaps > 0 or sum(matching_records.values()) > 0
    return {
        "kind": fault.kind,
        "start_ms": fault.start_ms,
        "end_ms": fault.end_ms,
        "expected_causes": list(fault.expected_causes),
        "gap_required": fault.gap_required,
        "gaps_overlapping": len(overlapping),
        "gaps_with_expected_cause": matching_gaps,
        "gap_causes": dict(causes.most_common()),
        "records_with_expected_class": dict(matching_records),
        "visible": visible,
        "ok": visible or not fault.gap_required,
    }


def corruption_reasons(verify: Mapping[str, Any] | None, quality: Mapping[str, Any]) -> list[str]:
    """Reasons to doubt the files: verify missing or not ok, damaged sealed files."""
    reasons: list[str] = []
    if verify is None:
        reasons.append("orderbooks verify produced no report")
    elif not verify.get("ok"):
        counts = verify.get("counts") or {}
        problems = list(verify.get("problems") or [])
        detail = "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
        reasons.append(
            f"orderbooks verify failed: {counts.get('files_failed', '?')} of {counts.get('files', '?')} "
            f"sealed files failed" + (f": {detail}" if detail else "")
        )
    damaged = int((quality.get("files") or {}).get("damaged") or 0)
    if damaged:
        reasons.append(f"quality found {damaged} damaged sealed file(s)")
    return reasons


def decide(
    *,
    faults: Sequence[FaultWindow],
    verify: Mapping[str, Any] | None,
    quality: Mapping[str, Any],
    records: Iterable[Mapping[str, Any]] = (),
    run_problems: Iterable[str] = (),
    min_coverage_pct: float = MIN_COVERAGE_PCT,
    slack_ms: int = SLACK_MS,
) -> dict[str, Any]:
    """The soak verdict: ``{"verdict", "reasons", "coverage_pct", "faults"}``."""
    reasons = [f"soak run: {problem}" for problem in run_problems]
    reasons += corruption_reasons(verify, quality)

    records = list(records)
    gaps = list(quality.get("gaps") or [])
    evidence = [fault_evidence(f, gaps, records, slack_ms) for f in faults]
    if not faults:
        reasons.append("no fault was injected")
    for item in evidence:
        if not item["ok"]:
            seen = ", ".join(f"{k} x{v}" for k, v in item["gap_causes"].items()) or "no gap"
            reasons.append(
                f"fault {item['kind']} at {item['start_ms']}..{item['end_ms']} not visible: "
                f"expected cause {'/'.join(item['expected_causes'])}, found {seen}"
            )

    coverage = (quality.get("totals") or {}).get("coverage_pct")
    if coverage is None:
        reasons.append("no coverage figure: no row was collected outside the faults")
    elif coverage < min_coverage_pct:
        reasons.append(f"coverage outside the injected faults {coverage:.2f}% < {min_coverage_pct}%")

    return {
        "verdict": NEEDS_REVIEW if reasons else PASS,
        "reasons": reasons,
        "coverage_pct": coverage,
        "min_coverage_pct": min_coverage_pct,
        "faults": evidence,
    }
