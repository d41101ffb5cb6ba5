"""A ``Logger`` that keeps its lines instead of printing them, for tests that
assert what was logged and at which level."""

from __future__ import annotations

from typing import Any

from orderbooks.logs import Logger


class RecordingLog(Logger):
    def __init__(self, name: str = "test") -> None:
        super().__init__(name)
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def log(self, level: str, event: str, **fields: Any) -> None:
        self.lines.append((level, event, fields))
