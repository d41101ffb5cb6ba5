"""The records that flow from the collector loop into storage.

This module is the contract between the network side (discovery, client,
collector) and the storage side (writer, manifest, recovery). Neither side
imports the other; both import this.
"""

from __future__ import annotations

import queue
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

#: Version of the row format the collector writes (each row's ``schema``).
ROW_SCHEMA = 1

#: The keys each row schema version requires, in the order the collector writes
#: them: what ``verify`` checks a row of that version against. A published
#: version's keys never change (files on disk and in the archive were written to
#: them); a new key is a new version (docs/data-format.md, "Row schema versions").
#: A row may also carry ``book_errors`` when the book's shape was not as expected.
ROW_SCHEMAS: dict[int, tuple[str, ...]] = {
    1: (
        "schema",
        "recv_ms",
        "latency_ms",
        "cycle",
        "series",
        "slug",
        "condition_id",
        "token_id",
        "outcome",
        "window_start",
        "window_end",
        "book",
    ),
}

#: Keys every row the collector writes has, in its order (docs/data-format.md).
ROW_KEYS = ROW_SCHEMAS[ROW_SCHEMA]

#: Longest ``FailureRecord.message`` that ``FailureRecord.observed`` keeps.
MESSAGE_MAX_CHARS = 200

#: Error classes a FailureRecord may carry (``FailureRecord.error``).
ERROR_CLASSES = (
    "timeout",  # connect/read/pool timeout
    "connect",  # connection refused, DNS failure, unreachable
    "reset",  # connection reset / closed mid-response
    "http_status",  # any non-2xx status not covered below
    "rate_limited",  # 429 (Retry-After honoured)
    "not_ready",  # 425 service not ready
    "blocked",  # 403 (Cloudflare refusal, geo block)
    "html_body",  # HTML where JSON was expected
    "bad_json",  # malformed or truncated JSON
    "oversize",  # a body larger than its cap (--max-body-bytes / --max-books-body-bytes); not read further
    "schema_drift",  # JSON parsed but does not match the expected shape
    "missing_book",  # a tracked token absent from /books and /book
    "book_closed",  # 404 for a token: market resolved or closed
    "discovery",  # a Gamma discovery refresh failed
    "market_document",  # a market document (first seen / closed Gamma record) could not be kept
    "overrun",  # a cycle overran its slot; the schedule skipped ahead
    "disk_floor",  # free space below the floor; rows not written
    "enospc",  # a flush hit ENOSPC; the partial member was cut off
    "restart",  # gap from the last row before a crash to the restart
    "unsafe_path",  # the hour's folder is a symbolic link leading out of the data folder; rows not written
)


@dataclass(frozen=True)
class FailureRecord:
    """One operational failure. Ends up in the open file's manifest."""

    t_ms: int  # UTC epoch ms when it was observed
    cycle: int | None  # collector cycle number, None outside the poll loop
    error: str  # one of ERROR_CLASSES
    message: str  # short human text (<= 200 chars)
    series: str | None = None  # Gamma series id, when known
    token_id: str | None = None  # CLOB token id, when the failure is per token
    status: int | None = None  # HTTP status, when there was one
    endpoint: str | None = None  # e.g. "POST /books", "GET /events"

    @classmethod
    def observed(
        cls,
        t_ms: int,
        cycle: int | None,
        error: str,
        message: str,
        *,
        series: str | None = None,
        token_id: str | None = None,
        status: int | None = None,
        endpoint: str | None = None,
    ) -> FailureRecord:
        """A record of a failure seen at *t_ms*, its message cut to MESSAGE_MAX_CHARS."""
        return cls(
            t_ms=t_ms,
            cycle=cycle,
            error=error,
            message=message[:MESSAGE_MAX_CHARS],
            series=series,
            token_id=token_id,
            status=status,
            endpoint=endpoint,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CycleResult:
    """Everything one poll cycle produced.

    ``rows`` are complete row dicts (see docs/data-format.md), in the order
    they should be written. ``ok`` is True when every tracked token got a book
    and no request failed.
    """

    cycle: int
    started_ms: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[FailureRecord] = field(default_factory=list)
    ok: bool = True


class SnapshotSink(Protocol):
    """What the collector loop needs from storage (implemented by writer.SnapshotWriter)."""

    def write_cycle(self, result: CycleResult) -> None:
        """Append the cycle's rows (one flush per cycle by default) and remember
        its failures for the open file's manifest. Rotates at UTC hour
        boundaries. Never raises for disk trouble: records it instead."""

    def record_failures(self, failures: list[FailureRecord]) -> None:
        """Failures that happened outside a poll cycle (e.g. discovery)."""

    def close(self, exit_reason: str) -> None:
        """Seal the open file, finish the run manifest."""


class QueuedFailures:
    """Failure records a worker thread (discovery, market documents) queues for the poll thread.

    The sink is not thread-safe: the worker ``put``s its failures on
    ``self._failures`` and the poll thread takes them with ``drain_failures()``
    and hands them to the sink.
    """

    def __init__(self) -> None:
        self._failures: queue.SimpleQueue[FailureRecord] = queue.SimpleQueue()

    def drain_failures(self) -> list[FailureRecord]:
        """Every failure queued so far (poll thread)."""
        out: list[FailureRecord] = []
        while True:
            try:
                out.append(self._failures.get_nowait())
            except queue.Empty:
                return out
