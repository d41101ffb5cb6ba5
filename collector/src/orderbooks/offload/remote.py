"""The remote an offload talks to: ``REMOTE:PATH``, where a file goes on it, and whether rclone can reach it.

``prepare_rclone`` checks, in this order, the remote's form, the rclone
binary, the rclone config (found as rclone finds it, private, readable) and
that the config names the remote; any failure is a ``PreconditionError``
with one clear message, before anything is touched. Upload and prune call it.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from orderbooks.offload.rclone import Rclone, RcloneError, find_binary

REMOTE_RE = re.compile(r"^(?P<name>[A-Za-z0-9_. @+-]+):(?P<path>.*)$")


class PreconditionError(Exception):
    """Something outside the data is wrong (binary, config, remote); nothing was touched."""


def parse_remote(remote: str) -> str:
    """``gdrive:orderbooks`` -> ``gdrive``; anything else is a PreconditionError."""
    match = REMOTE_RE.match(remote or "")
    if not match:
        raise PreconditionError(f"--remote {remote!r} is not REMOTE:PATH with a named remote from the config")
    return match["name"]


def remote_path_for(remote: str, rel: str) -> str:
    if remote.endswith(":") or remote.endswith("/"):
        return remote + rel
    return f"{remote}/{rel}"


def rclone_default_config(environ: dict[str, str] | None = None) -> Path:
    """rclone's own default: $XDG_CONFIG_HOME/rclone/rclone.conf, else ~/.config/rclone/rclone.conf."""
    environ = dict(os.environ) if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    return Path(base) / "rclone" / "rclone.conf"


def find_config(
    config: str | os.PathLike[str] | None, environ: dict[str, str] | None = None
) -> tuple[Path, str]:
    """Where the rclone config is, as rclone looks: (path, which setting named it).

    1. --rclone-config (or ORDERBOOKS_RCLONE_CONFIG, which the CLI turns into it);
    2. RCLONE_CONFIG; 3. rclone's default path. None of them -> PreconditionError naming all three.
    """
    environ = dict(os.environ) if environ is None else environ
    if config:
        return Path(config), "--rclone-config/ORDERBOOKS_RCLONE_CONFIG"
    if environ.get("RCLONE_CONFIG"):
        return Path(environ["RCLONE_CONFIG"]), "RCLONE_CONFIG"
    default = rclone_default_config(environ)
    if default.exists():
        return default, "rclone's default path"
    raise PreconditionError(
        "no rclone config: looked at --rclone-config and ORDERBOOKS_RCLONE_CONFIG (not set), "
        f"RCLONE_CONFIG (not set) and rclone's default path {default} (does not exist)"
    )


def check_config(config: str | os.PathLike[str] | None, environ: dict[str, str] | None = None) -> Path:
    path, source = find_config(config, environ)
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise PreconditionError(f"rclone config {path} (from {source}) does not exist") from exc
    except OSError as exc:
        raise PreconditionError(f"rclone config {path} cannot be read: {exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise PreconditionError(f"rclone config {path} is not a regular file")
    if info.st_mode & 0o077:
        raise PreconditionError(
            f"rclone config {path} has mode {stat.S_IMODE(info.st_mode):04o}: it holds credentials, "
            f"make it private (chmod 600 {path})"
        )
    if not os.access(path, os.R_OK):
        raise PreconditionError(f"rclone config {path} is not readable by this user")
    return path


def prepare_rclone(
    *,
    remote: str,
    config: str | os.PathLike[str] | None,
    binary: str | None,
    retries: int = 3,
    timeout_s: float = 60.0,
    bwlimit: str | None = None,
    environ: dict[str, str] | None = None,
) -> tuple[Rclone, str]:
    """Check binary, config and remote name, in that order; return (rclone, version)."""
    name = parse_remote(remote)
    found = find_binary(binary)
    if found is None:
        where = f"at {binary}" if binary else "on PATH"
        raise PreconditionError(f"rclone binary not found {where} (install rclone or set --rclone-binary)")
    config_path = check_config(config, environ)
    rclone = Rclone(found, config_path, retries=retries, timeout_s=timeout_s, bwlimit=bwlimit)
    try:
        version = rclone.version()
        remotes = rclone.listremotes()
    except RcloneError as exc:
        raise PreconditionError(f"rclone at {found} does not work with {config_path}: {exc}") from exc
    if name not in remotes:
        known = ", ".join(remotes) or "none"
        raise PreconditionError(f"remote {name!r} is not in {config_path} (remotes there: {known})")
    return rclone, version
