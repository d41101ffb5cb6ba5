"""Check a data folder: every sealed file against its manifest, member by member.

``verify_data_dir()`` walks DATA_DIR (the live folder, or a copy downloaded
from Drive) and returns a summary dict (schema documented in
docs/data-format.md, "verify --json"). A data folder is consistent when:

* every sealed ``.jsonl.gz`` has a manifest, and its bytes, sha256, md5, rows,
  members, first/last ``recv_ms``, rows per series and per token match it;
* every gzip member decompresses with a good CRC, ends with a newline, and
  each line is a JSON object with every key its row schema version requires
  (``rows.judge``): the version the row declares, else its manifest's
  ``row_schema`` (a manifest without one predates it: version 1); a version
  this code does not know (``records.ROW_SCHEMAS``) is a problem, in a row or
  in the manifest, as is a ``row_schema`` other than the highest version its
  rows declare;
* every manifest has its data file (or its ``.partial`` while it is being sealed);
* every run manifest parses, and every sealed file it lists is on disk, unless
  the upload ledger records it as pruned (``verify_reach.missing_listed``: a
  file deleted with its manifest leaves no other trace);
* every folder and file verify reads could be read: one it may not read
  (permission denied) is a problem, never skipped in silence
  (``verify_reach.unreadable``; the summary's ``unreadable``);
* the same for every other kind of sealed file (``sealed.KINDS``: the market
  documents under DATA_DIR/markets), through the same checks; only the reading
  of a file's contents (rows or documents, ``_CONTENTS``) and the manifest
  fields compared differ by kind.

Open ``.partial`` files (their run is alive) and leftover ones (no live run:
the next ``orderbooks collect`` recovers them) and quarantined files are
reported, and fail the check only with ``strict=True``. So are failure
journals (``<stem>.failures.jsonl``): ``open`` while their run is alive,
``leftover`` otherwise (recovery merges or removes them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderbooks.store import (
    failure_journal,
    gzmembers,
    manifest,
    market_files,
    paths,
    rows,
    sealed,
    verify_reach,
)
from orderbooks.store.hashing import hash_file

VERIFY_SCHEMA = 1
VERIFY_KIND = "orderbooks.verify"

#: How many bad lines of one file are described before the rest are only counted.
MAX_LINE_PROBLEMS = 5


@dataclass(frozen=True)
class _Figures:
    """What a data file holds, under its manifest's field names (``actual``, every one of which its
    manifest must agree with), and its scan."""

    actual: dict[str, Any]
    rows: int  # rows, or documents
    members: int
    scan: gzmembers.ScanResult
    #: Problems of the manifest's own fields against the data, reported after the comparison.
    manifest_problems: list[str]


def check_data_file(
    data_dir: Path, data_file: Path, kind: sealed.SealedKind = sealed.BOOKS
) -> dict[str, Any]:
    """Verify one sealed data file of *kind* against its manifest (if any)."""
    rel = paths.relative(data_dir, data_file)
    problems: list[str] = []
    notes: list[str] = []  # from the manifest comparison
    manifest_path = paths.manifest_path_for(data_file)
    recorded: dict[str, Any] | None = None
    manifest_problems: list[str] = []
    if not manifest_path.exists():
        manifest_problems.append("no manifest")
    else:
        try:
            recorded = sealed.load_file_manifest(manifest_path, kind.manifest_kinds).document
        except sealed.ManifestProblem as exc:
            manifest_problems.append(str(exc))
    figures = _CONTENTS[kind.name].figures(data_file, problems, recorded)
    scan = figures.scan
    if scan.tail_error is not None:
        problems.append(f"damaged at byte {scan.good_end} of {scan.size}: {scan.tail_error}")
    if kind.verify_location:
        try:
            kind.locate(data_dir, data_file)
        except sealed.ManifestProblem as exc:
            problems.append(str(exc))

    problems.extend(manifest_problems)
    if recorded is not None:
        found, notes = sealed.compare_with_manifest(
            recorded, figures.actual, tuple(figures.actual), data_file, rel
        )
        problems.extend(found)
        problems.extend(figures.manifest_problems)
    return sealed.check_result(
        rel,
        problems,
        notes,
        rows=figures.rows,
        members=figures.members,
        size=figures.actual["bytes"],
        recorded=recorded,
    )


def _book_figures(data_file: Path, problems: list[str], recorded: dict[str, Any] | None) -> _Figures:
    row_schema = (recorded or {}).get("row_schema", rows.UNDECLARED_ROW_SCHEMA)
    observed, scan = _read_rows(data_file, problems, row_schema)
    hashes = hash_file(data_file)
    actual = {**hashes.fields(), **observed.fields()}
    schema_problems = _row_schema_problems(recorded, observed) if recorded is not None else []
    return _Figures(actual, observed.rows, observed.members, scan, schema_problems)


def _markets_figures(data_file: Path, problems: list[str], recorded: dict[str, Any] | None) -> _Figures:
    stats, scan = market_files.read_stats(data_file)
    problems.extend(stats.bad_lines[:MAX_LINE_PROBLEMS])
    if len(stats.bad_lines) > MAX_LINE_PROBLEMS:
        problems.append(f"{len(stats.bad_lines) - MAX_LINE_PROBLEMS} more bad lines")
    hashes = hash_file(data_file)
    actual = {
        **hashes.fields(),
        "records": stats.records,
        "members": stats.members,
        "records_by_kind": dict(sorted(stats.by_kind.items())),
        "first_recv_ms": stats.first_recv_ms,
        "last_recv_ms": stats.last_recv_ms,
    }
    return _Figures(actual, stats.records, stats.members, scan, [])


def _row_schema_problems(recorded: dict[str, Any], observed: manifest.RowStats) -> list[str]:
    """The manifest's ``row_schema``: a version this code knows, the highest its rows declare."""
    if "row_schema" not in recorded:
        return []  # written before manifests named it: version 1, as its rows are judged
    declared = recorded["row_schema"]
    if rows.required_keys(declared) is None:
        return [f"row_schema: {rows.unknown_version(declared)}"]
    if observed.row_schemas and observed.row_schema() != declared:
        return [f"row_schema: manifest says {declared!r}, rows declare up to {observed.row_schema()}"]
    return []


