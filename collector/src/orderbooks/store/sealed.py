"""The sealed-file model: typed file and run manifests, their validating loaders, ``find_sealed``.

A *sealed file* is a data file that will not change again, with a manifest
beside it (``<stem>.manifest.json``) that describes it: its name, its path
relative to DATA_DIR, its size and its SHA-256 and MD5. Upload sends sealed
files, prune deletes them, verify checks them; all of them read manifests
through ``load_file_manifest``, which is the one definition of a valid
manifest: a manifest that fails it raises ``ManifestProblem`` naming the field
(``manifest 'bytes' is not a size: '12'``).

A sealed file belongs to a *period* (``Period``: ``start_ms``, ``end_ms``,
``label``), read from where the file lies, never from its mtime. Which
folders hold sealed files, and how a location gives the period, is a
``SealedKind``:

- ``BOOKS``: hourly book files, DATA_DIR/raw/YYYY-MM-DD/HH/<stem>.jsonl.gz,
  period ``paths.HourKey`` (folder and file name must agree, ``paths.hour_in_folder``);
- ``MARKETS``: daily market documents, DATA_DIR/markets/YYYY-MM-DD/, period
  the UTC day (``paths.day_in_folder``).

``KINDS`` lists every kind verify, recovery, upload and prune handle. Another
kind of sealed file (a daily file under its own top folder, say) is one more
``SealedKind`` with its own ``locate`` returning a ``paths.DayKey``, added to
``KINDS`` (and its contents' reader to verify and recovery); nothing else
assumes an hour.

Run manifests (``runs/<run_id>.json``) are loaded by ``load_run_manifest``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from orderbooks.store import market_files, paths, walk
from orderbooks.store.hashing import FileHashes, Hashed
from orderbooks.store.manifest import (
    FILE_MANIFEST_KIND,
    FILE_MANIFEST_SCHEMA,
    RUN_MANIFEST_KIND,
    RUN_MANIFEST_SCHEMA,
)

_HEX = {"md5": re.compile(r"^[0-9a-f]{32}$"), "sha256": re.compile(r"^[0-9a-f]{64}$")}


class ManifestProblem(Exception):
    """A manifest that cannot be trusted; its file is neither uploaded nor pruned.

    ``field`` names the manifest field at fault (None: the document or the file's location).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Period(Protocol):
    """The time a sealed file covers: an hour (``paths.HourKey``), a day (``paths.DayKey``)."""

    def start_ms(self) -> int: ...

    def end_ms(self) -> int: ...

    def label(self) -> str: ...


# ---------------------------------------------------------------------- kinds
class FileName(Protocol):
    """What a sealed file's name says (``paths.BookFileName``, ``paths.MarketsFileName``)."""

    @property
    def stem(self) -> str: ...

    @property
    def run_id(self) -> str: ...


@dataclass(frozen=True)
class SealedKind:
    """Where one kind of sealed file lives, what its names say and how its location gives its period.

    Verify, recovery, quarantine, upload and prune handle every kind through the same code.
    """

    name: str  # "books"
    top: str  # folder under DATA_DIR that holds them (and nothing else)
    manifest_kinds: tuple[str, ...]  # accepted values of the manifest's "kind"
    #: (data_dir, manifest_path) -> the period; raises ManifestProblem when the location is wrong.
    locate: Callable[[Path, Path], Period]
    #: A file's name -> what it says (its run id), None when it is not this kind's name.
    parse: Callable[[Path], FileName | None] = paths.parse
    noun: str = "an orderbooks"  # in messages: "not {noun} file name"
    #: Every suffix a file of this kind may have (anything else under ``top`` is stray).
    suffixes: tuple[str, ...] = (paths.DATA_SUFFIX, paths.PARTIAL_SUFFIX, paths.MANIFEST_SUFFIX)
    #: Does verify report a sealed file whose folder and name disagree? (Book files: upload and
    #: prune refuse them through ``read_sealed``; verify checks their contents only.)
    verify_location: bool = False
    data_suffix: str = paths.DATA_SUFFIX
    partial_suffix: str = paths.PARTIAL_SUFFIX
    manifest_suffix: str = paths.MANIFEST_SUFFIX

    def stem(self, manifest_path: Path) -> str:
        return manifest_path.name[: -len(self.manifest_suffix)]


def _located(find: Callable[[Path, Path], Period]) -> Callable[[Path, Path], Period]:
    """``find`` raising ``paths.BadFileName`` (or ValueError) -> one raising ManifestProblem."""

    def locate(data_dir: Path, manifest_path: Path) -> Period:
        try:
            return find(data_dir, manifest_path)
        except ValueError as exc:
            raise ManifestProblem(str(exc)) from exc

    return locate


#: Hourly book files: DATA_DIR/raw/YYYY-MM-DD/HH/<stem>.jsonl.gz, period the hour.
BOOKS = SealedKind(
    "books",
    paths.RAW_DIR,
    (FILE_MANIFEST_KIND,),
    _located(paths.hour_in_folder),
    suffixes=(paths.DATA_SUFFIX, paths.PARTIAL_SUFFIX, paths.MANIFEST_SUFFIX, paths.FAILURES_SUFFIX),
)
#: Daily market documents: DATA_DIR/markets/YYYY-MM-DD/markets-<day>-<run_id>.jsonl.gz, period the day.
MARKETS = SealedKind(
    "markets",
    paths.MARKETS_DIR,
    (market_files.MANIFEST_KIND,),
    _located(paths.day_in_folder),
    parse=paths.parse_markets,
    noun="a markets",
    verify_location=True,
)
KINDS: tuple[SealedKind, ...] = (BOOKS, MARKETS)


# ---------------------------------------------------------------------- file manifests
def _field_error(name: str, problem: str, value: Any) -> ManifestProblem:
    return ManifestProblem(f"manifest {name!r} {problem}: {value!r}", name)


def _count(document: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _field_error(name, "is missing or not a count" if required else "is not a count", value)
    return value


def _optional(document: dict[str, Any], name: str, types: tuple[type, ...], what: str) -> Any:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise _field_error(name, f"is not {what}", value)
    return value


@dataclass(frozen=True)
class FileManifest(Hashed):
    """A file manifest that passed ``parse_file_manifest``; ``document`` holds every field as written."""

    kind: str
    file: str
    path: str
    hashes: FileHashes
    rows: int | None
    members: int | None
    first_recv_ms: int | None
    last_recv_ms: int | None
    recovered: bool
    rebuilt: bool
    run_id: str | None
    document: dict[str, Any]


def parse_file_manifest(
    document: Any, manifest_kinds: tuple[str, ...] = (FILE_MANIFEST_KIND,)
) -> FileManifest:
    """Check a decoded file manifest field by field; raise ManifestProblem naming the first bad field."""
    if not isinstance(document, dict):
        raise ManifestProblem("manifest is not a JSON object")
    if document.get("schema") != FILE_MANIFEST_SCHEMA:
        raise _field_error(
            "schema", f"is not supported (expected {FILE_MANIFEST_SCHEMA})", document.get("schema")
        )
    kind = document.get("kind")
    if kind not in manifest_kinds:
        raise _field_error("kind", f"is not one of {list(manifest_kinds)}", kind)
    for name in ("file", "path"):
        if not isinstance(document.get(name), str) or not document[name]:
            raise _field_error(name, "is missing or not a file name", document.get(name))
    size = _count(document, "bytes", required=True)
    digests = {}
    for name, pattern in _HEX.items():
        value = document.get(name)
        if not isinstance(value, str) or not pattern.match(value):
            raise _field_error(name, "is missing or not a hex digest", value)
        digests[name] = value
    for name in ("first_recv_ms", "last_recv_ms"):
        _optional(document, name, (int,), "a time in ms")
    for name in ("rows_per_series", "rows_per_token"):
        _optional(document, name, (dict,), "an object")
    for name in ("recovered", "rebuilt"):
        _optional(document, name, (bool,), "true or false")
    run_id = _optional(document, "run_id", (str,), "a run id")
    assert size is not None
    return FileManifest(
        kind=kind,
        file=document["file"],
        path=document["path"],
        hashes=FileHashes(size, digests["sha256"], digests["md5"]),
        rows=_count(document, "rows", required=False),
        members=_count(document, "members", required=False),
        first_recv_ms=document.get("first_recv_ms"),
        last_recv_ms=document.get("last_recv_ms"),
        recovered=bool(document.get("recovered")),
        rebuilt=bool(document.get("rebuilt")),
        run_id=run_id,
        document=document,
    )


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ManifestProblem(f"unreadable manifest: {exc}") from exc


def load_file_manifest(path: Path, manifest_kinds: tuple[str, ...] = (FILE_MANIFEST_KIND,)) -> FileManifest:
    """Read and check the file manifest at *path*; ManifestProblem when it cannot be trusted."""
    return parse_file_manifest(_read_json(path), manifest_kinds)


# ---------------------------------------------------------------------- run manifests
@dataclass(frozen=True)
class RunManifest:
    """A run manifest that passed ``load_run_manifest``; ``document`` holds every field as written."""

    run_id: str
    start: int
    end: int | None
    exit_reason: str | None
    files: list[dict[str, Any]]
    document: dict[str, Any]


def parse_run_manifest(document: Any) -> RunManifest:
    if not isinstance(document, dict):
        raise ManifestProblem("run manifest is not a JSON object")
    if document.get("kind") != RUN_MANIFEST_KIND:
        raise _field_error("kind", f"is not {RUN_MANIFEST_KIND!r}", document.get("kind"))
    if document.get("schema") != RUN_MANIFEST_SCHEMA:
        raise _field_error(
            "schema", f"is not supported (expected {RUN_MANIFEST_SCHEMA})", document.get("schema")
        )
    run_id = document.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise _field_error("run_id", "is missing or not a run id", run_id)
    start = _count(document, "start", required=True)
    end = _count(document, "end", required=False)
    exit_reason = _optional(document, "exit_reason", (str,), "a reason")
    files = document.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise _field_error("files", "is not a list of objects", files)
    totals = document.get("totals")
    if not isinstance(totals, dict):
        raise _field_error("totals", "is not an object", totals)
    assert start is not None
    return RunManifest(run_id, start, end, exit_reason, files, document)


def load_run_manifest(path: Path) -> RunManifest:
    """Read and check the run manifest at *path*; ManifestProblem when it cannot be trusted."""
    return parse_run_manifest(_read_json(path))


# ---------------------------------------------------------------------- sealed files
@dataclass(frozen=True)
class SealedFile(Hashed):
    """A sealed data file and its manifest, as the manifest describes them."""

    kind: str  # SealedKind.name
    period: Period
    data_path: Path
    manifest_path: Path
    rel_data: str
    rel_manifest: str
    manifest: FileManifest

    @property
    def hashes(self) -> FileHashes:
        return self.manifest.hashes


@dataclass(frozen=True)
class Unusable:
    path: str
    reason: str
    #: Set when the manifest is fine but its data file is gone (e.g. a prune interrupted between the two).
    missing_data: str | None = None


def read_sealed(data_dir: Path, manifest_path: Path, kind: SealedKind = BOOKS) -> SealedFile:
    """Locate, parse and check one manifest; raise ManifestProblem with a clear reason."""
    data_dir = Path(data_dir)
    period = kind.locate(data_dir, manifest_path)
    loaded = load_file_manifest(manifest_path, kind.manifest_kinds)
    data_path = manifest_path.with_name(kind.stem(manifest_path) + kind.data_suffix)
    rel_data = paths.relative(data_dir, data_path)
    if loaded.file != data_path.name:
        raise _field_error("file", f"does not name {data_path.name!r}", loaded.file)
    if loaded.path != rel_data:
        raise _field_error("path", f"is not {rel_data!r}", loaded.path)
    return SealedFile(
        kind=kind.name,
        period=period,
        data_path=data_path,
        manifest_path=manifest_path,
        rel_data=rel_data,
        rel_manifest=paths.relative(data_dir, manifest_path),
        manifest=loaded,
    )


def scan_manifests(
    data_dir: Path, kinds: tuple[SealedKind, ...] = KINDS
) -> tuple[list[tuple[SealedKind, Path]], list[walk.Unreadable]]:
    """(every manifest of every kind, each kind's in path order; the folders and links that
    could not be read on the way: ``walk.walk_files``); quarantine is never looked at."""
    found: list[tuple[SealedKind, Path]] = []
    unreadable: list[list[walk.Unreadable]] = []
    for kind in kinds:
        files, bad = walk.walk_files(data_dir, kind.manifest_suffix, top=kind.top)
        found.extend((kind, path) for path in files)
        unreadable.append(bad)
    return found, walk.merge(*unreadable)


def iter_manifests(data_dir: Path, kinds: tuple[SealedKind, ...] = KINDS) -> list[tuple[SealedKind, Path]]:
    """Every manifest of every kind, each kind's in path order; quarantine is never looked at."""
    return scan_manifests(data_dir, kinds)[0]


def partial_beside(kind: SealedKind, manifest_path: Path) -> Path:
    """The ``.partial`` that would be this manifest's data file while it is still written."""
    return manifest_path.with_name(kind.stem(manifest_path) + kind.partial_suffix)


def find_sealed(
    data_dir: Path, kinds: tuple[SealedKind, ...] = KINDS
) -> tuple[list[SealedFile], list[Unusable]]:
    """Every manifest with its data file, and every manifest that cannot be used (with the reason)."""
    found: list[SealedFile] = []
    manifests, unreadable = scan_manifests(data_dir, kinds)
    # a folder or link that cannot be read hides whatever it holds: never passed over in silence
    unusable = [Unusable(item.path, item.reason) for item in unreadable]
    for kind, manifest_path in manifests:
        rel = paths.relative(data_dir, manifest_path)
        try:
            item = read_sealed(data_dir, manifest_path, kind)
        except ManifestProblem as exc:
            unusable.append(Unusable(rel, str(exc)))
            continue
        if not item.data_path.is_file():
            unusable.append(Unusable(rel, f"data file {item.rel_data} is missing", item.rel_data))
            continue
        found.append(item)
    return found, unusable


# ---------------------------------------------------------------- a data file against its manifest


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def compare_with_manifest(
    recorded: dict[str, Any], actual: dict[str, Any], fields: tuple[str, ...], data_file: Path, rel: str
) -> tuple[list[str], list[str]]:
    """(problems, notes) of a data file whose figures are *actual* against its manifest *recorded*:
    each of *fields* must be equal and the manifest must name the file; a manifest whose path
    differs from where the file lies is a note (a copied folder), not a problem."""
    problems = [
        f"{name}: manifest says {_short(recorded.get(name))}, data has {_short(actual[name])}"
        for name in fields
        if recorded.get(name) != actual[name]
    ]
    if recorded.get("file") != data_file.name:
        problems.append(f"file: manifest names {recorded.get('file')!r}")
    notes = []
    if recorded.get("path") != rel:
        notes.append(f"manifest path {recorded.get('path')!r} differs from location {rel!r}")
    return problems, notes


def check_result(
    rel: str,
    problems: list[str],
    notes: list[str],
    *,
    rows: int,
    members: int,
    size: int,
    recorded: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``files[]`` item ``orderbooks verify`` reports for one sealed file."""
    return {
        "path": rel,
        "ok": not problems,
        "rows": rows,
        "members": members,
        "bytes": size,
        "recovered": bool(recorded and recorded.get("recovered")),
        "rebuilt": bool(recorded and recorded.get("rebuilt")),
        "problems": problems,
        "notes": notes,
    }
