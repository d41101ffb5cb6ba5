"""What earlier runs documented: the sealed markets files of the last days, read at start.

``read_earlier`` walks the sealed markets files (``sealed.find_sealed``) whose
UTC day ends after a horizon and collects, per condition id, the first
``first_seen`` document (as a ``Market`` and its Gamma id) and whether a
``closed`` one exists. A file, line or document that cannot be read is
skipped and named in ``skipped`` (``verify`` reports such files in full); it
never stops the start. ``MarketDocs.resume`` applies the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orderbooks.markets.gamma import Market
from orderbooks.store import gzmembers, sealed
from orderbooks.store.market_files import CLOSED, doc_problem
from orderbooks.timefmt import parse_iso_ms


@dataclass
class Resumed:
    """What ``MarketDocs.resume`` found in the files of earlier runs."""

    files: int = 0
    documents: int = 0
    markets: int = 0
    closed: int = 0
    #: Markets with a ``first_seen`` and no ``closed``: asked for again.
    awaiting_close: int = 0
    #: Files or lines that could not be read (``verify`` reports them in full).
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "skipped": len(self.skipped)}


@dataclass
class Earlier:
    """The documents of earlier runs, by condition id."""

    files: int = 0
    documents: int = 0
    #: condition_id -> (the market its first ``first_seen`` describes, its Gamma id)
    first_seen: dict[str, tuple[Market, Any]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)


def market_of(doc: dict[str, Any]) -> Market:
    """The market a document describes (ValueError, KeyError or TypeError if the document cannot say)."""
    tokens = doc["tokens"]
    if not isinstance(tokens, dict):
        raise TypeError("tokens is not an object")
    return Market(
        series=str(doc["series"]),
        slug=str(doc["slug"]),
        condition_id=str(doc["condition_id"]),
        window_start=str(doc["window_start"]),
        window_end=str(doc["window_end"]),
        start_ms=parse_iso_ms(doc["window_start"]),
        end_ms=parse_iso_ms(doc["window_end"]),
        tokens=tuple((str(token), str(outcome)) for token, outcome in tokens.items()),
    )


def read_earlier(data_dir: Path, horizon_ms: int) -> Earlier:
    """The documents of the sealed markets files whose UTC day ends after *horizon_ms*."""
    earlier = Earlier()
    files, unusable = sealed.find_sealed(data_dir, (sealed.MARKETS,))
    earlier.skipped.extend(f"{u.path}: {u.reason}" for u in unusable)
    for item in files:
        if item.period.end_ms() <= horizon_ms:
            continue
        earlier.files += 1
        for doc, problem in _documents(item.data_path):
            if problem is not None:
                earlier.skipped.append(f"{item.rel_data}: {problem}")
                continue
            earlier.documents += 1
            cid = doc["condition_id"]
            if doc["kind"] == CLOSED:
                earlier.closed.add(cid)
            elif cid not in earlier.first_seen:
                try:
                    earlier.first_seen[cid] = (market_of(doc), doc["market_id"])
                except (KeyError, TypeError, ValueError) as exc:
                    earlier.skipped.append(f"{item.rel_data}: {doc.get('slug')}: not a market ({exc})")
    return earlier


def _documents(path: Path) -> list[tuple[dict[str, Any], str | None]]:
    """Each line of *path*'s complete members, with why it is not a document (None: it is one)."""
    out: list[tuple[dict[str, Any], str | None]] = []

    def on_member(member: gzmembers.Member) -> None:
        for line in gzmembers.split_lines(member.data):
            try:
                doc = orjson.loads(line)
                problem = doc_problem(doc)
            except orjson.JSONDecodeError as exc:
                doc, problem = {}, f"not JSON ({exc})"
            out.append((doc, None if problem is None else f"member {member.index}: {problem}"))

    try:
        scan = gzmembers.scan(path, on_member)
    except OSError as exc:
        return [({}, f"not readable: {exc}")]
    if not scan.clean:
        out.append(({}, f"bytes after the last complete member ({scan.tail_error})"))
    return out
