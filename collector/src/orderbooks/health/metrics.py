"""Prometheus text format from a ``status.Status``, written atomically.

The node-exporter textfile collector reads ``*.prom`` files from one folder
(Debian's ``prometheus-node-exporter``: /var/lib/prometheus/node-exporter).
``write(path, status)`` writes a temporary file in the same folder and
renames it over *path*, so node-exporter never reads half a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orderbooks.health.status import ALARMS, Status
from orderbooks.store.atomic import atomic_write_bytes


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


#: Each metric's type and help text, in the order the file lists them.
METRICS: dict[str, tuple[str, str]] = {
    "orderbooks_last_row_timestamp_seconds": ("gauge", "UTC time of the last written row."),
    "orderbooks_rows_total": ("counter", "Rows written by the running collector."),
    "orderbooks_rows_last_hour": ("gauge", "Rows written in the last hour."),
    "orderbooks_rows_lost_total": (
        "counter",
        "Rows the running collector received but could not write (write errors).",
    ),
    "orderbooks_failures_total": ("counter", "Failure records of the running collector by class."),
    "orderbooks_tracked_tokens": ("gauge", "Tokens polled in the last cycle per series."),
    "orderbooks_tracked_markets": ("gauge", "Markets polled in the last cycle per series."),
    "orderbooks_restarts_24h": ("gauge", "Collector starts in the last 24 h, minus one."),
    "orderbooks_disk_free_bytes": ("gauge", "Free bytes on the data folder's file system."),
    "orderbooks_offload_oldest_unverified_age_seconds": (
        "gauge",
        "Age of the oldest sealed file not yet verified on the remote (0: none).",
    ),
    "orderbooks_alarm": ("gauge", "1 while the alarm is active (docs/operations.md)."),
    "orderbooks_healthy": ("gauge", "1 when no alarm is active."),
    "orderbooks_metrics_timestamp_seconds": ("gauge", "When this file was written."),
}


def render(status: Status, now_ms: int) -> str:
    report = status.report
    collector = report.get("collector") or {}
    series = sorted((collector.get("series") or {}).items())
    failures = sorted((collector.get("failures_total_this_run") or {}).items())
    disk = report.get("disk") or {}
    offload = report.get("offload") or {}
    active = {a["name"] for a in status.alarms}
    last_row_age = collector.get("last_row_age_s")
    last_row = round(now_ms / 1000 - last_row_age, 3) if last_row_age is not None else None
    # (labels, value) of each metric; a value of None is left out
    samples: dict[str, list[tuple[str, Any]]] = {
        "orderbooks_last_row_timestamp_seconds": [("", last_row)],
        "orderbooks_rows_total": [("", collector.get("rows_total_this_run", 0))],
        "orderbooks_rows_last_hour": [("", collector.get("rows_last_hour", 0))],
        "orderbooks_rows_lost_total": [("", collector.get("rows_lost_total_this_run", 0))],
        "orderbooks_failures_total": [(f'{{kind="{_label(kind)}"}}', n) for kind, n in failures],
        "orderbooks_tracked_tokens": [
            (f'{{series="{_label(sid)}"}}', e.get("tokens", 0)) for sid, e in series
        ],
        "orderbooks_tracked_markets": [
            (f'{{series="{_label(sid)}"}}', e.get("markets", 0)) for sid, e in series
        ],
        "orderbooks_restarts_24h": [("", collector.get("restarts_24h"))],
        "orderbooks_disk_free_bytes": [("", disk.get("free_bytes"))],
        "orderbooks_offload_oldest_unverified_age_seconds": [
            ("", offload.get("oldest_unverified_age_s") or 0)
        ],
        "orderbooks_alarm": [(f'{{name="{name}"}}', int(name in active)) for name in ALARMS],
        "orderbooks_healthy": [("", int(status.healthy))],
        "orderbooks_metrics_timestamp_seconds": [("", round(now_ms / 1000, 3))],
    }
    lines: list[str] = []
    for name, (kind, help_text) in METRICS.items():
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value}" for labels, value in samples[name] if value is not None)
    return "\n".join(lines) + "\n"


def write(path: Path, status: Status, now_ms: int) -> None:
    """Replace *path* atomically (mode 0644: node-exporter runs as its own user)."""
    atomic_write_bytes(path, render(status, now_ms).encode(), mode=0o644)
