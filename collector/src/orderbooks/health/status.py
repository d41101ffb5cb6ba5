"""``orderbooks status``: is the collector healthy? From what is on disk only.

``evaluate(data_dir)`` reads the collector's state file (``health.tracker``, through
``store.health_state``), the sealed manifests, the upload ledger and the file
system, and returns a report with the active alarms. Thresholds (docs/operations.md, "Alarms"):

* ``no_rows``: markets are due but ``NO_ROWS_CYCLES`` cycles in a row wrote
  nothing, or no cycle at all for ``STALL_SECONDS`` (collector down or hung),
  or no row *written* for the stall limit, counted across restarts (the last
  written row is kept in the state file from run to run);
* ``restart_loop``: the collector started ``RESTART_LOOP_STARTS`` times or more
  since it last wrote a row (a watchdog or crash loop that writes nothing);
* ``rows_lost``: rows were received but could not be written in the last hour
  (any write error: ENOSPC, EIO, EACCES, quota);
* ``discovery_blind``: a series tracked no market, or its discovery kept
  failing, for ``BLIND_SECONDS``;
* ``books_stale``: no tracked book changed its hash or timestamp for ``STALE_SECONDS``;
* ``blocked``: a 403 or an HTML (Cloudflare) page in the last ``RECENT_SECONDS``;
* ``schema_drift``: an answer of an unexpected shape in the last ``RECENT_SECONDS``
  (a market whose CLOB ids cannot be read, a book missing its fields): the API changed;
* ``rate_limited``: 429s in ``RATE_LIMITED_MINUTES`` of the last 5 minutes;
* ``disk_low``: free space under ``DISK_LOW_FLOOR_FACTOR`` x the collector's floor,
  or under ``DISK_LOW_DAYS`` days to the floor at the last day's write rate;
* ``offload_lag``: a sealed file not verified on the remote ``OFFLOAD_LAG_SECONDS`` after sealing;
* ``upload_auth``: the last upload failure says the remote refused its credentials;
* ``upload_failed``: the newest upload run (``uploads/last-upload.json``) did not
  verify everything, or could not start (config, binary, remote);
* ``offload_stale``: the newest upload or prune result is older than
  ``OFFLOAD_STALE_SECONDS`` (the hourly timer stopped: an old "ok" is not news);
* ``prune_failed``: the newest prune run (``uploads/last-prune.json``) kept files
  the remote lost or changed, could not list the remote, or failed to delete;
* ``market_documents``: a market's Gamma record (first seen, or closed with its
  outcome) could not be kept in the last ``MARKET_DOCS_SECONDS``;
* ``clock_unsynced``: the kernel says no time daemon synchronised the clock;
* ``unreadable``: a folder or file under ``raw/`` or ``markets/`` cannot be read
  (permissions), or is a symbolic link leading out of the data folder: upload,
  prune and status cannot see what it holds;
* ``stale_partial``: a ``.partial`` book file whose hour began more than
  ``STALE_PARTIAL_SECONDS`` ago (still open, or left by a crash no start recovered),
  or whose hour is more than an hour ahead of the clock (written before the clock
  stepped back): nothing uploads a ``.partial``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.health import clocksync, tracker
from orderbooks.store import diskspace, health_state, ledger, paths, results, survey
from orderbooks.timefmt import iso_ms, parse_iso_ms

NO_ROWS_CYCLES = 30
RESTART_LOOP_STARTS = 3
STALL_SECONDS = 60.0
BLIND_SECONDS = 300.0
STALE_SECONDS = 600.0
RECENT_SECONDS = 300.0
MARKET_DOCS_SECONDS = 3600.0
RATE_LIMITED_MINUTES = 3
DISK_LOW_FLOOR_FACTOR = 2.0
DISK_LOW_DAYS = 2.0
OFFLOAD_LAG_SECONDS = 7200.0
#: The upload timer runs hourly (plus up to 15 min of randomized delay): a result
#: older than three periods means the timer or the service stopped running.
OFFLOAD_STALE_SECONDS = 3 * 3600.0
STALE_PARTIAL_SECONDS = 7200.0
DEFAULT_FLOOR_BYTES = 1024 * 1024 * 1024
ALARMS = (
    "no_rows",
    "restart_loop",
    "rows_lost",
    "discovery_blind",
    "books_stale",
    "blocked",
    "schema_drift",
    "rate_limited",
    "disk_low",
    "offload_lag",
    "upload_auth",
    "upload_failed",
    "offload_stale",
    "prune_failed",
    "market_documents",
    "clock_unsynced",
    "unreadable",
    "stale_partial",
)
#: What rclone prints when the remote refuses its credentials.
AUTH_RE = re.compile(
    r"invalid_grant|unauthori[sz]ed|couldn't fetch token|token expired|oauth2|\b401\b|\binvalid_client\b",
    re.IGNORECASE,
)


@dataclass
class Status:
    report: dict[str, Any]
    alarms: list[dict[str, Any]] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.alarms

    def to_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "alarms": self.alarms, **self.report}


def evaluate(
    data_dir: Path,
    *,
    now_ms: int | None = None,
    free_bytes: Callable[[Path], int] = diskspace.free_bytes,
    clock_state: Callable[[], clocksync.ClockState] = clocksync.clock_state,
) -> Status:
    data_dir = Path(data_dir)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    state = health_state.read_state(data_dir)
    status = Status(report={"data_dir": str(data_dir), "now": iso_ms(now)})
    alarm = _Alarms(status.alarms)
    _collector(status.report, alarm, state, now)
    _disk(status.report, alarm, data_dir, state, now, probe=free_bytes)
    _offload(status.report, alarm, data_dir, now)
    _last_runs(status.report, alarm, data_dir, now)
    _clock(status.report, alarm, clock_state(), now)
    _folders(status.report, alarm, data_dir, now)
    return status


class _Alarms:
    def __init__(self, alarms: list[dict[str, Any]]) -> None:
        self.alarms = alarms

    def __call__(self, name: str, since_ms: int | None, detail: str) -> None:
        since = iso_ms(since_ms) if since_ms is not None else None
        self.alarms.append({"name": name, "since": since, "detail": detail})


def _age(now: int, t_ms: Any) -> float | None:
    return round((now - t_ms) / 1000, 1) if isinstance(t_ms, int) else None


def _collector(report: dict, alarm: _Alarms, state: dict | None, now: int) -> None:
    if state is None:
        report["collector"] = None
        alarm("no_rows", None, "no collector state file: the collector has not run with this data folder")
        return
    recent = now - tracker.WINDOW_MS
    rows_hour = sum(
        n for m, n in state.get("rows_by_minute", {}).items() if int(m) > recent - tracker.MINUTE_MS
    )
    failures_hour: dict[str, int] = {}
    for minute, counts in state.get("failures_by_minute", {}).items():
        if int(minute) > recent - tracker.MINUTE_MS:
            for kind, n in counts.items():
                failures_hour[kind] = failures_hour.get(kind, 0) + n
    starts = [t for t in state.get("starts_ms", []) if isinstance(t, int)]
    series = state.get("series", {})
    report["collector"] = {
        "pid": state.get("pid"),
        "run_id": state.get("run_id"),
        "version": state.get("version"),
        "started": iso_ms(state["started_ms"]) if isinstance(state.get("started_ms"), int) else None,
        "state_age_s": _age(now, state.get("saved_ms")),
        "last_cycle_age_s": _age(now, state.get("last_cycle_ms")),
        "last_row_age_s": _age(now, state.get("last_row_ms")),
        "rows_last_hour": rows_hour,
        "rows_total_this_run": state.get("rows_total", 0),
        "failures_last_hour": dict(sorted(failures_hour.items())),
        "failures_total_this_run": state.get("failures_total", {}),
        "restarts_24h": max(0, sum(1 for t in starts if now - t < 86_400_000) - 1),
        "starts_7d": len(starts),
        "series": {
            sid: {
                "markets": entry.get("markets", 0),
                "tokens": entry.get("tokens", 0),
                "last_discovery_age_s": _age(now, entry.get("discovery_ok_ms")),
            }
            for sid, entry in sorted(series.items())
        },
        "books_changed_age_s": _age(now, state.get("books_changed_ms")),
    }
    interval = float(state.get("interval_s") or 1.0)
    stall_ms = max(STALL_SECONDS, NO_ROWS_CYCLES * interval) * 1000
    last_cycle = state.get("last_cycle_ms") or state.get("started_ms")
    if isinstance(last_cycle, int) and now - last_cycle > stall_ms:
        alarm(
            "no_rows",
            last_cycle,
            f"no poll cycle for {(now - last_cycle) / 1000:.0f} s: collector stopped or hung",
        )
    elif state.get("due_without_rows", 0) >= NO_ROWS_CYCLES:
        alarm(
            "no_rows",
            state.get("due_without_rows_since_ms"),
            f"markets due but nothing written for {state['due_without_rows']} cycles",
        )
    else:
        _nothing_written_across_restarts(alarm, state, starts, now, stall_ms)
    _restart_loop(alarm, state, starts)
    _rows_lost(report["collector"], alarm, state, now)
    for sid, entry in sorted(series.items()):
        empty = entry.get("empty_since_ms")
        failing = entry.get("discovery_failing_since_ms")
        if isinstance(empty, int) and now - empty > BLIND_SECONDS * 1000:
            alarm("discovery_blind", empty, f"series {sid}: no open market for {(now - empty) / 1000:.0f} s")
        elif isinstance(failing, int) and now - failing > BLIND_SECONDS * 1000:
            alarm(
                "discovery_blind",
                failing,
                f"series {sid}: discovery failing for {(now - failing) / 1000:.0f} s",
            )
    changed = state.get("books_changed_ms")
    tracked = sum(entry.get("tokens", 0) for entry in series.values())
    if tracked and isinstance(changed, int) and now - changed > STALE_SECONDS * 1000:
        alarm(
            "books_stale",
            changed,
            f"no book of {tracked} tracked tokens changed for {(now - changed) / 1000:.0f} s",
        )
    _recent_failures(alarm, state.get("failures_by_minute", {}), now)


def _nothing_written_across_restarts(
    alarm: _Alarms, state: dict, starts: list[int], now: int, stall_ms: float
) -> None:
    """No row written for the stall limit, however often the collector restarted meanwhile."""
    last_row = state.get("last_row_ms")
    since = last_row if isinstance(last_row, int) else (min(starts) if starts else state.get("started_ms"))
    if not isinstance(since, int) or now - since <= stall_ms:
        return
    restarts = sum(1 for t in starts if t > since)
    what = f"last row written {(now - since) / 1000:.0f} s ago" if last_row else "no row written yet"
    alarm("no_rows", since, f"{what}, across {restarts} start(s) of the collector since")


def _restart_loop(alarm: _Alarms, state: dict, starts: list[int]) -> None:
    last_row = state.get("last_row_ms")
    since_row = sorted(t for t in starts if not isinstance(last_row, int) or t > last_row)
    if len(since_row) >= RESTART_LOOP_STARTS:
        alarm(
            "restart_loop",
            since_row[0],
            f"the collector started {len(since_row)} times without writing a row "
            "(watchdog or crash loop; journalctl -u orderbooks-collector -p warning)",
        )


def _rows_lost(collector: dict, alarm: _Alarms, state: dict, now: int) -> None:
    recent = now - tracker.WINDOW_MS
    by_minute = {
        int(m): n
        for m, n in state.get("rows_lost_by_minute", {}).items()
        if int(m) > recent - tracker.MINUTE_MS
    }
    lost = sum(by_minute.values())
    collector["rows_lost_last_hour"] = lost
    collector["rows_lost_total_this_run"] = state.get("rows_lost_total", 0)
    if lost:
        alarm(
            "rows_lost",
            min(by_minute),
            f"{lost} rows received but not written in the last hour (write errors; "
            "the failure records in the manifests say which)",
        )


def _recent_failures(alarm: _Alarms, by_minute: dict[str, dict[str, int]], now: int) -> None:
    recent = {int(m): c for m, c in by_minute.items() if now - int(m) <= RECENT_SECONDS * 1000}
    blocked = sorted(m for m, c in recent.items() if c.get("blocked") or c.get("html_body"))
    if blocked:
        count = sum(recent[m].get("blocked", 0) + recent[m].get("html_body", 0) for m in blocked)
        alarm("blocked", blocked[0], f"{count} answers were 403 or an HTML page in the last 5 minutes")
    drifted = sorted(m for m, c in recent.items() if c.get("schema_drift"))
    if drifted:
        count = sum(recent[m]["schema_drift"] for m in drifted)
        alarm(
            "schema_drift",
            drifted[0],
            f"{count} answers of an unexpected shape in the last 5 minutes (the API changed?); "
            "the failure records name each market or endpoint",
        )
    limited = sorted(m for m, c in recent.items() if c.get("rate_limited"))
    if len(limited) >= RATE_LIMITED_MINUTES:
        count = sum(recent[m]["rate_limited"] for m in limited)
        alarm("rate_limited", limited[0], f"{count} answers were 429 in {len(limited)} of the last 5 minutes")
    docs = sorted(
        int(m)
        for m, c in by_minute.items()
        if c.get("market_document") and now - int(m) <= MARKET_DOCS_SECONDS * 1000
    )
    if docs:
        count = sum(by_minute[str(m)]["market_document"] for m in docs)
        alarm("market_documents", docs[0], f"{count} market documents could not be kept in the last hour")


def _disk(
    report: dict, alarm: _Alarms, data_dir: Path, state: dict | None, now: int, *, probe: Callable
) -> None:
    floor = int((state or {}).get("disk_floor_bytes") or DEFAULT_FLOOR_BYTES)
    try:
        free = int(probe(data_dir))
    except OSError as exc:
        report["disk"] = {"error": str(exc)}
        alarm("disk_low", None, f"free space of {data_dir} unknown: {exc}")
        return
    written = 0
    for mtime_s, size in survey.data_file_stats(data_dir):
        if now - mtime_s * 1000 < 86_400_000:
            written += size
    days = (free - floor) / written if written else None
    report["disk"] = {
        "free_bytes": free,
        "floor_bytes": floor,
        "written_last_24h_bytes": written,
        "days_to_floor": round(days, 1) if days is not None else None,
    }
    if free < floor * DISK_LOW_FLOOR_FACTOR:
        alarm("disk_low", None, f"{free // 2**20} MiB free, floor {floor // 2**20} MiB")
    elif days is not None and days < DISK_LOW_DAYS:
        alarm("disk_low", None, f"{days:.1f} days to the floor at the last day's rate")


def read_upload_ledger(data_dir: Path) -> tuple[ledger.VerifiedIndex, dict[str, Any] | None]:
    """(the verified index of the remote uploads go to, last upload failure after the last verified upload).

    Status reads DATA_DIR/uploads/ledger.jsonl as prune does: through
    ``store.ledger``'s reader (torn and foreign lines ignored) and its
    ``VerifiedIndex``, so a file counts as verified here exactly when prune
    would count it verified on that remote (same remote, ``gdrive:x`` and
    ``gdrive:x/`` alike; the manifest's md5 and sha256; not withdrawn by a later
    ``remote_lost``/``remote_mismatch``). Status has no ``--remote``: the remote
    is the one the newest upload line names; when it names none (an older
    ledger), the lines without a ``remote`` count.
    """
    try:
        entries = ledger.Ledger(data_dir).read().entries
    except OSError:
        entries = []
    uploads = [e for e in entries if e.get("action") == ledger.ACTION_UPLOAD]
    remote = uploads[-1].get("remote") if uploads else None
    last_failure: dict[str, Any] | None = None
    for entry in uploads:
        if entry.get("outcome") == ledger.VERIFIED:
            last_failure = None
        elif entry.get("outcome") == ledger.FAILED:
            last_failure = entry
    return ledger.VerifiedIndex(entries, remote if isinstance(remote, str) and remote else None), last_failure


def _offload(report: dict, alarm: _Alarms, data_dir: Path, now: int) -> None:
    index, last_failure = read_upload_ledger(data_dir)
    oldest: int | None = None
    pending = 0
    for manifest_path, manifest in survey.book_manifests(data_dir):
        if _verified(index, manifest):
            continue
        pending += 1
        sealed = manifest.get("sealed_at")
        if not isinstance(sealed, int):
            sealed = survey.modified_ms(manifest_path)
        oldest = sealed if oldest is None else min(oldest, sealed)
    report["offload"] = {"unverified_files": pending, "oldest_unverified_age_s": _age(now, oldest)}
    if oldest is not None and now - oldest > OFFLOAD_LAG_SECONDS * 1000:
        alarm(
            "offload_lag",
            oldest,
            f"{pending} sealed files not verified on the remote; oldest {(now - oldest) / 3.6e6:.1f} h",
        )
    detail = str((last_failure or {}).get("detail", ""))
    if last_failure is not None and AUTH_RE.search(detail):
        alarm("upload_auth", None, f"{last_failure.get('ts')}: {detail[:200]}")


def _verified(index: ledger.VerifiedIndex, manifest: dict[str, Any]) -> bool:
    """Is the data file this manifest describes verified on the remote, with the manifest's hashes?"""
    path, md5, sha256 = manifest.get("path"), manifest.get("md5"), manifest.get("sha256")
    if not isinstance(path, str) or not isinstance(md5, str):
        return False
    return index.is_verified(path, md5, sha256 if isinstance(sha256, str) else None)


