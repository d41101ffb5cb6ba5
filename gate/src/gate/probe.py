"""Run on the host under test (python3 standard library only): look at the data
folder and print one JSON object on stdout.

The gate sends this file's text over SSH (``python3 - COMMAND ...``), so the
host needs nothing beyond the Python that Debian ships.

Commands:

- ``files DATA_DIR [--hash]``: sealed files with size, manifest and (with
  ``--hash``) sha256; partials with size and mtime; quarantined files.
- ``rows DATA_DIR [--since-ms MS] [--files N]``: the complete gzip members of
  the newest N data files (partial or sealed): rows per series, newest
  ``recv_ms``, windows seen, and the rows that are not valid.
- ``hosts-add MARKER ADDR NAME...``: put ``ADDR NAME...  # MARKER`` first in
  /etc/hosts (in place: /etc/hosts may be a bind mount).
- ``hosts-remove MARKER``: remove every line carrying MARKER from /etc/hosts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
import zlib

DATA_SUFFIX = ".jsonl.gz"
PARTIAL_SUFFIX = ".jsonl.gz.partial"
MANIFEST_SUFFIX = ".manifest.json"
SERIES_FILE_RE = re.compile(r"(Z-\d{8}T\d{6}Z-[0-9a-f]{6})-s[0-9A-Za-z]+$")
ROW_SCHEMA = 1  # the row schema version a host running this collector writes
ROW_KEYS = ("schema", "recv_ms", "cycle", "series", "slug", "token_id", "book")
HOSTS_FILE = "/etc/hosts"


def walk(root, suffix):
    found = []
    if not os.path.isdir(root):
        return found
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            if name.endswith(suffix) and not name.startswith("."):
                found.append(os.path.join(dirpath, name))
    return sorted(found)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        return {"_unreadable": f"{type(exc).__name__}: {exc}"}


def files(data_dir, with_hash):
    raw = os.path.join(data_dir, "raw")
    sealed = []
    for path in walk(raw, DATA_SUFFIX):
        manifest_path = path[: -len(DATA_SUFFIX)] + MANIFEST_SUFFIX
        entry = {
            "path": os.path.relpath(path, data_dir),
            "bytes": os.path.getsize(path),
            "manifest": load_json(manifest_path) if os.path.exists(manifest_path) else None,
        }
        if with_hash:
            entry["sha256"] = sha256_of(path)
        sealed.append(entry)
    partials = []
    for path in walk(raw, PARTIAL_SUFFIX):
        try:
            stat = os.stat(path)
        except FileNotFoundError:  # sealed (renamed) since the walk
            continue
        partials.append(
            {
                "path": os.path.relpath(path, data_dir),
                "bytes": stat.st_size,
                "mtime_ms": int(stat.st_mtime * 1000),
            }
        )
    orphans = [
        os.path.relpath(m, data_dir)
        for m in walk(raw, MANIFEST_SUFFIX)
        if not os.path.exists(m[: -len(MANIFEST_SUFFIX)] + DATA_SUFFIX)
    ]
    quarantine = [os.path.relpath(p, data_dir) for p in walk(os.path.join(data_dir, "quarantine"), "")]
    return {
        "now_ms": int(time.time() * 1000),
        "sealed": sealed,
        "partials": partials,
        "manifests_without_data": orphans,
        "quarantine": quarantine,
    }


def complete_members(blob, flushed_tail=False):
    """Decompressed bytes of each gzip member that reached its end (CRC checked).

    With *flushed_tail*, also the whole lines of a last member still being
    written (one stream per series: sync-flushed after every cycle, closed
    every N cycles), which is where a live partial's newest rows are.
    """
    out = []
    pos = 0
    while pos < len(blob):
        decomp = zlib.decompressobj(wbits=31)
        try:
            data = decomp.decompress(blob[pos:])
        except zlib.error:
            break
        if not decomp.eof:
            if flushed_tail:
                out.append(data[: data.rfind(b"\n") + 1])
            break
        out.append(data)
        consumed = len(blob) - pos - len(decomp.unused_data)
        if consumed <= 0:
            break
        pos += consumed
    return out


def row_problem(row):
    if not isinstance(row, dict):
        return "not an object"
    missing = [k for k in ROW_KEYS if k not in row]
    if missing:
        return "missing " + ",".join(missing)
    if row.get("schema") != ROW_SCHEMA:
        return f"schema {row.get('schema')!r}"
    if not isinstance(row.get("recv_ms"), int):
        return "recv_ms not an integer"
    book = row.get("book")
    if (
        not isinstance(book, dict)
        or not isinstance(book.get("bids"), list)
        or not isinstance(book.get("asks"), list)
    ):
        return "book without bids/asks lists"
    if row.get("book_errors"):
        return "book_errors: " + ",".join(map(str, row["book_errors"]))[:120]
    return None


def group_of(path):
    """``<stem>[-s<series>].jsonl.gz[.partial]`` -> ``<stem>``: the files of one run's hour."""
    name = path[: -len(PARTIAL_SUFFIX)] if path.endswith(PARTIAL_SUFFIX) else path[: -len(DATA_SUFFIX)]
    return SERIES_FILE_RE.sub(r"\1", name)