def _read_rows(
    data_file: Path, problems: list[str], row_schema: Any
) -> tuple[manifest.RowStats, gzmembers.ScanResult]:
    stats = manifest.RowStats()
    bad_lines = 0

    def on_member(member: gzmembers.Member) -> None:
        if member.data and not member.data.endswith(b"\n"):
            problems.append(f"member {member.index} (byte {member.start}) does not end with a newline")

    reader = rows.RowReader(data_file, on_member=on_member, schema=row_schema)
    for line in reader:
        stats.add_row(line.obj or {})
        if line.problem is not None:
            bad_lines += 1
            if bad_lines <= MAX_LINE_PROBLEMS:
                problems.append(f"member {line.member} line {line.number}: {line.problem}")
    stats.members = reader.members_read
    if bad_lines > MAX_LINE_PROBLEMS:
        problems.append(f"{bad_lines - MAX_LINE_PROBLEMS} more bad lines")
    assert reader.result is not None
    return stats, reader.result


def check_partial(data_dir: Path, partial: Path, kind: sealed.SealedKind = sealed.BOOKS) -> dict[str, Any]:
    name = kind.parse(partial)
    live = manifest.run_is_live(data_dir, name.run_id) if name else None
    sealing = paths.manifest_path_for(partial).exists()
    state = "open" if live else ("unknown" if live is None else "leftover")
    rows_read, flushed, scan = _CONTENTS[kind.name].partial(partial)
    return {
        "path": paths.relative(data_dir, partial),
        "state": state,
        "sealing": sealing,
        "bytes": scan.size,
        "members": scan.members,
        "rows": rows_read,
        "rows_flushed_open_member": flushed,
        "tail_bytes": scan.tail_bytes,
    }


