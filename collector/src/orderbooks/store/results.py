"""The offload runs' own records under DATA_DIR/uploads/: written and read here.

- ``uploads/runs/<upload_run_id>.json``: one manifest per upload run;
- ``uploads/last-upload.json``: the newest upload's result (also an upload that
  could not start), for alarms;
- ``uploads/last-prune.json``: the newest prune's result, for alarms.

Each is a JSON document replaced atomically (mode 0640); what they hold is
decided by ``offload.upload`` and ``offload.prune``, and ``health.status``
reads the newest results back (``read_last_upload``, ``read_last_prune``),
tolerating a missing or torn file. The ledger beside them is ``ledger.py``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from orderbooks.store import paths
from orderbooks.store.atomic import atomic_write_json

UPLOAD_RUNS_DIR = "runs"


def uploads_folder(data_dir: Path) -> Path:
    return Path(data_dir) / paths.UPLOADS_DIR


def upload_run_path(data_dir: Path, run_id: str) -> Path:
    return uploads_folder(data_dir) / UPLOAD_RUNS_DIR / f"{run_id}.json"


def write_upload_run(data_dir: Path, run_id: str, document: dict[str, Any]) -> Path:
    """Write an upload run's manifest, then make it the newest result; its path. OSError is the caller's."""
    target = upload_run_path(data_dir, run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(target, document)
    atomic_write_json(uploads_folder(data_dir) / paths.LAST_UPLOAD_NAME, document)
    return target


def write_last_upload(data_dir: Path, document: dict[str, Any]) -> None:
    """Make *document* the newest upload result (an upload that could not start has no run manifest)."""
    uploads_folder(data_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_json(uploads_folder(data_dir) / paths.LAST_UPLOAD_NAME, document)


def write_last_prune(data_dir: Path, document: dict[str, Any]) -> None:
    """Make *document* the newest prune result. OSError is the caller's."""
    atomic_write_json(uploads_folder(data_dir) / paths.LAST_PRUNE_NAME, document)


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


def read_last_upload(data_dir: Path) -> dict[str, Any] | None:
    """The newest upload's result, None when missing, unreadable or not a JSON object."""
    return _read_result(uploads_folder(data_dir) / paths.LAST_UPLOAD_NAME)


def read_last_prune(data_dir: Path) -> dict[str, Any] | None:
    """The newest prune's result, None when missing, unreadable or not a JSON object."""
    return _read_result(uploads_folder(data_dir) / paths.LAST_PRUNE_NAME)
