"""What the gate's report says of a host's evidence, beside the gates' own
outcomes: the table of sealed files, a data-quality summary (from
``orderbooks quality --json``, else from the manifests), the soak span and the
risks a reader must know. Pure functions of the evidence, except ``quality``,
which runs the host's own command."""

from __future__ import annotations

import json
from typing import Any

from gate.evidence import GateEvidence
from gate.layout import HostLayout
from gate.soak import soak_status

LIVE_API_SUFFIX = "polymarket.com"


def file_table(listing: dict[str, Any]) -> list[dict[str, Any]]:
    table = []
    for entry in listing.get("sealed", []):
        manifest = entry.get("manifest") or {}
        table.append(
            {
                "path": entry["path"],
                "bytes": entry["bytes"],
                "sha256": entry["sha256"],
                "manifest_sha256_matches": manifest.get("sha256") == entry["sha256"],
                "rows": manifest.get("rows"),
                "recovered": manifest.get("recovered"),
            }
        )
    return table


def manifest_quality(listing: dict[str, Any]) -> dict[str, Any]:
    """A data-quality summary from the manifests alone."""
    rows = 0
    per_series: dict[str, int] = {}
    gaps: dict[str, dict[str, float]] = {}
    recovered = 0
    for entry in listing.get("sealed", []):
        manifest = entry.get("manifest") or {}
        rows += int(manifest.get("rows") or 0)
        for series, count in (manifest.get("rows_per_series") or {}).items():
            per_series[series] = per_series.get(series, 0) + int(count)
        for gap in manifest.get("gaps") or []:
            cause = str(gap.get("cause"))
            slot = gaps.setdefault(cause, {"gaps": 0, "seconds": 0.0})
            slot["gaps"] += 1
            slot["seconds"] += max(0, int(gap.get("end_ms", 0)) - int(gap.get("start_ms", 0))) / 1000
        recovered += bool(manifest.get("recovered"))
    return {
        "sealed_files": len(listing.get("sealed", [])),
        "open_partials": len(listing.get("partials", [])),
        "quarantined": len(listing.get("quarantine", [])),
        "rows": rows,
        "rows_per_series": dict(sorted(per_series.items())),
        "gaps_by_cause": {
            k: {"gaps": v["gaps"], "seconds": round(v["seconds"], 3)} for k, v in sorted(gaps.items())
        },
        "recovered_files": recovered,
    }


def quality(ev: GateEvidence, listing: dict[str, Any], where: HostLayout) -> dict[str, Any]:
    result = ev.run(f"{where.command} quality {where.data_dir} --json", timeout_s=600)
    try:
        summary = json.loads(result.stdout)
    except ValueError:
        summary = None
    if isinstance(summary, dict):
        return {
            "source": "orderbooks quality --json",
            "exit_code": result.rc,
            "summary": summary,
            "from_manifests": manifest_quality(listing),
        }
    return {
        "source": "manifests",
        "summary": manifest_quality(listing),
        "note": f"orderbooks quality --json gave no JSON (rc {result.rc})",
    }


def soak_from(listing: dict[str, Any], now_ms: int) -> dict[str, Any]:
    spans = []
    for entry in listing.get("sealed", []):
        manifest = entry.get("manifest") or {}
        first, last = manifest.get("first_recv_ms"), manifest.get("last_recv_ms")
        if isinstance(first, int) and isinstance(last, int):
            spans.append((first, last))
    status = soak_status(spans, now_ms)
    status["source"] = "first/last recv_ms of the sealed files' manifests on the host"
    return status


def risks_for(
    *,
    disposable: bool,
    facts: dict[str, Any],
    settings: dict[str, Any] | None,
    decision_reasons: list[str],
    soak: dict[str, Any],
) -> list[str]:
    risks = []
    if disposable:
        risks.append(
            "Tested on the disposable local VPS (systemd-nspawn on the controller): it shares the "
            "controller's clock and network namespace, and cgroup limits (MemoryMax, CPUQuota) are "
            "not enforced there. Production needs the same gate on a real VPS."
        )
    urls = " ".join(str((settings or {}).get(k, "")) for k in ("gamma_url", "clob_url"))
    if settings and LIVE_API_SUFFIX not in urls:
        risks.append(f"The collector polled a simulator ({urls.strip()}), not the real Polymarket APIs.")
    remotes = facts.get("rclone_remotes") or ""
    if remotes and "drive" not in remotes:
        risks.append(
            "Uploads went to a stand-in remote, not Google Drive: Drive quotas and rate limits, OAuth "
            "token refresh and files without SHA-256 are not exercised."
        )
    risks.append(
        "The network gate restarts the collector under the /etc/hosts override, because keep-alive "
        "connections outlive a change of name resolution; a running collector losing its network "
        "mid-connection is covered by the integration tests against the simulator, not here."
    )
    if not soak.get("completed"):
        risks.append(f"No completed 24-hour soak: {soak.get('detail')}.")
    free = (facts.get("free_disk") or {}).get("free_bytes")
    if isinstance(free, int) and free < 2 * 1024**3:
        risks.append(f"Free disk on the data folder is low: {free / 1024**3:.1f} GiB.")
    risks.extend(f"Failed: {reason}" for reason in decision_reasons if reason.startswith("gate "))
    return risks