def _book_partial(partial: Path) -> tuple[int, int, gzmembers.ScanResult]:
    """(rows, rows of the member being written, scan) of a book partial."""
    stats, scan = manifest.stats_from_data(partial)
    # rows of the member being written (sync-flushed, no trailer yet): on disk, recovery keeps them
    kept, _used = manifest.salvage_rows(partial, scan.good_end) if scan.tail_bytes else (b"", 0)
    return stats.rows, kept.count(b"\n"), scan


def _markets_partial(partial: Path) -> tuple[int, int, gzmembers.ScanResult]:
    """(documents, 0, scan) of a markets partial: a document is one member, never flushed in part."""
    stats, scan = market_files.read_stats(partial)
    return stats.records, 0, scan


@dataclass(frozen=True)
class _Reader:
    """How verify reads the contents of one kind of sealed file."""

    figures: Callable[[Path, list[str], dict[str, Any] | None], _Figures]
    partial: Callable[[Path], tuple[int, int, gzmembers.ScanResult]]


_CONTENTS = {
    sealed.BOOKS.name: _Reader(_book_figures, _book_partial),
    sealed.MARKETS.name: _Reader(_markets_figures, _markets_partial),
}


def check_journal(data_dir: Path, journal: Path) -> dict[str, Any]:
    stem = paths.stem_of(journal)
    run_id = paths.run_id_of(journal)
    live = manifest.run_is_live(data_dir, run_id) if run_id else None
    neighbours = {
        s
        for s in (paths.PARTIAL_SUFFIX, paths.DATA_SUFFIX, paths.MANIFEST_SUFFIX)
        if journal.with_name(stem + s).exists()
    }
    beside = "partial" if paths.PARTIAL_SUFFIX in neighbours else ("sealed" if neighbours else "none")
    contents = failure_journal.read(journal)
    return {
        "path": paths.relative(data_dir, journal),
        "state": "open" if live else ("unknown" if live is None else "leftover"),
        "beside": beside,
        "records": len(contents.records),
        "bad_lines": contents.bad_lines,
    }


def check_kind(
    data_dir: Path, kind: sealed.SealedKind, reach: verify_reach.Reach | None = None
) -> dict[str, list[Any]]:
    """Everything under DATA_DIR/<kind.top>: sealed files, partials, orphan manifests, stray names.

    A data file that cannot be read is left out and added to *reach* (PermissionError without one)."""
    data_dir = Path(data_dir)
    top = kind.top
    files = []
    for data_file in paths.iter_files(data_dir, kind.data_suffix, top=top):
        if reach is not None and reach.covers(data_dir, data_file):
            continue
        try:
            files.append(check_data_file(data_dir, data_file, kind))
        except PermissionError as exc:
            if reach is None:
                raise
            reach.add(data_dir, data_file, exc.strerror or "permission denied")
    partials = [
        check_partial(data_dir, p, kind) for p in paths.iter_files(data_dir, kind.partial_suffix, top=top)
    ]
    orphan_manifests: list[str] = []
    for manifest_file in paths.iter_files(data_dir, kind.manifest_suffix, top=top):
        stem = kind.stem(manifest_file)
        data_file = manifest_file.with_name(stem + kind.data_suffix)
        partial = manifest_file.with_name(stem + kind.partial_suffix)
        if not data_file.exists() and not partial.exists():
            orphan_manifests.append(paths.relative(data_dir, manifest_file))
    stray = [
        paths.relative(data_dir, Path(dirpath) / name)
        for dirpath, _dirs, names in os.walk(data_dir / top)
        for name in sorted(names)
        if name.startswith(".") or not name.endswith(kind.suffixes)
    ]
    return {"files": files, "partials": partials, "orphan_manifests": orphan_manifests, "stray": stray}


