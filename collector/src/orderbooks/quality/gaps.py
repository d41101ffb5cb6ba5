"""Gaps of ``orderbooks quality``: a market's gaps from its tokens' gaps, and their causes.

Per token, a gap is two consecutive rows more than one cycle apart (analysis.py), or
the part of the window before its first or after its last row (``edge_gaps``). A
market's gaps are its tokens' gaps merged (``merge_token_gaps``). A gap's cause is
the failure class whose records overlap it most often, ignoring the classes that
only follow from another failure (``CONSEQUENCES``) when anything else overlaps;
``not_running`` for a gap between two runs that nothing explains,
``market_not_collected`` for a scheduled window no row covers, ``unexplained``
otherwise.
"""

from __future__ import annotations

import bisect
from collections import Counter
from typing import Any

from orderbooks.quality.analysis import MISSING_MARKET, TOKENS_PER_MARKET, Market, TokenGap, TokenState
from orderbooks.quality.reading import Cause
from orderbooks.quality.units import ms_to_iso

#: Failure classes that follow from another failure in the same cycle (a timed-out
#: POST /books leaves books missing, a slow cycle overruns): a gap's cause is one of
#: these only when nothing else overlaps it.
CONSEQUENCES = frozenset({"missing_book", "overrun"})

MarketGaps = dict[tuple[str, str], list[TokenGap]]


def edge_gaps(
    market: Market,
    tokens: dict[str, TokenState],
    *,
    start: int,
    end: int,
    interval_ms: float,
    out: MarketGaps,
) -> None:
    """Gaps before a token's first row and after its last one, inside [start, end), added to *out*."""
    if end <= start:
        return
    slack = 1.5 * interval_ms
    for token in sorted(market.tokens):
        state = tokens.get(token)
        if state is None:
            continue
        if state.first_recv_ms - start > slack:
            missed = round((state.first_recv_ms - start) / interval_ms)
            out[state.market].append((start, state.first_recv_ms, missed, False, token))
        if end - state.recv_ms > slack and state.recv_ms < end:
            missed = round((end - state.recv_ms) / interval_ms)
            out[state.market].append((state.recv_ms, end, missed, False, token))


def merge_token_gaps(
    gaps: list[TokenGap],
) -> list[tuple[int, int, int, bool, set[str]]]:
    """Merge overlapping per-token gaps of one market.

    Returns market gaps as (start, end, missed, across_runs, tokens).
    """
    merged: list[tuple[int, int, int, bool, set[str]]] = []
    for start, end, missed, run_change, token in sorted(gaps):
        if merged and start < merged[-1][1]:
            m_start, m_end, m_missed, m_change, tokens = merged[-1]
            if token:
                tokens.add(token)
            merged[-1] = (m_start, max(m_end, end), max(m_missed, missed), m_change or run_change, tokens)
        else:
            merged.append((start, end, missed, run_change, {token} if token else set()))
    return merged


def gap_rows(token_gaps: MarketGaps, causes: list[Cause], interval_ms: float) -> list[dict[str, Any]]:
    """The report's gap rows: each market's merged gaps with their cause."""
    causes = sorted(causes, key=lambda c: c.start_ms)
    cause_starts = [c.start_ms for c in causes]
    longest_cause = max((c.end_ms - c.start_ms for c in causes), default=0)
    rows: list[dict[str, Any]] = []
    for (series, slug), gaps in token_gaps.items():
        for start, end, missed, run_change, tokens in merge_token_gaps(gaps):
            lo, hi = start - interval_ms, end + interval_ms
            first = bisect.bisect_left(cause_starts, lo - longest_cause)
            counts: Counter[str] = Counter()
            for cause in causes[first:]:
                if cause.start_ms > hi:
                    break
                if cause.end_ms < lo:
                    continue
                if cause.series is not None and cause.series != series:
                    continue
                if cause.token_id is not None and tokens and cause.token_id not in tokens:
                    continue
                counts[cause.cause] += cause.count
            rows.append(
                {
                    "series": series,
                    "slug": slug,
                    "start_ms": start,
                    "end_ms": end,
                    "start": ms_to_iso(start),
                    "end": ms_to_iso(end),
                    "duration_s": round((end - start) / 1000, 3),
                    "missed_cycles": missed,
                    "tokens": len(tokens) if tokens else TOKENS_PER_MARKET,
                    "across_runs": run_change,
                    "cause": cause_name(counts, run_change, slug),
                    "causes": dict(counts.most_common()),
                }
            )
    return rows


def cause_name(counts: Counter[str], run_change: bool, slug: str) -> str:
    """The cause of a gap the failure classes *counts* overlap."""
    primary = Counter({k: v for k, v in counts.items() if k not in CONSEQUENCES})
    if counts:
        return (primary or counts).most_common(1)[0][0]
    if run_change:
        return "not_running"
    if slug == MISSING_MARKET:
        return "market_not_collected"
    return "unexplained"
