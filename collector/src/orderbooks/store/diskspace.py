"""Free-space floor: write rows only while the data folder's file system has room.

``DiskFloor.check()`` is called before a data file opens and before each
flush. Below the floor it returns False, logs once at level error when the
pause starts (and again every ``repeat_s`` seconds while it lasts), and logs
at level warning when space is back and writing resumes.

The probe is injectable so tests can simulate a full disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from orderbooks.logs import Logger, get_logger

DEFAULT_FLOOR_BYTES = 1 << 30


def free_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes available to an unprivileged user on the file system holding *path*."""
    stats = os.statvfs(os.fspath(path))
    return stats.f_bavail * stats.f_frsize


@dataclass
class DiskFloor:
    path: Path
    floor_bytes: int = DEFAULT_FLOOR_BYTES
    _: KW_ONLY
    probe: Callable[[Path], int] = free_bytes
    monotonic: Callable[[], float] | None = None
    repeat_s: float = 60.0
    log: Logger = field(default_factory=lambda: get_logger("diskspace"))
    paused: bool = field(default=False, init=False)
    last_free: int | None = field(default=None, init=False)
    _last_loud: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.floor_bytes < 0:
            raise ValueError(f"disk floor must be >= 0 bytes, got {self.floor_bytes}")
        self.path = Path(self.path)

    def check(self) -> bool:
        """True when there is room to write (free >= floor)."""
        try:
            free = self.probe(self.path)
        except OSError as exc:
            # Cannot tell: let the write itself decide (an ENOSPC is handled there).
            self.log.warning("disk_probe_failed", path=str(self.path), error=str(exc))
            return True
        self.last_free = free
        now = self.monotonic() if self.monotonic else None
        if free < self.floor_bytes:
            loud_again = (
                now is not None and self._last_loud is not None and now - self._last_loud >= self.repeat_s
            )
            if not self.paused or loud_again:
                self.log.error(
                    "disk_floor_reached",
                    path=str(self.path),
                    free_bytes=free,
                    floor_bytes=self.floor_bytes,
                    action="rows are not written until free space is back above the floor",
                )
                self._last_loud = now
            self.paused = True
            return False
        if self.paused:
            self.log.warning(
                "disk_floor_cleared", path=str(self.path), free_bytes=free, floor_bytes=self.floor_bytes
            )
            self.paused = False
        return True
