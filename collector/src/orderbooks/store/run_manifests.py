"""Run manifests as a set: DATA_DIR/runs/<run_id>.json, listed, loaded and written.

One run manifest describes one run (a collector process, or a merge that made
a derived folder). ``manifest.new_run_manifest`` builds one and
``sealed.load_run_manifest`` is the one definition of a valid one; this module
finds them in a folder (``paths_in``, ``load_all``, ``load``) and writes one
(``write``), so readers such as ``orderbooks quality`` never list runs/
themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orderbooks.store import manifest, paths, sealed


def paths_in(data_dir: Path) -> list[Path]:
    """Every ``runs/*.json`` of *data_dir* in file-name order (none when runs/ is missing)."""
    runs_dir = Path(data_dir) / paths.RUNS_DIR
    return sorted(runs_dir.glob("*.json")) if runs_dir.is_dir() else []


def load(data_dir: Path, run_id: str) -> dict[str, Any] | None:
    """The run manifest of *run_id* as written, if ``sealed.load_run_manifest`` accepts it."""
    try:
        return sealed.load_run_manifest(manifest.run_manifest_path(data_dir, run_id)).document
    except sealed.ManifestProblem:
        return None


def load_all(data_dir: Path) -> list[dict[str, Any]]:
    """Every run manifest of *data_dir* that ``sealed.load_run_manifest`` accepts, as written,
    in file-name order; the others are skipped."""
    out = []
    for path in paths_in(data_dir):
        try:
            out.append(sealed.load_run_manifest(path).document)
        except sealed.ManifestProblem:
            continue
    return out


def write(data_dir: Path, run: dict[str, Any]) -> Path:
    """Write the run manifest *run* (``run["run_id"]``) atomically, creating runs/; its path."""
    target = manifest.run_manifest_path(data_dir, run["run_id"])
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_manifest(target, run)
    return target