def check_sealed(
    data_dir: Path,
    kinds: tuple[sealed.SealedKind, ...] = sealed.KINDS,
    reach: verify_reach.Reach | None = None,
) -> dict[str, list[Any]]:
    """``check_kind`` of every kind, one after the other."""
    found: dict[str, list[Any]] = {"files": [], "partials": [], "orphan_manifests": [], "stray": []}
    for kind in kinds:
        for key, items in check_kind(data_dir, kind, reach).items():
            found[key] += items
    return found


def verify_data_dir(data_dir: Path, *, strict: bool = False) -> dict[str, Any]:
    """Verify everything under *data_dir*; see the module docstring."""
    data_dir = Path(data_dir)
    reach = verify_reach.unreadable(data_dir)
    every_kind = check_sealed(data_dir, reach=reach)
    files, partials = every_kind["files"], every_kind["partials"]
    orphan_manifests, stray = every_kind["orphan_manifests"], every_kind["stray"]
    journals = [check_journal(data_dir, j) for j in paths.iter_files(data_dir, paths.FAILURES_SUFFIX)]

    quarantined = [
        {
            "path": paths.relative(data_dir, Path(dirpath) / name),
            "bytes": (Path(dirpath) / name).stat().st_size,
        }
        for dirpath, _dirs, names in os.walk(data_dir / paths.QUARANTINE_DIR)
        for name in sorted(names)
    ]
    runs, run_problems, listed = _check_runs(data_dir)
    try:
        pruned = verify_reach.pruned_paths(data_dir)
    except PermissionError as exc:  # listed in reach already when the ledger's mode says so
        reach.add(data_dir, Path(exc.filename or data_dir), exc.strerror or "permission denied")
        pruned = set()
    missing, listed_pruned = verify_reach.missing_listed(data_dir, listed, pruned)
    missing = [m for m in missing if not reach.covers(data_dir, data_dir / m["path"])]

    problems: list[str] = []
    for checked in files:
        problems.extend(f"{checked['path']}: {p}" for p in checked["problems"])
    problems.extend(f"{m}: manifest without data file" for m in orphan_manifests)
    problems.extend(run_problems)
    problems.extend(f"{m['path']}: listed by {m['run']} but {m['state']} on disk" for m in missing)
    problems.extend(f"{u['path']}: cannot read: {u['reason']}" for u in reach.unreadable)
    if strict:
        problems.extend(f"{p['path']}: {p['state']} partial (strict)" for p in partials)
        problems.extend(f"{j['path']}: {j['state']} failure journal (strict)" for j in journals)
        problems.extend(f"{q['path']}: quarantined (strict)" for q in quarantined)

    counts = {
        "files": len(files),
        "files_ok": sum(1 for f in files if f["ok"]),
        "files_failed": sum(1 for f in files if not f["ok"]),
        "rows": sum(f["rows"] for f in files),
        "bytes": sum(f["bytes"] for f in files),
        "recovered": sum(1 for f in files if f["recovered"]),
        "rebuilt": sum(1 for f in files if f["rebuilt"]),
        "partials_open": sum(1 for p in partials if p["state"] == "open"),
        "partials_leftover": sum(1 for p in partials if p["state"] != "open"),
        "journals_open": sum(1 for j in journals if j["state"] == "open"),
        "journals_leftover": sum(1 for j in journals if j["state"] != "open"),
        "orphan_data": sum(1 for f in files if "no manifest" in f["problems"]),
        "orphan_manifests": len(orphan_manifests),
        "quarantined": len(quarantined),
        "runs": len(runs),
        "runs_unfinished": sum(1 for r in runs if r["exit_reason"] is None),
        "runs_crashed": sum(1 for r in runs if r["exit_reason"] == "crashed"),
        "stray": len(stray),
        "listed_missing": len(missing),
        "listed_pruned": listed_pruned,
        "unreadable": len(reach.unreadable),
    }
    return {
        "schema": VERIFY_SCHEMA,
        "kind": VERIFY_KIND,
        "data_dir": str(data_dir),
        "strict": strict,
        "ok": not problems,
        "counts": counts,
        "problems": problems,
        "files": files,
        "partials": partials,
        "journals": journals,
        "orphan_data": [f["path"] for f in files if "no manifest" in f["problems"]],
        "orphan_manifests": orphan_manifests,
        "quarantined": quarantined,
        "runs": runs,
        "stray": stray,
        "listed_missing": missing,
        "unreadable": reach.unreadable,
    }


