"""Shared bits of the benchmark scripts: realistic rows, printing figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import orjson
from orderbooks.records import ROW_SCHEMA
from testkit.fabricate import T0_MS, book_for, market_fields, markets_for

ROOT = Path(__file__).resolve().parents[2]

#: Levels per side of a fabricated book: the BTC up/down books seen in the API notes
#: run from 0.01 to 0.99, so 30 levels a side is a middle-of-the-road book.
LEVELS = 30


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def cycle_bodies(tokens: int = 20, cycles: int = 60, levels: int = LEVELS) -> tuple[list[bytes], list[dict]]:
    """POST /books answers for *cycles* cycles of *tokens* tokens, and the row metadata per token."""
    markets = [
        m
        for s in ("10684", "10192", "10114", "10331", "41")
        for m in markets_for(s, 300, T0_MS, T0_MS + 600_000)
    ]
    metas = []
    for market in markets:
        for token_id, outcome in market.tokens:
            metas.append((market, token_id, outcome))
    metas = metas[:tokens]
    bodies = [
        orjson.dumps([book_for(market, token_id, c // 3, levels=levels) for market, token_id, _ in metas])
        for c in range(cycles)
    ]
    rows_meta = [{"schema": ROW_SCHEMA, **market_fields(*meta)} for meta in metas]
    return bodies, rows_meta


def build_rows(body: bytes, metas: list[dict], cycle: int, recv_ms: int) -> list[dict[str, Any]]:
    """What the collector does with an answer: parse it and wrap each book in a row."""
    books = orjson.loads(body)
    return [
        {**meta, "recv_ms": recv_ms, "latency_ms": 4, "cycle": cycle, "book": book}
        for meta, book in zip(metas, books, strict=True)
    ]


def figure(name: str, value: Any, unit: str = "", note: str = "") -> None:
    print(f"{name:<48} {value!s:>14} {unit:<10} {note}".rstrip())
