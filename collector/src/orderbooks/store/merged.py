"""Writing a derived data folder (``orderbooks merge``): its hour files and their manifests.

A merged folder is an ordinary data folder, so its files are written the way
the collector writes its own: a ``.partial`` created in the hour's folder
(mode 0640, folders created durably), gzip members appended, fsynced, then the
file manifest written beside it and the ``.partial`` renamed to its final name
(``HourFileWriter``). The market documents go to one markets file per UTC day
(``write_markets_day``), each document one gzip member as the collector writes
them. ``quality.merge`` decides which rows go into which hour and which
documents are kept; its run manifest is written by ``run_manifests.write``.

What merge reads of its sources is here too: the sealed files it may merge
(``sealed_inputs``: books and market documents, each checked against its
manifest by ``verify.check_data_file`` before a row of it is used), the
``.partial`` files it leaves out, and a markets file's documents
(``read_documents``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from orderbooks.store import gzmembers, manifest, market_files, paths, sealed, verify
from orderbooks.store.atomic import DATA_MODE, durable_rename, make_dirs_durable, write_all
from orderbooks.store.hashing import FileHashes, hash_file


class HourFileWriter:
    """One hour file of a derived folder; ``with`` it to write members, then ``seal`` it.

    Entering creates the ``.partial`` (never over an existing one); leaving
    fsyncs it (when no exception is under way) and closes it. A ``.partial``
    left by an exception stays, as the collector's would."""

    def __init__(self, data_dir: Path, hour: paths.HourKey, run_id: str) -> None:
        self.data_dir = Path(data_dir)
        self.final = paths.data_path(self.data_dir, hour, run_id)
        self.partial = paths.partial_path(self.data_dir, hour, run_id)
        self._fd: int | None = None
        make_dirs_durable(self.partial.parent)

    def __enter__(self) -> HourFileWriter:
        self._fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, DATA_MODE)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        fd, self._fd = self._fd, None
        assert fd is not None
        try:
            if exc_type is None:
                os.fsync(fd)
        finally:
            os.close(fd)

    def write_member(self, lines: list[bytes]) -> None:
        """Append *lines* (each ending in a newline) as one gzip member."""
        assert self._fd is not None, "write_member outside 'with'"
        write_all(self._fd, gzmembers.compress_member(b"".join(lines)))

    def hashes(self) -> FileHashes:
        """Size and digests of the written ``.partial`` (for its manifest)."""
        return hash_file(self.partial)

    def seal(self, file_manifest: dict[str, Any]) -> None:
        """Write *file_manifest* beside the file, then rename the ``.partial`` to its final name."""
        manifest.write_manifest(paths.manifest_path_for(self.final), file_manifest)
        durable_rename(self.partial, self.final)


@dataclass
class Inputs:
    """A source folder's files as merge sees them: the ones it may read, and the ones it must not."""

    books: list[Path] = field(default_factory=list)
    markets: list[Path] = field(default_factory=list)
    #: {path (relative to the source), reason, problems}: damaged, unreadable or not sealed
    left_out: list[dict[str, Any]] = field(default_factory=list)


def sealed_inputs(data_dir: Path) -> Inputs:
    """Every sealed file of *data_dir* that agrees with its manifest; the rest in ``left_out``."""
    data_dir = Path(data_dir)
    found = Inputs()
    for kind, accepted in ((sealed.BOOKS, found.books), (sealed.MARKETS, found.markets)):
        for data_file in paths.iter_files(data_dir, kind.data_suffix, top=kind.top):
            rel = paths.relative(data_dir, data_file)
            try:
                checked = verify.check_data_file(data_dir, data_file, kind)
            except PermissionError as exc:
                found.left_out.append({"path": rel, "reason": "unreadable", "problems": [str(exc)]})
                continue
            if checked["ok"]:
                accepted.append(data_file)
            else:
                found.left_out.append(
                    {"path": rel, "reason": "does not match its manifest", "problems": checked["problems"]}
                )
        for partial in paths.iter_files(data_dir, kind.partial_suffix, top=kind.top):
            found.left_out.append(
                {
                    "path": paths.relative(data_dir, partial),
                    "reason": "not sealed (a .partial: orderbooks collect seals it at its next start)",
                    "problems": [],
                }
            )
    return found


def read_documents(data_file: Path) -> Iterator[dict[str, Any]]:
    """The market documents of a sealed markets file, in file order (bad lines skipped)."""
    docs: list[dict[str, Any]] = []

    def on_member(member: gzmembers.Member) -> None:
        for line in gzmembers.split_lines(member.data):
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if market_files.doc_problem(doc) is None:
                docs.append(doc)

    gzmembers.scan(data_file, on_member)
    yield from docs


def write_markets_day(
    data_dir: Path,
    day: paths.DayKey,
    run_id: str,
    documents: list[dict[str, Any]],
    *,
    host: str,
    version: str,
    now_ms: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Write *documents* as the sealed markets file of *day* (one member each), manifest beside it
    with the fields of *extra* added; the manifest."""
    final = paths.markets_data_path(data_dir, day, run_id)
    partial = paths.markets_partial_path(data_dir, day, run_id)
    make_dirs_durable(partial.parent)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, DATA_MODE)
    try:
        for doc in documents:
            write_all(fd, gzmembers.compress_member(orjson.dumps(doc) + b"\n"))
        os.fsync(fd)
    finally:
        os.close(fd)
    stats, _scan = market_files.read_stats(partial)
    file_manifest = market_files.build_manifest(
        data_dir=data_dir, data_file=final, stats=stats, run_id=run_id, host=host, version=version,
        recovered=False, bytes_dropped=0, rebuilt=False, opened_at=now_ms, sealed_at=now_ms,
    )  # fmt: skip
    file_manifest.update(extra)
    manifest.write_manifest(paths.manifest_path_for(final), file_manifest)
    durable_rename(partial, final)
    return file_manifest