#: Results of the newest upload or prune that raise an alarm; ``interrupted`` (a stop) does not.
FAILED_RESULTS = ("failed", "precondition_failed")


def _last_runs(report: dict, alarm: _Alarms, data_dir: Path, now: int) -> None:
    """The newest upload and prune results, written by those runs for this purpose; one
    older than ``OFFLOAD_STALE_SECONDS`` says nothing about now."""
    upload = results.read_last_upload(data_dir)
    prune = results.read_last_prune(data_dir)
    for name, document in (("upload", upload), ("prune", prune)):
        if not document:
            continue
        try:
            finished = parse_iso_ms(document.get("finished_at"))
        except ValueError:
            finished = None
        if finished is None or now - finished > OFFLOAD_STALE_SECONDS * 1000:
            age = f"{(now - finished) / 3600000:.1f} h old" if finished is not None else "of unknown age"
            alarm(
                "offload_stale",
                finished,
                f"the newest {name} result is {age}: is orderbooks-upload.timer running? "
                "(systemctl list-timers orderbooks-upload.timer)",
            )
    report["last_upload"] = (
        {k: upload.get(k) for k in ("finished_at", "remote", "result", "totals")} if upload else None
    )
    report["last_prune"] = (
        {k: prune.get(k) for k in ("finished_at", "remote", "result", "totals")} if prune else None
    )
    if upload and upload.get("result") in FAILED_RESULTS:
        failures = upload.get("failures") if isinstance(upload.get("failures"), list) else []
        first = failures[0] if failures and isinstance(failures[0], dict) else {}
        alarm(
            "upload_failed",
            None,
            f"{upload.get('finished_at')}: {upload.get('result')}, {len(failures)} file(s) not verified"
            + (f"; first: {first.get('path')}: {str(first.get('detail', ''))[:160]}" if first else ""),
        )
    if prune and prune.get("result") in FAILED_RESULTS:
        totals = prune.get("totals") if isinstance(prune.get("totals"), dict) else {}
        reason = prune.get("remote_error") or (
            f"{totals.get('kept_remote', 0)} kept (lost or changed on the remote), "
            f"{totals.get('errors', 0)} delete errors"
            + (f", {totals['unreadable']} unreadable" if totals.get("unreadable") else "")
        )
        alarm("prune_failed", None, f"{prune.get('finished_at')}: {str(reason)[:200]}")


