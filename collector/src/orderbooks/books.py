"""Fetch the books of the tracked tokens and turn them into rows.

One ``POST /books`` per chunk of tokens (``books_chunk_size``). A token missing
from the batch answer (or whose chunk failed) is fetched with ``GET /book``;
a 404 there is ``book_closed`` (the caller stops polling the token), any other
failure is ``missing_book``. Books are kept exactly as the exchange sent them;
a book whose shape is off is still written, with ``book_errors``, and the
problem is a ``schema_drift`` failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orderbooks.client import ApiClient
from orderbooks.clock import Clock
from orderbooks.discovery import TrackedToken
from orderbooks.logs import Logger, get_logger
from orderbooks.records import ROW_SCHEMA, FailureRecord


def validate_book(book: Any, token_id: str) -> list[str]:
    """Short descriptions of what is wrong with a book's shape (empty when fine)."""
    if not isinstance(book, dict):
        return [f"book is {type(book).__name__}, expected an object"]
    errors: list[str] = []
    asset_id = book.get("asset_id")
    if asset_id is None:
        errors.append("asset_id missing")
    elif asset_id != token_id:
        errors.append(f"asset_id {str(asset_id)[:24]!r} is not the requested token")
    for side in ("bids", "asks"):
        levels = book.get(side)
        if levels is None:
            errors.append(f"{side} missing")
            continue
        if not isinstance(levels, list):
            errors.append(f"{side} is {type(levels).__name__}, expected a list")
            continue
        for i, level in enumerate(levels):
            if not isinstance(level, dict):
                errors.append(f"{side}[{i}] is not an object")
                break
            bad = [k for k in ("price", "size") if not isinstance(level.get(k), str)]
            if bad:
                kinds = ", ".join(f"{k} is {type(level.get(k)).__name__}" for k in bad)
                errors.append(f"{side}[{i}]: {kinds}, expected string")
                break
    timestamp = book.get("timestamp")
    if not isinstance(timestamp, str):
        errors.append(f"timestamp is {type(timestamp).__name__}, expected string")
    return errors


def build_row(
    tracked: TrackedToken, book: Any, *, cycle: int, recv_ms: int, latency_ms: int, errors: list[str]
) -> dict[str, Any]:
    """A row as in docs/architecture.md; the outcome comes from Gamma's index pairing."""
    market = tracked.market
    row: dict[str, Any] = {
        "schema": ROW_SCHEMA,
        "recv_ms": recv_ms,
        "latency_ms": latency_ms,
        "cycle": cycle,
        "series": market.series,
        "slug": market.slug,
        "condition_id": market.condition_id,
        "token_id": tracked.token_id,
        "outcome": tracked.outcome,
        "window_start": market.window_start,
        "window_end": market.window_end,
        "book": book,
    }
    if errors:
        row["book_errors"] = errors
    return row


@dataclass
class BooksOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[FailureRecord] = field(default_factory=list)
    closed_tokens: list[str] = field(default_factory=list)
    requests: int = 0


class BookFetcher:
    def __init__(
        self, client: ApiClient, clock: Clock, chunk_size: int = 50, log: Logger | None = None
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        self.client = client
        self.clock = clock
        self.chunk_size = chunk_size
        self.log = log or get_logger("books")

    def fetch(self, tokens: list[TrackedToken], *, cycle: int, deadline: float) -> BooksOutcome:
        out = BooksOutcome()
        by_token = {t.token_id: t for t in tokens}
        answered: dict[str, tuple[Any, int, int]] = {}  # token -> (book, recv_ms, latency_ms)
        source: dict[str, str] = {}  # token -> endpoint its book came from
        order = list(by_token)
        for start in range(0, len(order), self.chunk_size):
            chunk = order[start : start + self.chunk_size]
            result = self.client.post_json(
                "clob", "/books", body=[{"token_id": t} for t in chunk], deadline=deadline, cycle=cycle
            )
            out.requests += result.attempts
            out.failures.extend(result.failures)
            if not result.ok:
                continue
            if not isinstance(result.data, list):
                out.failures.append(
                    self._record(
                        cycle,
                        "schema_drift",
                        "POST /books",
                        f"answer is {type(result.data).__name__}, expected a list",
                    )
                )
                continue
            wanted = set(chunk)
            for index, book in enumerate(result.data):
                asset_id = book.get("asset_id") if isinstance(book, dict) else None
                if isinstance(asset_id, str) and asset_id in wanted and asset_id not in answered:
                    answered[asset_id] = (book, result.recv_ms, result.latency_ms)
                    source[asset_id] = "POST /books"
                else:
                    out.failures.append(
                        self._record(
                            cycle,
                            "schema_drift",
                            "POST /books",
                            f"item {index} has asset_id {str(asset_id)[:24]!r}, "
                            "not a requested token; not attributed",
                        )
                    )
        for token_id in order:
            tracked = by_token[token_id]
            if token_id in answered:
                book, recv_ms, latency_ms = answered[token_id]
            else:
                # A 404 after the window ended means closed; before, the book may just not exist yet.
                ended = self.clock.wall_ms() >= tracked.market.end_ms
                single = self.client.get_json(
                    "clob",
                    "/book",
                    params={"token_id": token_id},
                    deadline=deadline,
                    cycle=cycle,
                    series=tracked.market.series,
                    token_id=token_id,
                    not_found_error="book_closed" if ended else "missing_book",
                )
                out.requests += single.attempts
                out.failures.extend(single.failures)
                if single.error == "book_closed":
                    out.closed_tokens.append(token_id)
                    continue
                if single.error == "missing_book":
                    continue
                if not single.ok:
                    out.failures.append(
                        self._record(
                            cycle,
                            "missing_book",
                            "GET /book",
                            f"no book this cycle: {single.error}: {single.message}",
                            tracked=tracked,
                            status=single.status,
                        )
                    )
                    continue
                book, recv_ms, latency_ms = single.data, single.recv_ms, single.latency_ms
                source[token_id] = "GET /book"
            errors = validate_book(book, token_id)
            if errors:
                out.failures.append(
                    self._record(cycle, "schema_drift", source[token_id], "; ".join(errors), tracked=tracked)
                )
                self.log.warning("book_schema_drift", cycle=cycle, token_id=token_id, errors=errors)
            out.rows.append(
                build_row(tracked, book, cycle=cycle, recv_ms=recv_ms, latency_ms=latency_ms, errors=errors)
            )
        return out

    def _record(
        self,
        cycle: int,
        error: str,
        endpoint: str,
        message: str,
        *,
        tracked: TrackedToken | None = None,
        status: int | None = None,
    ) -> FailureRecord:
        return FailureRecord.observed(
            self.clock.wall_ms(),
            cycle,
            error,
            message,
            series=tracked.market.series if tracked else None,
            token_id=tracked.token_id if tracked else None,
            status=status,
            endpoint=endpoint,
        )
