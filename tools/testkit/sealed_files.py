"""Fabricate realistic sealed files for tests and soaks, without the collector.

Each sealed file is real multi-member gzip JSONL (schema-1 rows, one gzip member
per simulated flush) at DATA_DIR/raw/YYYY-MM-DD/HH/<stem>.jsonl.gz, with a
manifest computed from its bytes beside it (schema 1: kind, file, path, bytes,
sha256, md5, rows, members, recovered, sealed_at, ...). Also makes the things
that must never be uploaded or pruned: open ``.partial`` files and quarantined
partials.

    from testkit.sealed_files import make_days
    files = make_days(data_dir, days=3, hours=(0, 6, 12, 18))
"""

from __future__ import annotations

import gzip
import hashlib
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from orderbooks.store import paths

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class Sealed:
    data: Path
    manifest: Path
    rel_data: str
    rel_manifest: str
    hour: paths.HourKey
    md5: str
    sha256: str
    bytes: int


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def _row(rng: random.Random, recv_ms: int, cycle: int, token: int) -> dict[str, Any]:
    mid = rng.uniform(0.05, 0.95)
    bids = [
        {"price": f"{max(0.01, mid - 0.01 * i):.2f}", "size": f"{rng.uniform(5, 500):.2f}"} for i in range(5)
    ]
    asks = [
        {"price": f"{min(0.99, mid + 0.01 * i):.2f}", "size": f"{rng.uniform(5, 500):.2f}"} for i in range(5)
    ]
    window_start = recv_ms - recv_ms % 900_000
    return {
        "schema": 1,
        "recv_ms": recv_ms,
        "latency_ms": rng.randint(20, 400),
        "cycle": cycle,
        "series": "btc-updown-15m",
        "slug": f"btc-updown-15m-{window_start // 1000}",
        "condition_id": "0x" + hashlib.sha256(str(window_start).encode()).hexdigest(),
        "token_id": str(10**70 + token),
        "outcome": "Up" if token == 0 else "Down",
        "window_start": _iso(window_start),
        "window_end": _iso(window_start + 900_000),
        "book": {"market": "0x00", "asset_id": str(10**70 + token), "bids": bids, "asks": asks},
    }


def make_sealed(
    data_dir: Path,
    hour: paths.HourKey,
    *,
    run_id: str | None = None,
    members: int = 3,
    rows_per_member: int = 8,
    seed: int = 0,
) -> Sealed:
    """One sealed data file + manifest in *hour*; returns where they are and their hashes."""
    data_dir = Path(data_dir)
    rng = random.Random(f"{hour.label()}-{seed}")
    start = hour.start_ms()
    run_id = (
        run_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start / 1000)) + f"-{rng.randrange(16**6):06x}"
    )
    target = paths.data_path(data_dir, hour, run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    blob = bytearray()
    rows = 0
    cycle = 0
    for member in range(members):
        lines = []
        for i in range(rows_per_member):
            recv = start + (member * rows_per_member + i) * 1000
            lines.append(orjson.dumps(_row(rng, recv, cycle, i % 2)) + b"\n")
            rows += 1
            if i % 2:
                cycle += 1
        blob += gzip.compress(b"".join(lines), mtime=0)
    data = bytes(blob)
    target.write_bytes(data)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    manifest = {
        "schema": 1,
        "kind": "orderbooks.file",
        "file": target.name,
        "path": paths.relative(data_dir, target),
        "bytes": len(data),
        "sha256": sha256,
        "md5": md5,
        "rows": rows,
        "members": members,
        "first_recv_ms": start,
        "last_recv_ms": start + (rows - 1) * 1000,
        "recovered": False,
        "rebuilt": False,
        "run_id": run_id,
        "hour": hour.label(),
        "opened_at": _iso(start),
        "sealed_at": _iso(hour.end_ms() + 500),
    }
    manifest_file = paths.manifest_path_for(target)
    manifest_file.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return Sealed(
        data=target,
        manifest=manifest_file,
        rel_data=paths.relative(data_dir, target),
        rel_manifest=paths.relative(data_dir, manifest_file),
        hour=hour,
        md5=md5,
        sha256=sha256,
        bytes=len(data),
    )


def make_days(
    data_dir: Path,
    *,
    days: int = 3,
    hours: tuple[int, ...] = tuple(range(24)),
    end_ms: int | None = None,
    members: int = 3,
    rows_per_member: int = 8,
) -> list[Sealed]:
    """Sealed files for *days* UTC days ending with the day of *end_ms* (default now).

    Only hours that have already ended by *end_ms* are made (an open hour would
    still be a .partial in real life).
    """
    end_ms = int(time.time() * 1000) if end_ms is None else end_ms
    today_start = end_ms - end_ms % DAY_MS
    made: list[Sealed] = []
    for back in range(days - 1, -1, -1):
        day_start = today_start - back * DAY_MS
        for hour_number in hours:
            start = day_start + hour_number * HOUR_MS
            if start + HOUR_MS > end_ms:
                continue
            made.append(
                make_sealed(
                    data_dir,
                    paths.HourKey.from_epoch_ms(start),
                    members=members,
                    rows_per_member=rows_per_member,
                )
            )
    return made


def make_partial(data_dir: Path, hour: paths.HourKey, run_id: str = "20200101T000000Z-abcdef") -> Path:
    """An open (or crashed) data file: never uploaded, never pruned."""
    target = paths.partial_path(Path(data_dir), hour, run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(b'{"schema": 1}\n', mtime=0) + b"\x1f\x8b torn")
    return target


def make_quarantined(data_dir: Path, hour: paths.HourKey, run_id: str = "20200101T000000Z-fedcba") -> Path:
    """A quarantined partial (with a manifest-looking neighbour): never uploaded, never pruned."""
    folder = paths.hour_dir(Path(data_dir), hour, top=paths.QUARANTINE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    stem = paths.stem_for(hour, run_id)
    target = folder / (stem + paths.PARTIAL_SUFFIX)
    target.write_bytes(b"\x1f\x8b garbage")
    (folder / (stem + paths.MANIFEST_SUFFIX)).write_text('{"schema": 1, "recovered": true}\n')
    return target


def all_files(data_dir: Path) -> set[str]:
    """Every file under DATA_DIR (relative paths), for before/after comparisons.

    The newest-result files of upload and prune (uploads/last-*.json) are left
    out: they change on every run by design.
    """
    root = Path(data_dir)
    found = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    return {p for p in found if not (p.startswith("uploads/last-") and p.endswith(".json"))}


def read_rows(data_dir: Path) -> list[dict[str, Any]]:
    """Every row of the book files under DATA_DIR/raw (sealed or partial, every gzip member),
    in file-name order."""
    rows = []
    for path in sorted((Path(data_dir) / "raw").rglob("*.jsonl.gz")):
        with gzip.open(path, "rb") as handle:  # reads every gzip member
            rows.extend(orjson.loads(line) for line in handle if line.strip())
    return rows
