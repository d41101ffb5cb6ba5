"""Fetch the books of the tracked tokens and turn them into rows.

One ``POST /books`` per chunk of tokens (``books_chunk_size``). A batch the
CLOB refuses for its content (4xx other than 403/404/408/425/429, or 500) is
split in halves, again and again, until the token that poisons it is alone:
that token is ``missing_book`` and the others get their rows, in about
2·log2(n) requests instead of one ``GET /book`` per token. A token missing
from a good answer after its window started (or whose chunk failed in
transit) is fetched with ``GET /book``; a 404 there is ``book_closed`` after
the window's end (the caller stops polling the token), "not open yet" before
its start or while Gamma says ``enableOrderBook: false`` (no failure), else
``missing_book``. A pre-listed token (``enableOrderBook: false``) is not
requested before its window starts. Books are kept exactly as the exchange sent them;
a book whose shape is off is still written, with ``book_errors``, and the
problem is a ``schema_drift`` failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orderbooks.api.client import NOT_OPEN, ApiClient
from orderbooks.clock import Clock
from orderbooks.logs import Logger, get_logger
from orderbooks.markets.discovery import TrackedToken
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


@dataclass
class _Batch:
    """The state of one cycle's ``POST /books`` calls."""

    by_token: dict[str, TrackedToken]
    cycle: int
    deadline: float
    out: BooksOutcome
    answered: dict[str, tuple[Any, int, int]] = field(default_factory=dict)  # token -> (book, recv, latency)
    omitted: set[str] = field(default_factory=set)  # left out of a good answer
    refused: set[str] = field(default_factory=set)  # a batch of this token alone was refused


#: Statuses that refuse a batch for its content (a bad token), not for load: bisect.
_NOT_CONTENT = (403, 404, 408, 425, 429)


def refused(status: int | None) -> bool:
    """Whether a failed ``POST /books`` refused the batch itself (4xx, 500), not failed in transit."""
    return status is not None and (status == 500 or (400 <= status < 500 and status not in _NOT_CONTENT))


def _waiting(tracked: TrackedToken, now_ms: int) -> bool:
    return not tracked.market.book_enabled and now_ms < tracked.market.start_ms


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
        now_ms = self.clock.wall_ms()
        # A pre-listed book (enableOrderBook false) is not asked for before its window starts.
        order = [t for t, tracked in by_token.items() if not _waiting(tracked, now_ms)]
        batch = _Batch(by_token, cycle, deadline, out)
        for start in range(0, len(order), self.chunk_size):
            self._post(order[start : start + self.chunk_size], batch)
        for token_id in order:
            tracked = by_token[token_id]
            if token_id in batch.refused:
                continue
            if token_id in batch.answered:
                book, recv_ms, latency_ms = batch.answered[token_id]
                endpoint = "POST /books"
            else:
                if token_id in batch.omitted and self.clock.wall_ms() < tracked.market.start_ms:
                    continue  # left out of a good answer before its window: not open yet
                single = self._get_one(tracked, cycle, deadline, out)
                if single is None:
                    continue
                book, recv_ms, latency_ms = single.data, single.recv_ms, single.latency_ms
                endpoint = "GET /book"
            errors = validate_book(book, token_id)
            if errors:
                out.failures.append(
                    self._record(cycle, "schema_drift", endpoint, "; ".join(errors), tracked=tracked)
                )
                self.log.warning("book_schema_drift", cycle=cycle, token_id=token_id, errors=errors)
            out.rows.append(
                build_row(tracked, book, cycle=cycle, recv_ms=recv_ms, latency_ms=latency_ms, errors=errors)
            )
        # Tokens without a book this cycle count as affected by an open CLOB outage, if any.
        self.client.note_affected(
            "clob", [f.token_id for f in out.failures if f.error == "missing_book" and f.token_id]
        )
        return out

    def _post(self, chunk: list[str], batch: _Batch) -> None:
        """One ``POST /books``; a refused batch is split in halves until the bad token is alone."""
        out, cycle = batch.out, batch.cycle
        result = self.client.post_json(
            "clob", "/books", body=[{"token_id": t} for t in chunk], deadline=batch.deadline, cycle=cycle
        )
        out.requests += result.attempts
        out.failures.extend(result.failures)
        if not result.ok:
            if not refused(result.status):
                return  # transient: these tokens fall back to GET /book
            if len(chunk) > 1:
                half = len(chunk) // 2
                self.log.info("books_batch_bisected", cycle=cycle, tokens=len(chunk), status=result.status)
                self._post(chunk[:half], batch)
                self._post(chunk[half:], batch)
                return
            token_id = chunk[0]
            batch.refused.add(token_id)
            out.failures.append(
                self._record(
                    cycle,
                    "missing_book",
                    "POST /books",
                    f"the batch is refused for this token alone: HTTP {result.status}: {result.message}",
                    tracked=batch.by_token[token_id],
                    status=result.status,
                )
            )
            self.log.warning("books_token_refused", cycle=cycle, token_id=token_id, status=result.status)
            return
        if not isinstance(result.data, list):
            out.failures.append(
                self._record(
                    cycle,
                    "schema_drift",
                    "POST /books",
                    f"answer is {type(result.data).__name__}, expected a list",
                )
            )
            return
        wanted = set(chunk)
        for index, book in enumerate(result.data):
            asset_id = book.get("asset_id") if isinstance(book, dict) else None
            if isinstance(asset_id, str) and asset_id in wanted and asset_id not in batch.answered:
                batch.answered[asset_id] = (book, result.recv_ms, result.latency_ms)
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
        batch.omitted.update(wanted - batch.answered.keys())

    def _get_one(self, tracked: TrackedToken, cycle: int, deadline: float, out: BooksOutcome) -> Any:
        """``GET /book`` for a token the batch did not answer; None when there is no book this cycle."""
        token_id = tracked.token_id
        # A 404 after the window ended means closed; before, or while Gamma says the book is not
        # enabled yet, the book is not open yet (no failure).
        if self.clock.wall_ms() >= tracked.market.end_ms:
            not_found = "book_closed"
        elif not tracked.market.book_enabled or self.clock.wall_ms() < tracked.market.start_ms:
            not_found = NOT_OPEN
        else:
            not_found = "missing_book"
        single = self.client.get_json(
            "clob",
            "/book",
            params={"token_id": token_id},
            deadline=deadline,
            cycle=cycle,
            series=tracked.market.series,
            token_id=token_id,
            not_found_error=not_found,
        )
        out.requests += single.attempts
        out.failures.extend(single.failures)
        if single.error == "book_closed":
            out.closed_tokens.append(token_id)
            return None
        if single.error in ("missing_book", NOT_OPEN):
            return None
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
            return None
        return single

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
