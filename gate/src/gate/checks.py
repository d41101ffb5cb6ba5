"""Host-side steps the gates share. Each takes a ``GateEvidence`` so every
command lands in the report, and each waits by polling with a deadline.

The host layout (paths, account, units) is ``LAYOUT``: the one the inventory
resolves for the host under test (``gate.layout``; the plugin sets it at the
start of the session), ``layout.STANDARD`` until then.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gate import redact
from gate.evidence import GateEvidence, Pending
from gate.layout import STANDARD, HostLayout, LayoutError
from gate.layout import from_pytest as layout_from_pytest

#: The host layout under test (``use_layout``).
LAYOUT: HostLayout = STANDARD


def use_layout(layout: HostLayout) -> None:
    """Check the host against *layout* from now on."""
    global LAYOUT
    LAYOUT = layout


def use_session_layout(config: Any) -> HostLayout:
    """The inventory's layout of the pytest session's host (``gate.layout.from_pytest``),
    used from now on; when it cannot be read, the test asking for it fails saying why."""
    import pytest  # noqa: PLC0415 - only the pytest plugin side needs it

    try:
        found = layout_from_pytest(config)
    except LayoutError as exc:
        pytest.fail(f"cannot read the host layout from the inventory: {exc}", pytrace=False)
    use_layout(found)
    return found


#: The collector's defaults when collector.env leaves a setting out.
DEFAULT_DATA_DIR = "/var/lib/orderbooks"
DEFAULT_INTERVAL_S = 1.0
DEFAULT_SERIES = ("10684", "10192", "10114", "10331", "41")
DEFAULT_GAMMA_URL = "https://gamma-api.polymarket.com"
DEFAULT_CLOB_URL = "https://clob.polymarket.com"
#: After failed discoveries the collector retries at most this many seconds later
#: (``RETRY_SECONDS`` in collector/src/orderbooks/discovery.py: 1 s, doubling, capped).
DISCOVERY_RETRY_S = 8.0

#: The /etc/hosts override of the network gate: a loopback address where
#: nothing listens, never a routable one.
DEAD_ADDRESS = "127.0.0.2"
HOSTS_MARKER = "orderbooks-gate-network-override"

#: How long a service may take to come back, and rows to appear, before a gate fails.
SERVICE_DEADLINE_S = 90.0
ROWS_DEADLINE_S = 90.0


# ---------------------------------------------------------------- settings


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a systemd EnvironmentFile (comments and blanks skipped)."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def read_env(ev: GateEvidence, path: str) -> dict[str, str]:
    """The settings of an environment file; the evidence keeps it with secrets redacted
    (the heartbeat URL, anything named like a password, token or secret)."""
    result = ev.run(f"cat {shlex.quote(path)}", label=f"cat {path}", shown=redact.redact_env)
    assert result.rc == 0, f"cannot read {path}: {result.stderr.strip()}"
    return parse_env(result.stdout)


@dataclass(frozen=True)
class CollectorSettings:
    data_dir: str
    interval_s: float
    series: tuple[str, ...]
    gamma_url: str
    clob_url: str


def collector_settings(ev: GateEvidence) -> CollectorSettings:
    env = read_env(ev, LAYOUT.collector_env_file)
    series = tuple(s.strip() for s in env.get("ORDERBOOKS_SERIES", "").split(",") if s.strip())
    settings = CollectorSettings(
        data_dir=env.get("ORDERBOOKS_DATA_DIR") or DEFAULT_DATA_DIR,
        interval_s=float(env.get("ORDERBOOKS_INTERVAL") or DEFAULT_INTERVAL_S),
        series=series or DEFAULT_SERIES,
        gamma_url=env.get("ORDERBOOKS_GAMMA_URL") or DEFAULT_GAMMA_URL,
        clob_url=env.get("ORDERBOOKS_CLOB_URL") or DEFAULT_CLOB_URL,
    )
    ev.fact("collector_settings", settings.__dict__)
    return settings


def api_hostnames(settings: CollectorSettings) -> list[str]:
    """The API host names of the collector's URLs (an IP literal cannot be overridden)."""
    names: list[str] = []
    for url in (settings.gamma_url, settings.clob_url):
        name = urlsplit(url).hostname or ""
        try:
            ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            raise AssertionError(f"{url} uses an IP address; the network gate needs host names to override")
        if name and name not in names:
            names.append(name)
    return names


# ---------------------------------------------------------------- systemd


def unit_state(ev: GateEvidence, unit: str) -> dict[str, str]:
    props = "ActiveState,SubState,MainPID,NRestarts,Result,ExecMainStatus,UnitFileState,LoadState"
    result = ev.run(f"systemctl show -p {props} {unit}", timeout_s=30)
    assert result.rc == 0, f"systemctl show {unit} failed: {result.stderr.strip()}"
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


#: States a unit passes through on its way to active (e.g. the 1 s of auto-restart).
TRANSITIONAL = ("activating", "reloading", "deactivating")


def require_active(ev: GateEvidence, unit: str | None = None, *, deadline_s: float = 30.0) -> dict[str, str]:
    """The unit (default: the collector) is active now, or becomes so from a
    transitional state within *deadline_s*; a stopped, failed or masked unit fails at once."""
    unit = unit or LAYOUT.collector_unit

    def check() -> Any:
        state = unit_state(ev, unit)
        active = state.get("ActiveState")
        if active == "active":
            return state
        assert active in TRANSITIONAL, (
            f"{unit} is {active}/{state.get('SubState')} (load state {state.get('LoadState')}, "
            f"unit file {state.get('UnitFileState')}), not active"
        )
        return Pending(f"{active}/{state.get('SubState')}")

    return ev.poll(f"{unit} active", check, deadline_s=deadline_s)