def mtime_or_zero(path):
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


def rows(data_dir, since_ms, newest_files):
    raw = os.path.join(data_dir, "raw")
    candidates = walk(raw, PARTIAL_SUFFIX) + walk(raw, DATA_SUFFIX)
    candidates.sort(key=mtime_or_zero, reverse=True)
    # N newest files counts a run's hour as one file: its per-series files and its own go together
    groups = []
    for path in candidates:
        if group_of(path) not in groups:
            groups.append(group_of(path))
    chosen = [path for path in candidates if group_of(path) in groups[:newest_files]]
    series = {}
    invalid = []
    total = 0
    newest = 0
    for path in chosen:
        try:
            with open(path, "rb") as handle:
                blob = handle.read()
        except FileNotFoundError:  # sealed (renamed) since the walk
            continue
        for member in complete_members(blob, flushed_tail=path.endswith(PARTIAL_SUFFIX)):
            for line in member.splitlines():
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    invalid.append({"file": os.path.relpath(path, data_dir), "problem": "not JSON"})
                    continue
                recv = row.get("recv_ms") if isinstance(row, dict) else None
                if isinstance(recv, int) and recv < since_ms:
                    continue
                total += 1
                problem = row_problem(row)
                if problem:
                    if len(invalid) < 20:
                        invalid.append({"file": os.path.relpath(path, data_dir), "problem": problem})
                    continue
                newest = max(newest, row["recv_ms"])
                entry = series.setdefault(
                    str(row["series"]), {"rows": 0, "last_recv_ms": 0, "slugs": [], "tokens": []}
                )
                entry["rows"] += 1
                entry["last_recv_ms"] = max(entry["last_recv_ms"], row["recv_ms"])
                if row["slug"] not in entry["slugs"]:
                    entry["slugs"].append(row["slug"])
                if row["token_id"] not in entry["tokens"]:
                    entry["tokens"].append(row["token_id"])
    return {
        "now_ms": int(time.time() * 1000),
        "files": [os.path.relpath(p, data_dir) for p in chosen],
        "rows": total,
        "newest_recv_ms": newest,
        "series": series,
        "invalid": invalid,
    }


DISABLED = "#{marker}-disabled# "


def names_on(line):
    """Host names of an /etc/hosts line (empty for comments and blanks)."""
    fields = line.split("#", 1)[0].split()
    return fields[1:] if len(fields) > 1 else []


def hosts_add(marker, addr, names):
    """Send *names* to *addr*: our line first, and every other line that names
    one of them commented out (marked, so hosts_remove restores it exactly)."""
    with open(HOSTS_FILE, encoding="utf-8") as handle:
        before = handle.read()
    disabled = DISABLED.format(marker=marker)
    kept = []
    shadowed = []
    for line in before.splitlines(keepends=True):
        if marker in line:
            continue
        if set(names_on(line)) & set(names):
            shadowed.append(line.strip())
            kept.append(disabled + line)
        else:
            kept.append(line)
    ours = f"{addr} {' '.join(names)}  # {marker}\n"
    with open(HOSTS_FILE, "w", encoding="utf-8") as handle:
        handle.write(ours + "".join(kept))
        handle.flush()
        os.fsync(handle.fileno())
    return {
        "added": ours.strip(),
        "disabled": shadowed,
        "sha256_before": hashlib.sha256(before.encode()).hexdigest(),
    }


def hosts_remove(marker):
    """Undo hosts_add: drop our line, re-enable the lines it commented out."""
    with open(HOSTS_FILE, encoding="utf-8") as handle:
        before = handle.read()
    disabled = DISABLED.format(marker=marker)
    lines = before.splitlines(keepends=True)
    kept = []
    removed = 0
    for line in lines:
        if line.startswith(disabled):
            kept.append(line[len(disabled) :])
        elif marker in line:
            removed += 1
        else:
            kept.append(line)
    after = "".join(kept)
    if after != before:
        with open(HOSTS_FILE, "w", encoding="utf-8") as handle:
            handle.write(after)
            handle.flush()
            os.fsync(handle.fileno())
    return {"removed": removed, "sha256_after": hashlib.sha256(after.encode()).hexdigest()}


def main(argv):
    if not argv:
        raise SystemExit("usage: probe.py files|rows|hosts-add|hosts-remove ...")
    command, rest = argv[0], argv[1:]
    if command == "files":
        result = files(rest[0], "--hash" in rest)
    elif command == "rows":
        since = int(rest[rest.index("--since-ms") + 1]) if "--since-ms" in rest else 0
        count = int(rest[rest.index("--files") + 1]) if "--files" in rest else 2
        result = rows(rest[0], since, count)
    elif command == "hosts-add":
        result = hosts_add(rest[0], rest[1], rest[2:])
    elif command == "hosts-remove":
        result = hosts_remove(rest[0])
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
