"""Run a function as an unprivileged user, so that a folder's mode is obeyed.

Tests run as root in CI, and root reads a folder of mode 000 all the same. A
test of "the service user cannot read this folder" therefore builds its data
folder in ``service_dir()`` (outside pytest's root-only temporary folder, owned
by ``nobody`` when we are root) and calls the code under test through
``as_service_user``: as root, in a forked child that dropped to ``nobody``
(uid/gid 65534) before calling, the result coming back pickled; as any other
user, directly (the mode is obeyed already).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

NOBODY = 65534
T = TypeVar("T")


def hand_over(path: Path) -> None:
    """Give *path* and everything under it to ``nobody`` (nothing to do unless we are root)."""
    if os.geteuid() != 0:
        return
    os.lchown(path, NOBODY, NOBODY)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), NOBODY, NOBODY)


@contextmanager
def service_dir(prefix: str = "ob-service-") -> Iterator[Path]:
    """A fresh folder the service user can enter; removed afterwards (modes restored first)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        for dirpath, dirnames, _filenames in os.walk(folder):
            for name in dirnames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o755)
        shutil.rmtree(folder, ignore_errors=True)


def as_service_user(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` as an unprivileged user (see the module docstring)."""
    if os.geteuid() != 0:
        return fn(*args, **kwargs)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, call, send the result back, exit at once
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                payload = pickle.dumps(("ok", fn(*args, **kwargs)))
            except BaseException as exc:
                payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as received:
        data = received.read()
    os.waitpid(pid, 0)
    if not data:
        raise RuntimeError("the unprivileged child returned nothing")
    status, value = pickle.loads(data)
    if status != "ok":
        raise RuntimeError(f"as the service user: {value}")
    return value
