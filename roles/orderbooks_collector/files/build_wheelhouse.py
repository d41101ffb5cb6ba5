"""Build the collector's wheel and a wheelhouse of its pinned dependencies (runs on the controller).

    python build_wheelhouse.py --source collector --constraints requirements-dev.txt --cache DIR

The wheelhouse is keyed by a content hash of its inputs (the source tree, the
constraints file and the Python version), so an unchanged checkout reuses the
cached wheelhouse and the deploy sees the same content hash: no new release.
Every dependency must be pinned by the constraints file; an unpinned one is an
error. Prints one JSON object: content_hash, version, python, wheelhouse,
project_wheel, wheels, built (false when taken from the cache).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SKIP_DIRS = {"build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")
INFO_NAME = "wheelhouse.json"
#: Cached wheelhouses kept on the controller (newest first); older ones are removed after a build.
KEEP_CACHED = 5


def source_files(source: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in filenames:
            if not name.endswith(SKIP_SUFFIXES):
                found.append(Path(dirpath) / name)
    return sorted(found)


def content_hash(source: Path, constraints: Path, python: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"python={python}\n".encode())
    digest.update(b"constraints\0" + constraints.read_bytes() + b"\0")
    for path in source_files(source):
        digest.update(path.relative_to(source).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def pins(constraints: Path) -> dict[str, str]:
    found = {}
    for line in constraints.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build(source: Path, constraints: Path, out: Path, project: str) -> dict:
    """Build into a temporary folder beside *out*, then rename it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        src_copy = tmp / "src"
        shutil.copytree(
            source,
            src_copy,
            ignore=lambda _d, names: [
                n for n in names if n in SKIP_DIRS or n.endswith(".egg-info") or n.endswith(SKIP_SUFFIXES)
            ],
        )
        wheels = tmp / "wheels"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--constraint",
            str(constraints),
            "--wheel-dir",
            str(wheels),
            str(src_copy),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"build_wheelhouse: pip wheel failed:\n{result.stdout}{result.stderr}")
        pinned = pins(constraints)
        files = sorted(wheels.glob("*.whl"))
        project_wheel = None
        version = None
        for wheel in files:
            name, wheel_version = wheel.name.split("-")[:2]
            if normalize(name) == normalize(project):
                project_wheel, version = wheel.name, wheel_version
            elif pinned.get(normalize(name)) != wheel_version:
                raise SystemExit(
                    f"build_wheelhouse: dependency {name} {wheel_version} is not pinned by {constraints}"
                )
        if project_wheel is None:
            raise SystemExit(f"build_wheelhouse: pip built no wheel for {project}")
        shutil.rmtree(src_copy)
        info = {
            "version": version,
            "project_wheel": project_wheel,
            "wheels": [{"name": w.name, "sha256": sha256_of(w)} for w in files],
        }
        (tmp / INFO_NAME).write_text(json.dumps(info, indent=2) + "\n")
        try:
            os.replace(tmp, out)
        except OSError:
            # A concurrent build of the same key (same content) finished first: use it.
            if not (out / INFO_NAME).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return json.loads((out / INFO_NAME).read_text())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def prune_cache(cache: Path, keep: Path) -> None:
    """Remove cached wheelhouses beyond the newest KEEP_CACHED (never *keep*)."""
    entries = sorted(
        (p for p in cache.iterdir() if p.is_dir() and (p / INFO_NAME).is_file() and p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in entries[KEEP_CACHED - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="the collector project folder")
    parser.add_argument("--constraints", type=Path, required=True, help="pins for every dependency")
    parser.add_argument("--cache", type=Path, required=True, help="controller cache of wheelhouses")
    parser.add_argument("--project", default="orderbooks", help="distribution name of the collector")
    args = parser.parse_args()
    source, constraints, cache = args.source.resolve(), args.constraints.resolve(), args.cache.resolve()
    if not (source / "pyproject.toml").is_file():
        raise SystemExit(f"build_wheelhouse: {source} has no pyproject.toml")
    if not constraints.is_file():
        raise SystemExit(f"build_wheelhouse: constraints file {constraints} not found")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    key = content_hash(source, constraints, python)
    out = cache / key[:20]
    built = False
    if (out / INFO_NAME).is_file():
        info = json.loads((out / INFO_NAME).read_text())
    else:
        info = build(source, constraints, out, args.project)
        built = True
        prune_cache(cache, keep=out)
    info.update({"content_hash": key, "python": python, "wheelhouse": str(out), "built": built})
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
