"""How the simulated Gamma and CLOB behave beyond faults: the real API's quirks, selectable.

Every field is off (or the fast default) unless set, so the existing tests see
the simulator they always saw. ``POST /behaviour`` on the control port (or
``Simulator.set_behaviour``) changes any subset at run time; ``GET /state``
shows the current values. See docs/simulator.md for what each one mimics.

The keyset cursor is opaque to clients: base64url of the offset plus a
signature over it and the query, so a client that edits or re-uses a cursor
for another query gets a 422, like the real endpoint.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson


@dataclass(frozen=True)
class Behaviour:
    #: Serve ``GET /events/keyset``; False answers 404 there (an API without it).
    keyset: bool = True
    #: Plain ``/events`` with an ``offset`` parameter answers 422 (the offset sunset).
    offset_sunset: bool = False
    #: Gamma ignores ``series_id``: the answer holds unrelated (non-BTC) events only.
    ignore_series_id: bool = False
    #: Events per series left ``closed: false`` long after their end, listed before the live ones.
    stale_open: int = 0
    #: List about a day of windows ahead (288 for the 5m series, 96 for 15m, ...), not ``prelist``.
    full_day: bool = False
    #: Pre-listed markets carry ``enableOrderBook: false`` (no ``acceptingOrders``) and have
    #: no CLOB book until their window starts.
    book_at_start: bool = False
    #: The CLOB's 404 starts this long after Gamma's ``closed`` (negative: before it).
    clob_lag_seconds: float = 0.0
    #: ``tick_size`` turns ``"0.001"`` when the best bid is >= 0.96, the best ask <= 0.04 or a side is empty.
    tick_flip: bool = False
    #: Share of book answers whose ``timestamp`` is ``""``.
    empty_timestamp_rate: float = 0.0
    #: Share of BTC markets whose first token makes the CLOB refuse a whole ``/books`` batch (400).
    refuse_share: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_BOOLS = ("keyset", "offset_sunset", "ignore_series_id", "full_day", "book_at_start", "tick_flip")
_SHARES = ("empty_timestamp_rate", "refuse_share")


def parse_behaviour(cfg: Any, base: Behaviour | None = None) -> Behaviour:
    """Validate a ``POST /behaviour`` body; fields left out keep their current values."""
    if not isinstance(cfg, dict):
        raise ValueError("behaviour must be a JSON object")
    extra = set(cfg) - set(Behaviour.__dataclass_fields__)
    if extra:
        raise ValueError(f"unknown behaviour field(s): {', '.join(sorted(extra))}")
    out = replace(base or Behaviour(), **cfg)
    for name in _BOOLS:
        if not isinstance(getattr(out, name), bool):
            raise ValueError(f"{name} must be true or false")
    if (
        not isinstance(out.stale_open, int)
        or isinstance(out.stale_open, bool)
        or not 0 <= out.stale_open <= 100_000
    ):
        raise ValueError("stale_open must be an integer in [0, 100000]")
    if not isinstance(out.clob_lag_seconds, int | float) or isinstance(out.clob_lag_seconds, bool):
        raise ValueError("clob_lag_seconds must be a number")
    for name in _SHARES:
        value = getattr(out, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number in [0, 1]")
    return out


# ------------------------------------------------------------------ keyset cursors
def _signature(secret: str, offset: int, query_key: str) -> str:
    return hashlib.sha256(f"{secret}|{offset}|{query_key}".encode()).hexdigest()[:16]


def encode_cursor(secret: str, offset: int, query_key: str) -> str:
    raw = orjson.dumps({"o": offset, "s": _signature(secret, offset, query_key)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(secret: str, cursor: str, query_key: str) -> int:
    """The offset inside a cursor this simulator issued for the same query; ValueError otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
        offset = int(data["o"])
        signature = data["s"]
    except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise ValueError("invalid cursor") from None
    if offset < 0 or signature != _signature(secret, offset, query_key):
        raise ValueError("invalid cursor")
    return offset


# ------------------------------------------------------------------ book answers
def adjust_book(book: dict[str, Any], behaviour: Behaviour, unit_of: Any, rehash: Any) -> dict[str, Any]:
    """The book as sent under *behaviour*: maybe an empty ``timestamp``, maybe a finer tick (rehashed)."""
    changed = False
    out = book
    if behaviour.tick_flip:
        bids, asks = book.get("bids") or [], book.get("asks") or []
        extreme = not bids or not asks or float(bids[-1]["price"]) >= 0.96 or float(asks[-1]["price"]) <= 0.04
        if extreme and book.get("tick_size") != "0.001":
            out, changed = {**out, "tick_size": "0.001"}, True
    if behaviour.empty_timestamp_rate and unit_of("empty-ts", book["asset_id"], book["timestamp"]) < (
        behaviour.empty_timestamp_rate
    ):
        out, changed = {**out, "timestamp": ""}, True
    if changed:
        out = {**out, "hash": ""}
        out["hash"] = rehash(out)
    return out
