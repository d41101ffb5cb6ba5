"""sd_notify without a library: one datagram to ``$NOTIFY_SOCKET``.

``notify("READY=1")`` tells systemd (``Type=notify``) the service is up;
``notify("WATCHDOG=1")`` resets its watchdog (``WatchdogSec=``). Outside
systemd (no ``$NOTIFY_SOCKET``) every call is a no-op that returns False. A
socket name starting with ``@`` is an abstract socket (leading NUL byte).
Sending never raises: a lost notification is logged by the caller at most,
and systemd's own timeouts are the safety net.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

ENV_SOCKET = "NOTIFY_SOCKET"


def socket_address(name: str) -> str | bytes:
    """The address for ``connect``: ``@x`` -> ``b"\\0x"`` (abstract namespace)."""
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send *state* (e.g. ``"READY=1"``); True when a datagram was sent."""
    env = os.environ if environ is None else environ
    name = env.get(ENV_SOCKET, "")
    if not name or not (name.startswith("/") or name.startswith("@")):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(socket_address(name))
            sock.sendall(state.encode())
    except OSError:
        return False
    return True
