"""No secret in the gate's report: what the gate keeps of the inventory, of the
settings files it reads on the host and of its own command lines.

The inventory holds the host's secrets (``ansible_become_password``, the
vault's ``vault_rclone_*`` values, rclone options and tokens, the heartbeat
URL), and so does ``ansible-inventory --list`` (every host's variables). The
gate records what it runs as evidence, so each record passes through here:

- the inventory listing is kept as host names and groups only
  (``inventory_outline``): no variable at all, whatever its name;
- a ``KEY=VALUE`` settings file keeps its keys, and the value of every key
  whose name says secret (``SECRET_NAME``) becomes ``<redacted>`` (a URL
  keeps its scheme and host, ``redact_url``);
- ``-e``/``--extra-vars``/``--layout-extra-vars`` values keep their names and
  lose secret values the same way (a ``@file`` is only its name);
- last, every value the inventory gives a secret-named variable
  (``secret_values``) is replaced wherever it still appears (``scrub``), in the
  manifest and the pytest log, before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

REDACTED = "<redacted>"
#: A variable or setting whose name says it holds a secret.
SECRET_NAME = re.compile(
    r"pass|secret|token|vault|heartbeat|credential|private|api_?key|auth|cookie|session|bearer", re.IGNORECASE
)
#: Values shorter than this are not scrubbed as text (too likely to hit ordinary words).
MIN_SCRUB_LENGTH = 6
#: Options whose value is an Ansible extra-vars value.
EXTRA_VARS_OPTIONS = ("-e", "--extra-vars", "--layout-extra-vars")


def is_secret_name(name: object) -> bool:
    return bool(SECRET_NAME.search(str(name)))


def redact_url(value: str) -> str:
    """``scheme://host[:port]/<redacted>`` for an http(s) URL, else ``<redacted>``."""
    try:
        parts = urlsplit(value.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return REDACTED
    if parts.scheme not in ("http", "https") or not host:
        return REDACTED
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{f':{port}' if port is not None else ''}/{REDACTED}"


def redact_value(value: Any) -> Any:
    """A secret value as the report shows it."""
    if isinstance(value, str) and value.strip().startswith(("http://", "https://")):
        return redact_url(value)
    return REDACTED if value not in (None, "") else value


def redact_mapping(value: Any) -> Any:
    """*value* with the value of every secret-named key (at any depth) redacted."""
    if isinstance(value, Mapping):
        return {k: redact_value(v) if is_secret_name(k) else redact_mapping(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_mapping(v) for v in value]
    return value


def inventory_outline(text: str) -> str:
    """``ansible-inventory --list`` output reduced to its groups' host names and children."""
    try:
        data = json.loads(text)
    except ValueError:
        return f"[{len(text)} characters withheld: not JSON]"
    if not isinstance(data, dict):
        return f"[{len(text)} characters withheld]"
    outline = {
        group: {key: list(body.get(key, [])) for key in ("hosts", "children") if body.get(key)}
        for group, body in data.items()
        if group != "_meta" and isinstance(body, dict)
    }
    return json.dumps(outline, sort_keys=True) + "\n(variables withheld: hostvars are not recorded)"


def redact_env(text: str) -> str:
    """A ``KEY=VALUE`` settings file with the values of secret-named keys redacted."""
    lines = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith(("#", ";")) and is_secret_name(key):
            quote = value.strip()[:1] if value.strip()[:1] in ("'", '"') else ""
            lines.append(f"{key}={quote}{redact_value(value.strip().strip(quote))}{quote}")
        else:
            lines.append(line)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def redact_extra_vars(value: str) -> str:
    """One Ansible extra-vars value (``k=v k2=v2``, JSON/YAML mapping or ``@file``), secrets redacted."""
    text = value.strip()
    if text.startswith("@"):
        return value
    if text.startswith("{"):
        try:
            return json.dumps(redact_mapping(json.loads(text)))
        except ValueError:
            return REDACTED
    try:
        words = shlex.split(text)
    except ValueError:
        return REDACTED
    shown = []
    for word in words:
        key, sep, item = word.partition("=")
        shown.append(f"{key}={redact_value(item)}" if sep and is_secret_name(key) else word)
    return " ".join(shown)


def redact_argv(argv: Iterable[str]) -> list[str]:
    """A command line with its extra-vars values redacted (``-e V``, ``--extra-vars=V``, ...)."""
    out: list[str] = []
    next_is_value = False
    for arg in argv:
        if next_is_value:
            out.append(redact_extra_vars(arg))
            next_is_value = False
            continue
        name, sep, value = arg.partition("=")
        if name in EXTRA_VARS_OPTIONS and sep:
            out.append(f"{name}={redact_extra_vars(value)}")
        else:
            out.append(arg)
            next_is_value = arg in EXTRA_VARS_OPTIONS
    return out


def secret_values(variables: Any) -> set[str]:
    """Every text value under a secret-named key of *variables* (hostvars), at any depth."""
    found: set[str] = set()

    def every_text(value: Any) -> None:
        if isinstance(value, str):
            if len(value.strip()) >= MIN_SCRUB_LENGTH:
                found.add(value.strip())
                # A URL's credential is its path (a heartbeat URL) or its password.
                if value.strip().startswith(("http://", "https://")):
                    with contextlib.suppress(ValueError):
                        parts = urlsplit(value.strip())
                        for part in (parts.path.strip("/"), parts.password or "", parts.query):
                            if len(part) >= MIN_SCRUB_LENGTH:
                                found.add(part)
                # A JSON token also appears as its parts (access_token, refresh_token, ...).
                if value.strip().startswith("{"):
                    with contextlib.suppress(ValueError):
                        every_text(json.loads(value))
        elif isinstance(value, Mapping):
            for item in value.values():
                every_text(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                every_text(item)

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if is_secret_name(key):
                    every_text(item)
                else:
                    walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(variables)
    return found


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """*value* (a manifest, a text) with every one of *secrets* replaced by ``<redacted>``."""
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not ordered:
        return value

    def text(item: str) -> str:
        for secret in ordered:
            if secret in item:
                item = item.replace(secret, REDACTED)
        return item

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return text(item)
        if isinstance(item, Mapping):
            return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        if isinstance(item, tuple):
            return tuple(walk(v) for v in item)
        return item

    return walk(value)
