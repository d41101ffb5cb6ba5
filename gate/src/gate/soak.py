"""Whether the host's own data shows a completed 24-hour soak (pure, no I/O).

A soak is complete when each of the last *hours* complete UTC hours (the hours
before the current one) is covered by rows for at least *min_hour_coverage*
of its length. Coverage comes from the sealed files' manifests (first and last
``recv_ms`` of each file) and the open partial; files of one hour are merged.
"""

from __future__ import annotations

from collections.abc import Iterable

HOUR_MS = 3_600_000


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping union of [start, end] spans (end >= start)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((int(a), int(b)) for a, b in spans if b >= a):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def hour_coverage(spans: Iterable[tuple[int, int]], hour_start_ms: int) -> float:
    """Fraction of the hour starting at *hour_start_ms* covered by *spans*."""
    hour_end = hour_start_ms + HOUR_MS
    covered = 0
    for start, end in merge_spans(spans):
        lo, hi = max(start, hour_start_ms), min(end, hour_end)
        if hi > lo:
            covered += hi - lo
    return covered / HOUR_MS


def soak_status(
    spans: Iterable[tuple[int, int]],
    now_ms: int,
    *,
    hours: int = 24,
    min_hour_coverage: float = 0.9,
) -> dict:
    """{completed, hours_required, hours_covered, weakest_hour_coverage, detail}."""
    spans = list(spans)
    current_hour = now_ms - now_ms % HOUR_MS
    coverages = [hour_coverage(spans, current_hour - k * HOUR_MS) for k in range(hours, 0, -1)]
    covered = sum(1 for c in coverages if c >= min_hour_coverage)
    weakest = min(coverages) if coverages else 0.0
    completed = covered == hours
    detail = (
        f"{covered}/{hours} complete UTC hours before now have rows for at least "
        f"{min_hour_coverage:.0%} of the hour (weakest hour {weakest:.1%})"
    )
    return {
        "completed": completed,
        "hours_required": hours,
        "hours_covered": covered,
        "min_hour_coverage": min_hour_coverage,
        "weakest_hour_coverage": round(weakest, 4),
        "detail": detail,
    }


SOAK_SECONDS = 86_400


def soak_report_status(document: object, host: str | None = None) -> dict:
    """Whether a soak report (``make soak INVENTORY=...``'s ``soak.json``) shows a
    completed 24-hour soak on *host*: kind ``orderbooks.soak``, not the local
    mode (that soaks this machine, not the host), soaked on the same host (its
    ``host.name`` is the inventory name of the host under test), verdict PASS,
    at least 24 h."""
    if not isinstance(document, dict) or document.get("kind") != "orderbooks.soak":
        return {"completed": False, "detail": "not an orderbooks soak report"}
    mode = document.get("mode")
    verdict = document.get("verdict")
    duration = document.get("duration_s") or 0
    soaked = document.get("host")
    soaked_name = soaked.get("name") if isinstance(soaked, dict) else None
    problems = []
    if mode == "local":
        problems.append("a local soak (on the controller, not the host)")
    elif host is not None and soaked_name != host:
        problems.append(f"soaked host {soaked_name!r}, not {host!r}")
    if verdict != "PASS":
        problems.append(f"verdict {verdict}")
    if not isinstance(duration, (int, float)) or duration < SOAK_SECONDS:
        problems.append(f"{duration} s < {SOAK_SECONDS} s")
    detail = f"soak report: mode {mode}, verdict {verdict}, {duration} s"
    if problems:
        detail += " -- does not count: " + "; ".join(problems)
    return {"completed": not problems, "detail": detail}
