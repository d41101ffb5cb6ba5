"""The host layout the gate and the host tests check: paths, account and unit names.

It is written once, as the ``orderbooks_common_*`` defaults of the roles
(roles/orderbooks_common/defaults/main.yml), and read here the way site.yml
resolves it for a host (role defaults, group_vars, inventory, extra vars):
``ansible-playbook ansible/layout.yml`` prints it without contacting the host.
A deployment run with ``-e`` layout values is judged with the same values
(``verify-host --extra-vars``, pytest ``--layout-extra-vars``).
``STANDARD`` is the gate's own expectation of the default layout, used when no
inventory is given; tests/unit/test_gate_constants.py pins it to the roles.

This is Ansible's description of the host, not collector code: the gate still
never imports the collector it judges.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO / "ansible" / "layout.yml"
PREFIX = "orderbooks_common_"
TIMEOUT_S = 180


class LayoutError(RuntimeError):
    """The layout could not be read from the inventory."""


@dataclass(frozen=True)
class HostLayout:
    user: str
    group: str
    upload_user: str
    code_root: str
    releases_path: str
    current_path: str
    command: str
    rclone_binary: str
    data_dir: str
    config_dir: str
    collector_env_file: str
    upload_env_file: str
    rclone_config_dir: str
    rclone_config_file: str
    metrics_file: str
    collector_unit: str
    upload_unit: str
    upload_timer: str
    release_pattern: str

    @property
    def units(self) -> tuple[str, str]:
        """The two services (the timer starts the upload service)."""
        return (self.collector_unit, self.upload_unit)

    @classmethod
    def from_common(cls, values: dict[str, object]) -> HostLayout:
        """From the resolved ``orderbooks_common_*`` variables (other keys ignored)."""
        names = cls.__dataclass_fields__
        missing = [f"{PREFIX}{n}" for n in names if f"{PREFIX}{n}" not in values]
        if missing:
            raise LayoutError(f"the layout lacks {', '.join(missing)}")
        return cls(**{n: str(values[f"{PREFIX}{n}"]) for n in names})

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


STANDARD = HostLayout(
    user="orderbooks",
    group="orderbooks",
    upload_user="orderbooks-upload",
    code_root="/opt/orderbooks",
    releases_path="/opt/orderbooks/releases",
    current_path="/opt/orderbooks/current",
    command="/opt/orderbooks/current/venv/bin/orderbooks",
    rclone_binary="/opt/orderbooks/current/venv/bin/rclone",
    data_dir="/var/lib/orderbooks",
    config_dir="/etc/orderbooks",
    collector_env_file="/etc/orderbooks/collector.env",
    upload_env_file="/etc/orderbooks/upload.env",
    rclone_config_dir="/etc/orderbooks/rclone",
    rclone_config_file="/etc/orderbooks/rclone/rclone.conf",
    metrics_file="/var/lib/prometheus/node-exporter/orderbooks.prom",
    collector_unit="orderbooks-collector.service",
    upload_unit="orderbooks-upload.service",
    upload_timer="orderbooks-upload.timer",
    release_pattern="^[0-9]{8}T[0-9]{6}Z$",
)


def playbook_bin() -> str:
    candidate = Path(sys.executable).with_name("ansible-playbook")
    return str(candidate) if candidate.exists() else "ansible-playbook"


def parse_output(text: str) -> dict[str, dict[str, object]]:
    """``host | SUCCESS => {...}`` blocks of the minimal callback -> {host: layout values}."""
    decoder = json.JSONDecoder()
    found: dict[str, dict[str, object]] = {}
    marker = " | SUCCESS => "
    start = 0
    while (at := text.find(marker, start)) >= 0:
        host = text[text.rfind("\n", 0, at) + 1 : at].strip()
        result, end = decoder.raw_decode(text, at + len(marker))
        start = end
        msg = result.get("msg") if isinstance(result, dict) else None
        if isinstance(msg, dict) and any(str(k).startswith(PREFIX) for k in msg):
            found[host] = msg
    return found


def _extra_vars_argv(extra_vars: Sequence[str]) -> list[str]:
    """``-e`` arguments for ansible-playbook; a relative ``@file`` is relative to the current folder."""
    argv: list[str] = []
    for given in extra_vars:
        value = given
        if given.startswith("@"):
            path = Path(given[1:]).resolve()
            if not path.is_file():
                raise LayoutError(f"extra-vars file {given[1:]} does not exist")
            value = f"@{path}"
        argv += ["-e", value]
    return argv


def resolve_all(
    inventory: str | Path, *, limit: str | None = None, extra_vars: Sequence[str] = ()
) -> dict[str, HostLayout]:
    """The layout of every host of the inventory's ``orderbooks`` group (or of *limit*).
    A relative *inventory* is relative to the current folder (the playbook runs in ansible/).
    *extra_vars* are the ``-e`` values the deployment was run with (``key=value``, JSON or ``@file``)."""
    source = Path(inventory).resolve()
    if not source.exists():
        raise LayoutError(f"inventory {inventory} does not exist")
    argv = [playbook_bin(), str(PLAYBOOK), "-i", str(source), *_extra_vars_argv(extra_vars)]
    if limit:
        argv += ["--limit", limit]
    env = dict(
        os.environ,
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal",
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_DEPRECATION_WARNINGS="False",
    )
    try:
        done = subprocess.run(
            argv, cwd=PLAYBOOK.parent, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LayoutError(f"ansible-playbook layout.yml timed out after {TIMEOUT_S} s") from exc
    if done.returncode != 0:
        raise LayoutError(f"ansible-playbook layout.yml failed: {(done.stdout + done.stderr).strip()[-600:]}")
    layouts = {host: HostLayout.from_common(values) for host, values in parse_output(done.stdout).items()}
    if not layouts:
        shown = (done.stdout + done.stderr).strip()[-400:]
        raise LayoutError(f"no host of {inventory} matched {limit or 'orderbooks'}: {shown}")
    return layouts


def resolve(inventory: str | Path, host: str | None = None, extra_vars: Sequence[str] = ()) -> HostLayout:
    """The layout of *host* (a host name or pattern); every host it selects must agree."""
    layouts = resolve_all(inventory, limit=host, extra_vars=extra_vars)
    distinct = set(layouts.values())
    if len(distinct) != 1:
        raise LayoutError(f"hosts {sorted(layouts)} have different layouts; pick one")
    return distinct.pop()


def from_pytest(config) -> HostLayout:
    """The layout of testinfra's ``--hosts=ansible://<pattern>`` in ``--ansible-inventory``
    (STANDARD without an inventory) with the session's ``--layout-extra-vars``, resolved once per session."""
    cached = getattr(config, "_orderbooks_layout", None)
    if cached is not None:
        return cached
    inventory = config.getoption("ansible_inventory", default=None)
    hosts = config.getoption("hosts", default=None) or []
    if isinstance(hosts, str):
        hosts = [h for h in hosts.split(",") if h]
    patterns = [h.split("://", 1)[1] for h in hosts if h.startswith("ansible://")]
    extra_vars = config.getoption("layout_extra_vars", default=None) or []
    layout = resolve(inventory, ":".join(patterns) or None, extra_vars) if inventory else STANDARD
    config._orderbooks_layout = layout
    return layout