def wait_active(
    ev: GateEvidence,
    description: str,
    *,
    other_than_pid: str | None = None,
    deadline_s: float = SERVICE_DEADLINE_S,
) -> dict[str, str]:
    """Poll until the collector is active with a main PID (different from *other_than_pid*)."""

    def check() -> Any:
        state = unit_state(ev, LAYOUT.collector_unit)
        pid = state.get("MainPID", "0")
        if state.get("ActiveState") == "active" and pid not in ("0", other_than_pid):
            return state
        return Pending(f"{state.get('ActiveState')}/{state.get('SubState')} MainPID {pid}")

    return ev.poll(description, check, deadline_s=deadline_s)


def journal_since(ev: GateEvidence, unit: str, since_epoch_s: float) -> list[dict[str, Any]]:
    """The unit's JSON log lines since *since_epoch_s* (other lines are skipped)."""
    result = ev.run(
        f"journalctl -u {unit} --since @{since_epoch_s:.3f} -o cat --no-pager",
        timeout_s=60,
        record_output=False,
    )
    assert result.rc == 0, f"journalctl failed: {result.stderr.strip()}"
    lines = []
    for line in result.stdout.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


def host_now_ms(ev: GateEvidence) -> int:
    result = ev.run("date +%s%3N", timeout_s=10)
    assert result.rc == 0
    return int(result.stdout.strip())


# ---------------------------------------------------------------- data


def sealed_files(ev: GateEvidence, data_dir: str, *, with_hash: bool = True) -> dict[str, Any]:
    return ev.probe("files", data_dir, *(["--hash"] if with_hash else []), timeout_s=600)


def sealed_hashes(listing: dict[str, Any]) -> dict[str, str]:
    return {entry["path"]: entry["sha256"] for entry in listing["sealed"]}


def assert_unchanged(before: dict[str, str], after: dict[str, str]) -> None:
    """Every file sealed before is still there with the same sha256."""
    missing = sorted(set(before) - set(after))
    changed = sorted(p for p in before if p in after and before[p] != after[p])
    assert not missing, f"sealed files disappeared: {missing[:5]}"
    assert not changed, f"sealed files changed: {changed[:5]}"


def wait_rows(
    ev: GateEvidence,
    settings: CollectorSettings,
    since_ms: int,
    description: str,
    *,
    deadline_s: float = ROWS_DEADLINE_S,
    every_series: bool = True,
) -> dict[str, Any]:
    """Poll until rows newer than *since_ms* are on disk (for every configured series
    when *every_series*), all valid."""

    def check() -> Any:
        found = ev.probe("rows", settings.data_dir, "--since-ms", str(since_ms), "--files", "4")
        assert not found["invalid"], f"invalid rows on disk: {found['invalid'][:3]}"
        if found["rows"] == 0:
            return Pending(f"no row newer than {since_ms}")
        if every_series:
            missing = [s for s in settings.series if s not in found["series"]]
            if missing:
                return Pending(f"no new rows yet for series {missing}")
        return found

    return ev.poll(description, check, deadline_s=deadline_s, every_s=max(0.5, settings.interval_s / 2))


def verify_data(ev: GateEvidence, data_dir: str) -> dict[str, Any]:
    """``orderbooks verify DATA_DIR --json`` on the host; asserts exit 0."""
    result = ev.run(f"{LAYOUT.command} verify {shlex.quote(data_dir)} --json", timeout_s=600)
    try:
        summary = json.loads(result.stdout)
    except ValueError:
        summary = {"unparsed": result.stdout[-500:]}
    assert result.rc == 0, (
        f"orderbooks verify exited {result.rc}: {result.stdout[-400:]} {result.stderr[-300:]}"
    )
    return summary


def stem_run_id(path: str) -> str:
    """``.../orderbooks-2026-11-21T10Z-<run_id>.jsonl.gz[.partial]`` -> ``<run_id>``."""
    name = path.rsplit("/", 1)[-1]
    for suffix in (".jsonl.gz.partial", ".jsonl.gz", ".manifest.json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    run_id = name.split("Z-", 1)[1] if "Z-" in name else name
    return run_id.split("-s", 1)[0]  # a per-series file: <run_id>-s<series>


def sealed_of(partial_path: str) -> str:
    return partial_path[: -len(".partial")] if partial_path.endswith(".partial") else partial_path


def now_s() -> float:
    return time.time()


def clear_of_hour_boundary(ev: GateEvidence, margin_s: float = 30.0) -> None:
    """Wait until the next UTC hour boundary is at least *margin_s* away, so a
    forced restart cannot coincide with the collector's own hourly seal."""

    def check() -> Any:
        into_hour = (host_now_ms(ev) / 1000) % 3600
        if into_hour < 3600 - margin_s and into_hour > 2.0:
            return True
        return Pending(f"{into_hour:.0f} s into the hour")

    ev.poll("clear of the hour boundary", check, deadline_s=margin_s + 10, every_s=2.0)


def manifest_of(listing: dict[str, Any], sealed_path: str) -> dict[str, Any] | None:
    for entry in listing["sealed"]:
        if entry["path"] == sealed_path:
            return entry["manifest"] or {}
    return None


def crash_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Log lines that mean the collector hit an unexpected exception."""
    return [
        line
        for line in lines
        if line.get("event") in ("step_crashed", "unhandled_exception")
        or "Traceback" in str(line.get("traceback", ""))
    ]
