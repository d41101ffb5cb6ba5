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


def render(status: Status, now_ms: int) -> str:
    report = status.report
    collector = report.get("collector") or {}
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, Any]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if value is not None:
                lines.append(f"{name}{labels} {value}")

    last_row_age = collector.get("last_row_age_s")
    last_row = round(now_ms / 1000 - last_row_age, 3) if last_row_age is not None else None
    metric(
        "orderbooks_last_row_timestamp_seconds",
        "gauge",
        "UTC time of the last written row.",
        [("", last_row)],
    )
    metric(
        "orderbooks_rows_total",
        "counter",
        "Rows written by the running collector.",
        [("", collector.get("rows_total_this_run", 0))],
    )
    metric(
        "orderbooks_rows_last_hour",
        "gauge",
        "Rows written in the last hour.",
        [("", collector.get("rows_last_hour", 0))],
    )
    metric(
        "orderbooks_rows_lost_total",
        "counter",
        "Rows the running collector received but could not write (write errors).",
        [("", collector.get("rows_lost_total_this_run", 0))],
    )
    failures = collector.get("failures_total_this_run") or {}
    metric(
        "orderbooks_failures_total",
        "counter",
        "Failure records of the running collector by class.",
        [(f'{{kind="{_label(kind)}"}}', n) for kind, n in sorted(failures.items())],
    )
    series = collector.get("series") or {}
    metric(
        "orderbooks_tracked_tokens",
        "gauge",
        "Tokens polled in the last cycle per series.",
        [(f'{{series="{_label(sid)}"}}', entry.get("tokens", 0)) for sid, entry in sorted(series.items())],
    )
    metric(
        "orderbooks_tracked_markets",
        "gauge",
        "Markets polled in the last cycle per series.",
        [(f'{{series="{_label(sid)}"}}', entry.get("markets", 0)) for sid, entry in sorted(series.items())],
    )
    metric(
        "orderbooks_restarts_24h",
        "gauge",
        "Collector starts in the last 24 h, minus one.",
        [("", collector.get("restarts_24h"))],
    )
    disk = report.get("disk") or {}
    metric(
        "orderbooks_disk_free_bytes",
        "gauge",
        "Free bytes on the data folder's file system.",
        [("", disk.get("free_bytes"))],
    )
    offload = report.get("offload") or {}
    metric(
        "orderbooks_offload_oldest_unverified_age_seconds",
        "gauge",
        "Age of the oldest sealed file not yet verified on the remote (0: none).",
        [("", offload.get("oldest_unverified_age_s") or 0)],
    )
    active = {a["name"] for a in status.alarms}
    metric(
        "orderbooks_alarm",
        "gauge",
        "1 while the alarm is active (docs/operations.md).",
        [(f'{{name="{name}"}}', int(name in active)) for name in ALARMS],
    )
    metric("orderbooks_healthy", "gauge", "1 when no alarm is active.", [("", int(status.healthy))])
    metric(
        "orderbooks_metrics_timestamp_seconds",
        "gauge",
        "When this file was written.",
        [("", round(now_ms / 1000, 3))],
    )
    return "\n".join(lines) + "\n"


def write(path: Path, status: Status, now_ms: int) -> None:
    """Replace *path* atomically (mode 0644: node-exporter runs as its own user)."""
    atomic_write_bytes(path, render(status, now_ms).encode(), mode=0o644)
