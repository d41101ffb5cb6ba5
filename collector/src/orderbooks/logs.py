"""Structured logs: one JSON object per line on stdout (journald keeps them).

Usage::

    log = get_logger("collect")
    log.info("cycle_done", cycle=12, rows=20)
    log.warning("request_failed", error="timeout", url=url)

Every line has ``ts`` (UTC ISO-8601 with milliseconds), ``level``, ``logger``
and ``event``; the keyword arguments follow. Values that orjson cannot encode
are written with ``str()``.

When stdout is the journal (systemd sets ``JOURNAL_STREAM``), each line starts
with its syslog priority (``<3>`` error and critical, ``<4>`` warning, ``<6>``
info, ``<7>`` debug), which journald strips and stores as the priority, so
``journalctl -u orderbooks-collector -p warning`` shows warnings and errors.
The JSON body is the same either way.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

import orjson

from orderbooks.timefmt import iso_ms, now_ms

_LOCK = threading.Lock()
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_threshold = _LEVELS["info"]
_stream: IO[str] | None = None
#: syslog priority of each level (sd-daemon(3) prefixes).
PRIORITIES = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
_journal = bool(os.environ.get("JOURNAL_STREAM"))


def configure(level: str = "info", stream: IO[str] | None = None, journal: bool | None = None) -> None:
    """Set the minimum level, the output stream (default: sys.stdout) and whether
    lines carry journal priority prefixes (default: when ``JOURNAL_STREAM`` is set)."""
    global _threshold, _stream, _journal
    if level not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(_LEVELS)}")
    _threshold = _LEVELS[level]
    _stream = stream
    _journal = bool(os.environ.get("JOURNAL_STREAM")) if journal is None else journal


@contextlib.contextmanager
def to_stream(stream: IO[str]) -> Iterator[None]:
    """Send every log line to *stream* inside the block (a command whose stdout is its JSON result)."""
    global _stream
    before = _stream
    _stream = stream
    try:
        yield
    finally:
        _stream = before


class Logger:
    def __init__(self, name: str) -> None:
        self.name = name

    def log(self, level: str, event: str, **fields: Any) -> None:
        if _LEVELS[level] < _threshold:
            return
        record = {"ts": iso_ms(now_ms()), "level": level, "logger": self.name, "event": event}
        record.update(fields)
        line = orjson.dumps(record, default=str).decode() + "\n"
        if _journal:
            line = f"<{PRIORITIES[level]}>{line}"
        stream = _stream or sys.stdout
        with _LOCK:
            stream.write(line)
            stream.flush()

    def debug(self, event: str, **fields: Any) -> None:
        self.log("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.log("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.log("error", event, **fields)

    def critical(self, event: str, **fields: Any) -> None:
        self.log("critical", event, **fields)


def get_logger(name: str) -> Logger:
    return Logger(name)
