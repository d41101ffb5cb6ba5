"""The collector's health state file, DATA_DIR/state/collector.json: written and read here.

``health.tracker`` decides what the state holds (its fields are listed there)
and when it is saved; ``health.status`` reads it. The file is replaced
atomically (temporary file + rename), mode 0640 in a 0750 folder, so any
member of the data folder's group can read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from orderbooks.store import paths
from orderbooks.store.atomic import atomic_write_bytes

STATE_DIR_MODE = 0o750
STATE_MODE = 0o640


def state_path(data_dir: Path) -> Path:
    return Path(data_dir) / paths.STATE_DIR / paths.STATE_NAME


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The state file's contents, or None when missing or torn; PermissionError propagates."""
    try:
        state = orjson.loads(state_path(data_dir).read_bytes())
    except (FileNotFoundError, NotADirectoryError, orjson.JSONDecodeError):
        return None
    return state if isinstance(state, dict) else None


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    """Replace the state file with *state* (creating DATA_DIR/state); OSError is the caller's."""
    path = state_path(data_dir)
    path.parent.mkdir(mode=STATE_DIR_MODE, exist_ok=True)
    atomic_write_bytes(path, orjson.dumps(state), mode=STATE_MODE)