def _clock(report: dict, alarm: _Alarms, clock: clocksync.ClockState, now: int) -> None:
    report["clock"] = {
        "synchronized": clock.synchronized,
        "source": clock.source,
        "container": clock.container,
    }
    if clock.synchronized is not False:
        return
    if clock.container:
        report["clock"]["note"] = (
            f"in a container ({clock.container}): the clock is the host's, which keeps it; not checked here"
        )
        return
    alarm("clock_unsynced", None, f"the kernel says the clock is not synchronised ({clock.source})")


def _folders(report: dict, alarm: _Alarms, data_dir: Path, now: int) -> None:
    """What cannot be read under the data folder, and book files left open too long."""
    unreadable = survey.unreadable(data_dir)
    report["unreadable"] = [item.to_json() for item in unreadable]
    if unreadable:
        first = unreadable[0]
        alarm(
            "unreadable",
            None,
            f"{len(unreadable)} folder(s) or file(s) cannot be read; first: {first.path}: {first.reason}"[
                :240
            ],
        )
    stale: list[tuple[int, str]] = []
    for partial in survey.partials(data_dir):
        start = paths.hour_start_ms(partial)
        if start is None:
            continue
        if now - start > STALE_PARTIAL_SECONDS * 1000 or start - now > 3_600_000:
            stale.append((start, paths.relative(data_dir, partial)))
    report["stale_partials"] = [rel for _start, rel in sorted(stale)]
    if stale:
        oldest = min(stale)
        alarm(
            "stale_partial",
            None,
            f"{len(stale)} .partial file(s) open far from their hour (now {iso_ms(now)}); first: {oldest[1]}",
        )
