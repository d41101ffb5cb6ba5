"""UTC times as text: every ISO-8601 string the collector writes, and the one parser it reads with.

All functions take epoch milliseconds (the unit of every ``*_ms`` field) and
use UTC. The forms:

- ``iso_ms``: ``2026-05-12T11:10:00.250Z`` (logs, ledgers, upload/prune results, status);
- ``iso_s``: ``2026-05-12T11:10:00Z`` (whole seconds: Gamma API parameters, market windows);
- ``compact_s``: ``20260512T111000Z`` (the time part of a run id);
- ``date_hour``: ``("2026-05-12", "11")`` (the folders raw/YYYY-MM-DD/HH);
- ``parse_iso_ms``: any of the ISO forms the Gamma API sends -> epoch ms.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any


def _gm(epoch_ms: int) -> time.struct_time:
    return time.gmtime(epoch_ms // 1000)


def iso_ms(epoch_ms: int | float) -> str:
    """``2026-05-12T11:10:00.250Z``."""
    ms = int(epoch_ms)
    return time.strftime("%Y-%m-%dT%H:%M:%S", _gm(ms)) + f".{ms % 1000:03d}Z"


def iso_s(epoch_ms: int | float) -> str:
    """``2026-05-12T11:10:00Z`` (the milliseconds are dropped, not rounded)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", _gm(int(epoch_ms)))


def compact_s(epoch_ms: int | float) -> str:
    """``20260512T111000Z``."""
    return time.strftime("%Y%m%dT%H%M%SZ", _gm(int(epoch_ms)))


def date_hour(epoch_ms: int | float) -> tuple[str, str]:
    """``("2026-05-12", "11")``: the UTC date and hour."""
    tm = _gm(int(epoch_ms))
    return time.strftime("%Y-%m-%d", tm), time.strftime("%H", tm)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_iso_ms(value: Any) -> int:
    """``2026-05-12T11:10:00Z`` (optionally with fraction or offset) -> epoch ms. ValueError if not."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not an ISO-8601 time: {value!r}")
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("+00"):
        text += ":00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)
