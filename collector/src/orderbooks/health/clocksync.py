"""Is the system clock synchronised? Asked of the kernel, readable by any user.

``adjtimex(2)`` with no modes only reads the kernel's NTP state: it returns
``TIME_ERROR`` (5) while no time daemon has synchronised the clock. Inside the
collector's sandbox (``ProtectClock=yes``) the call is refused; then
``timedatectl show -p NTPSynchronized`` answers, or the result is unknown.

In a container (``systemd-detect-virt --container``, e.g. the disposable
systemd-nspawn VPS of the tests) the clock and its sync state belong to the
host, which the container cannot change or fix; ``ClockState.container`` says
so and ``orderbooks status`` reports it instead of raising ``clock_unsynced``.
On a real VPS (a virtual machine, not a container) the alarm applies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

TIME_ERROR = 5
_TIMEX_BYTES = 512  # larger than struct timex on every Linux ABI


@dataclass(frozen=True)
class ClockState:
    synchronized: bool | None  # None: could not tell
    source: str  # how it was asked
    container: str | None = None  # container type when the clock is the host's


def kernel_synchronized() -> bool | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        buf = ctypes.create_string_buffer(_TIMEX_BYTES)  # modes = 0: read only
        state = libc.adjtimex(buf)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR


def timedatectl_synchronized() -> bool | None:
    binary = shutil.which("timedatectl")
    if binary is None:
        return None
    try:
        out = subprocess.run(
            [binary, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value)


def container_type() -> str | None:
    """The container this runs in (``systemd-nspawn``, ``docker``, ...) or None."""
    try:
        text = Path("/run/systemd/container").read_text().strip()
        if text:
            return text
    except OSError:
        pass
    binary = shutil.which("systemd-detect-virt")
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "--container"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return value if out.returncode == 0 and value and value != "none" else None


def clock_state() -> ClockState:
    synced = kernel_synchronized()
    source = "adjtimex"
    if synced is None:
        synced = timedatectl_synchronized()
        source = "timedatectl" if synced is not None else "unknown"
    return ClockState(synced, source, container_type())
