"""The one row iterator: the JSONL lines of a data file's complete gzip members, each judged.

``RowReader(path)`` yields one ``Line`` per line of every complete,
CRC-checked member (``gzmembers.Walk``), in file order. A line is a *row*
when it is a JSON object with every key its row schema version requires
(``records.ROW_SCHEMAS``): the version the row declares in its ``schema``
key (an integer), else the one its file's manifest declares (``schema=``;
``UNDECLARED_ROW_SCHEMA`` when the manifest names none). Otherwise
``Line.problem`` says why not (``not JSON (...)``, ``not a JSON object``,
``unknown row schema 3 (known: 1)``, ``missing keys [...]``) and
``Line.obj`` holds the JSON object, if it was one, so counts can still use
it. ``keys=`` replaces the version's keys (``()``: any JSON object is a
row). After the iteration, ``result`` is
the file's ``gzmembers.ScanResult`` (members, good end, damaged tail) and
``members_read`` the members whose lines were yielded.

``upto`` skips members that end after that offset (a truncation not yet done
on disk). ``on_member`` is called with each member before its lines (an
empty member has none).

``iter_rows(path)`` is the short form for readers that want the JSON
objects only: bad lines are skipped, a damaged tail ends the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orderbooks.records import ROW_SCHEMAS
from orderbooks.store import gzmembers

#: The row schema version of a file whose manifest names none (written before manifests did).
UNDECLARED_ROW_SCHEMA = 1


@dataclass(frozen=True)
class Line:
    member: int  # index of the member it is in
    number: int  # 1-based line number within that member
    obj: dict[str, Any] | None  # the JSON object (None: not JSON, or JSON but not an object)
    problem: str | None  # None: a full row


def declared_version(row: dict[str, Any]) -> int | None:
    """The row schema version *row* declares in its ``schema`` key; None when that is no integer."""
    version = row.get("schema")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def required_keys(version: Any) -> tuple[str, ...] | None:
    """The keys row schema *version* requires; None for a version not in ``records.ROW_SCHEMAS``."""
    if not isinstance(version, int) or isinstance(version, bool):
        return None
    return ROW_SCHEMAS.get(version)


def unknown_version(version: Any) -> str:
    """The problem of a row or manifest declaring *version*, which this code does not know."""
    known = ", ".join(str(v) for v in sorted(ROW_SCHEMAS))
    return f"unknown row schema {version!r} (known: {known})"


def judge(
    line: bytes, keys: Collection[str] | None = None, *, schema: Any = UNDECLARED_ROW_SCHEMA
) -> tuple[dict[str, Any] | None, str | None]:
    """(the JSON object or None, why it is not a row or None); see the module docstring."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON ({exc})"
    if not isinstance(value, dict):
        return None, "not a JSON object"
    if keys is None:
        version = declared_version(value)
        version = schema if version is None else version
        required = required_keys(version)
        if required is None:
            return value, unknown_version(version)
        keys = required
    missing = [key for key in keys if key not in value]
    if missing:
        return value, f"missing keys {missing}"
    return value, None


@dataclass(eq=False)
class RowReader:
    """Iterate the lines of *path*'s complete members; see the module docstring."""

    path: Path
    _: KW_ONLY
    upto: int | None = None
    on_member: Callable[[gzmembers.Member], None] | None = None
    keys: Collection[str] | None = None
    schema: Any = UNDECLARED_ROW_SCHEMA
    members_read: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._walk = gzmembers.Walk(self.path)

    @property
    def result(self) -> gzmembers.ScanResult | None:
        """The scan of the whole file, once the iteration has ended (None before)."""
        return self._walk.result

    def __iter__(self) -> Iterator[Line]:
        for member in self._walk:
            if self.upto is not None and member.end > self.upto:
                continue
            self.members_read += 1
            if self.on_member is not None:
                self.on_member(member)
            for number, raw in enumerate(gzmembers.split_lines(member.data), start=1):
                obj, problem = judge(raw, self.keys, schema=self.schema)
                yield Line(member.index, number, obj, problem)


def iter_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of *path*'s complete members (bad lines skipped, a damaged tail ends them)."""
    for line in RowReader(path, keys=()):
        if line.obj is not None:
            yield line.obj