def _check_runs(
    data_dir: Path,
) -> tuple[list[dict[str, Any]], list[str], list[tuple[str, list[dict[str, Any]]]]]:
    """(runs, problems, (path, files listed) of every valid run manifest)."""
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    listed: list[tuple[str, list[dict[str, Any]]]] = []
    runs_dir = data_dir / paths.RUNS_DIR
    if not runs_dir.is_dir():
        return runs, problems, listed
    for run_path in sorted(runs_dir.glob("*.json")):
        rel = paths.relative(data_dir, run_path)
        try:
            run = sealed.load_run_manifest(run_path)
        except sealed.ManifestProblem as exc:
            problems.append(f"{rel}: not a valid run manifest: {exc}")
            continue
        listed.append((rel, run.files))
        runs.append(
            {
                "run_id": run.run_id,
                "exit_reason": run.exit_reason,
                "live": manifest.run_is_live(data_dir, run.run_id) if run.exit_reason is None else False,
                "files": len(run.files),
            }
        )
    return runs, problems, listed


def format_text(summary: dict[str, Any]) -> str:
    """The human summary printed by ``orderbooks verify`` without ``--json``."""
    counts = summary["counts"]
    lines: list[str] = []
    for problem in summary["problems"]:
        lines.append(f"FAIL  {problem}")
    for partial in summary["partials"]:
        extra = ", being sealed" if partial["sealing"] else ""
        lines.append(
            f"note  {partial['path']}: {partial['state']} partial, {partial['members']} complete members, "
            f"{partial['rows']} rows, {partial['tail_bytes']} tail bytes{extra}"
        )
    for journal in summary["journals"]:
        if journal["state"] != "open":
            where = {"partial": "beside its partial", "sealed": "beside a sealed file", "none": "alone"}
            lines.append(
                f"note  {journal['path']}: {journal['state']} failure journal {where[journal['beside']]}, "
                f"{journal['records']} records, {journal['bad_lines']} unreadable lines"
            )
    for item in summary["quarantined"]:
        lines.append(f"note  {item['path']}: quarantined ({item['bytes']} bytes)")
    for path in summary["stray"]:
        lines.append(f"note  {path}: not an orderbooks file")
    for checked in summary["files"]:
        lines.extend(f"note  {checked['path']}: {n}" for n in checked["notes"])
    verdict = "OK" if summary["ok"] else "FAILED"
    lines.append(
        f"verify {verdict}: {counts['files_ok']}/{counts['files']} sealed files consistent, "
        f"{counts['rows']} rows, {counts['recovered']} recovered, {counts['rebuilt']} rebuilt; "
        f"{counts['partials_open']} open and {counts['partials_leftover']} leftover partials; "
        f"{counts['journals_leftover']} leftover failure journals; "
        f"{counts['orphan_data']} data files without manifest; {counts['orphan_manifests']} manifests "
        f"without data; {counts['quarantined']} quarantined; {counts['runs']} runs "
        f"({counts['runs_crashed']} crashed, {counts['runs_unfinished']} unfinished); "
        f"{counts['listed_missing']} listed files missing, {counts['listed_pruned']} pruned; "
        f"{counts['unreadable']} unreadable" + (" [strict]" if summary["strict"] else "")
    )
    return "\n".join(lines)
