"""sd_notify, journal priorities, the health state, status alarms, metrics, heartbeat, check-config."""

from __future__ import annotations

import io
import os
import random
import socket
from pathlib import Path

import httpx
import orjson
import pytest
from orderbooks import logs
from orderbooks.capture.poll_loop import Collector
from orderbooks.commands import check_config
from orderbooks.config import Settings
from orderbooks.health import heartbeat, metrics, sdnotify, status
from orderbooks.health.clocksync import ClockState
from orderbooks.health.monitor import Monitor
from orderbooks.health.tracker import HealthTracker
from orderbooks.records import CycleResult, FailureRecord
from testkit.fake_clock import FakeClock
from testkit.fake_exchange import T0, Exchange, MemorySink
from testkit.http_receiver import recording_http_server

SYNCED = ClockState(True, "adjtimex")
GIB = 2**30


# ---------------------------------------------------------------- sd_notify


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_sends_one_datagram_to_the_socket(tmp_path, abstract):
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"@orderbooks-test-{os.getpid()}" if abstract else str(tmp_path / "notify")
    receiver.bind(sdnotify.socket_address(name))
    receiver.settimeout(5)
    try:
        assert sdnotify.notify("WATCHDOG=1", {"NOTIFY_SOCKET": name})
        assert receiver.recv(100) == b"WATCHDOG=1"
    finally:
        receiver.close()


def test_notify_is_a_no_op_outside_systemd(tmp_path):
    assert sdnotify.notify("READY=1", {}) is False
    assert sdnotify.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")}) is False


def test_collector_is_ready_once_then_feeds_the_watchdog_after_every_written_cycle():
    clock = FakeClock(wall_ms=T0, monotonic=500.0)
    sent: list[tuple[str, int]] = []
    sink = MemorySink()
    settings = Settings(
        gamma_url="http://g", clob_url="http://c", series=("10684",), duration=10.0, upcoming=1
    )
    collector = Collector(
        settings,
        sink,
        clock=clock,
        transport=httpx.MockTransport(Exchange(clock)),
        rng=random.Random(1),
        discovery_thread=False,
        notify=lambda state: sent.append((state, len(sink.cycles))),
    )
    collector.run()
    assert sent[0] == ("READY=1", 0)
    watchdog = [written for state, written in sent if state == "WATCHDOG=1"]
    assert watchdog == list(range(1, len(sink.cycles) + 1)), "one ping after each cycle reached the sink"


# ---------------------------------------------------------------- journal priorities


@pytest.mark.parametrize(
    ("level", "prefix"), [("debug", "<7>"), ("info", "<6>"), ("warning", "<4>"), ("error", "<3>")]
)
def test_journal_lines_carry_the_syslog_priority_and_the_same_json(level, prefix):
    out = io.StringIO()
    logs.configure("debug", out, journal=True)
    try:
        logs.get_logger("t").log(level, "ev", n=1)
    finally:
        logs.configure("info")
    line = out.getvalue()
    assert line.startswith(prefix)
    assert orjson.loads(line[len(prefix) :])["event"] == "ev"


def test_no_prefix_when_stdout_is_not_the_journal():
    out = io.StringIO()
    logs.configure("info", out, journal=False)
    try:
        logs.get_logger("t").warning("ev")
    finally:
        logs.configure("info")
    assert out.getvalue().startswith("{")


# ---------------------------------------------------------------- health state + status


class Token:
    def __init__(self, series, slug, token_id):
        self.market = type("M", (), {"series": series, "slug": slug})()
        self.token_id = token_id


def tracker(tmp_path, clock):
    return HealthTracker(
        tmp_path, clock, run_id="r1", version="0", series=("10684",), interval_s=1.0, disk_floor_bytes=GIB
    )


def row(clock, token="t1", book_hash="h1"):
    return {"recv_ms": clock.wall_ms(), "token_id": token, "series": "10684", "book": {"hash": book_hash}}


def tracker_after_one_row(tmp_path):
    """A fresh tracker (and its clock) that has written one cycle of one row of series 10684."""
    clock = FakeClock()
    t = tracker(tmp_path, clock)
    clock.advance(1)
    t.cycle_written(
        CycleResult(cycle=0, started_ms=clock.wall_ms(), rows=[row(clock)]), [Token("10684", "m", "t1")]
    )
    return clock, t


def evaluate(tmp_path, clock, free=100 * GIB, clock_state=SYNCED):
    return status.evaluate(
        tmp_path, now_ms=clock.wall_ms(), free_bytes=lambda _p: free, clock_state=lambda: clock_state
    )


def names(result):
    return {a["name"] for a in result.alarms}


def test_no_state_file_is_an_alarm(tmp_path):
    result = evaluate(tmp_path, FakeClock())
    assert names(result) == {"no_rows"}
    assert not result.healthy


def test_healthy_while_rows_come_and_no_rows_after_30_empty_due_cycles(tmp_path):
    clock = FakeClock()
    t = tracker(tmp_path, clock)
    tokens = [Token("10684", "m1", "t1")]
    for i in range(5):
        clock.advance(1)
        t.cycle_written(
            CycleResult(cycle=i, started_ms=clock.wall_ms(), rows=[row(clock, book_hash=str(i))]), tokens
        )
    t.save()
    result = evaluate(tmp_path, clock)
    assert result.healthy, result.alarms
    assert result.report["collector"]["rows_last_hour"] == 5
    assert result.report["collector"]["series"]["10684"]["tokens"] == 1
    for i in range(status.NO_ROWS_CYCLES):
        clock.advance(1)
        t.cycle_written(CycleResult(cycle=5 + i, started_ms=clock.wall_ms()), tokens)
    t.save()
    assert "no_rows" in names(evaluate(tmp_path, clock))


def test_a_stalled_collector_is_no_rows_and_a_restart_is_counted(tmp_path):
    clock, t = tracker_after_one_row(tmp_path)
    t.save()
    clock.advance(status.STALL_SECONDS + 1)
    result = evaluate(tmp_path, clock)
    assert "no_rows" in names(result) and "hung" in result.alarms[0]["detail"]
    tracker(tmp_path, clock).save()
    assert evaluate(tmp_path, clock).report["collector"]["restarts_24h"] == 1


def test_discovery_blind_books_stale_blocked_rate_limited(tmp_path):
    clock = FakeClock()
    t = tracker(tmp_path, clock)
    tokens = [Token("10684", "m", "t1")]
    for i in range(int(status.STALE_SECONDS) + 5):
        clock.advance(1)
        failures = [FailureRecord.observed(clock.wall_ms(), i, "rate_limited", "429")] if i % 50 == 0 else []
        if i > status.STALE_SECONDS:
            failures.append(FailureRecord.observed(clock.wall_ms(), i, "html_body", "cloudflare"))
        t.cycle_written(
            CycleResult(cycle=i, started_ms=clock.wall_ms(), rows=[row(clock)], failures=failures), tokens
        )
    t.save()
    assert names(evaluate(tmp_path, clock)) == {"books_stale", "blocked", "rate_limited"}
    for i in range(int(status.BLIND_SECONDS) + 5):
        clock.advance(1)
        t.cycle_written(CycleResult(cycle=i, started_ms=clock.wall_ms()), [])
    t.save()
    assert "discovery_blind" in names(evaluate(tmp_path, clock))


def test_a_market_document_not_kept_is_an_alarm_for_an_hour(tmp_path):
    clock = FakeClock()
    t = tracker(tmp_path, clock)
    t.failures([FailureRecord.observed(clock.wall_ms(), 0, "market_document", "gave up: not closed")])
    t.save()
    result = evaluate(tmp_path, clock)
    assert "market_documents" in names(result)
    assert "1 market documents" in next(a for a in result.alarms if a["name"] == "market_documents")["detail"]
    clock.advance(status.MARKET_DOCS_SECONDS + 61)
    assert "market_documents" not in names(evaluate(tmp_path, clock))


def test_disk_low_and_clock_unsynced_but_not_in_a_container(tmp_path):
    clock = FakeClock()
    tracker(tmp_path, clock).save()
    result = evaluate(tmp_path, clock, free=GIB, clock_state=ClockState(False, "adjtimex"))
    assert {"disk_low", "clock_unsynced"} <= names(result)
    result = evaluate(tmp_path, clock, clock_state=ClockState(False, "adjtimex", "systemd-nspawn"))
    assert "clock_unsynced" not in names(result)
    assert "host" in result.report["clock"]["note"]


def test_offload_lag_and_upload_auth_from_manifests_and_the_ledger(tmp_path):
    clock = FakeClock()
    tracker(tmp_path, clock).save()
    folder = tmp_path / "raw" / "2023-11-14" / "21"
    folder.mkdir(parents=True)
    for n, md5 in ((1, "a" * 32), (2, "b" * 32)):
        path = f"raw/2023-11-14/21/f{n}.jsonl.gz"
        manifest = {"path": path, "md5": md5, "sealed_at": clock.wall_ms() - 3 * 3_600_000}
        (folder / f"f{n}.manifest.json").write_bytes(orjson.dumps(manifest))
    ledger = tmp_path / "uploads" / "ledger.jsonl"
    ledger.parent.mkdir()
    lines = [
        {"action": "upload", "outcome": "verified", "path": "raw/2023-11-14/21/f2.jsonl.gz", "md5": "b" * 32},
        {
            "action": "prune",
            "outcome": "remote_lost",
            "path": "raw/2023-11-14/21/f2.jsonl.gz",
            "md5": "b" * 32,
        },
        {"action": "upload", "outcome": "verified", "path": "raw/2023-11-14/21/f1.jsonl.gz", "md5": "a" * 32},
        {
            "action": "upload",
            "outcome": "failed",
            "path": "x",
            "detail": "remote not reachable: invalid_grant",
        },
        {"remote": "new-field-tolerated"},
    ]
    ledger.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines) + b'{"torn')
    result = evaluate(tmp_path, clock)
    assert {"offload_lag", "upload_auth"} <= names(result)
    assert result.report["offload"]["unverified_files"] == 1


def test_metrics_hold_every_named_metric_and_are_replaced_atomically(tmp_path):
    clock, t = tracker_after_one_row(tmp_path)
    t.failures([FailureRecord.observed(clock.wall_ms(), 0, "timeout", "x")])
    t.save()
    target = tmp_path / "node-exporter" / "orderbooks.prom"
    target.parent.mkdir()
    metrics.write(target, evaluate(tmp_path, clock), clock.wall_ms())
    text = target.read_text()
    for name in (
        "orderbooks_last_row_timestamp_seconds ",
        "orderbooks_rows_total 1",
        'orderbooks_failures_total{kind="timeout"} 1',
        'orderbooks_tracked_tokens{series="10684"} 1',
        "orderbooks_disk_free_bytes ",
        "orderbooks_offload_oldest_unverified_age_seconds ",
        'orderbooks_alarm{name="no_rows"} 0',
    ):
        assert name in text
    assert sorted(p.name for p in target.parent.iterdir()) == ["orderbooks.prom"]
    assert target.stat().st_mode & 0o777 == 0o644


# ---------------------------------------------------------------- heartbeat


@pytest.fixture
def receiver():
    with recording_http_server() as (base, seen):
        yield f"{base}/ping/abc", seen


def test_heartbeat_fails_once_when_unhealthy_and_pings_after_a_sealed_hour(receiver, tmp_path):
    url, seen = receiver
    results = iter(
        [
            status.Status({}, [{"name": "no_rows", "since": None, "detail": ""}]),
            status.Status({}, [{"name": "no_rows", "since": None, "detail": ""}]),
            status.Status({}),
            status.Status({}),
        ]
    )
    monitor = Monitor(tmp_path, metrics_file=None, heartbeat_url=url, evaluate=lambda _d: next(results))
    monitor.tick()
    monitor.tick()  # still unhealthy: no second /fail
    monitor.tick()  # healthy, nothing sealed: no ping
    monitor.sealed.set()
    monitor.tick()
    assert seen == ["/ping/abc/fail?alarms=no_rows", "/ping/abc"]


def test_heartbeat_errors_are_returned_not_raised():
    assert heartbeat.ping("http://127.0.0.1:9/") is not None


# ---------------------------------------------------------------- check-config


def test_check_config_names_every_bad_value_and_exits_2(tmp_path, capsys):
    env = tmp_path / "collector.env"
    env.write_text("# comment\nORDERBOOKS_INTERVAL=banana\nORDERBOOKS_SERIES=1,x\nORDERBOOKS_INTERVL=1\n")
    from orderbooks.cli import main

    assert main(["check-config", str(env)], environ={}) == 2
    err = capsys.readouterr().err
    assert "ORDERBOOKS_INTERVAL='banana'" in err
    assert "ORDERBOOKS_SERIES='1,x'" in err
    assert "ORDERBOOKS_INTERVL: unknown setting" in err


def test_check_config_accepts_the_rendered_defaults_and_checks_the_environment(tmp_path, monkeypatch):
    env = tmp_path / "collector.env"
    env.write_text(
        "ORDERBOOKS_DATA_DIR=/var/lib/orderbooks\nORDERBOOKS_INTERVAL=1\nORDERBOOKS_LOG_LEVEL=info\n"
        "ORDERBOOKS_METRICS_FILE=/var/lib/prometheus/node-exporter/orderbooks.prom\n"
        'ORDERBOOKS_GAMMA_URL="https://gamma-api.polymarket.com"\n'
    )
    from orderbooks.cli import main

    assert main(["check-config", str(env)], environ={}) == 0
    assert check_config.problems_of({"ORDERBOOKS_DURATION": "0.5", "ORDERBOOKS_INTERVAL": "1"})
    monkeypatch.setenv("ORDERBOOKS_INTERVAL", "2")
    assert main(["check-config"], environ={}) == 0
    monkeypatch.setenv("ORDERBOOKS_INTERVAL", "banana")
    assert main(["check-config"], environ={}) == 2


def test_check_config_unreadable_file_is_environment_error(tmp_path):
    from orderbooks.cli import main

    assert main(["check-config", str(Path(tmp_path) / "missing.env")], environ={}) == 3


def test_status_command_exit_codes_and_json(tmp_path, capsys):
    from orderbooks.cli import main

    assert main(["status", str(tmp_path / "missing")], environ={}) == 3
    capsys.readouterr()
    assert main(["status", str(tmp_path), "--json"], environ={}) == 1
    report = orjson.loads(capsys.readouterr().out)
    assert report["healthy"] is False
    assert "no_rows" in {a["name"] for a in report["alarms"]}
    assert set(report["alarms"][0]) == {"name", "since", "detail"}
    assert main(["status", str(tmp_path)], environ={}) == 1
    assert capsys.readouterr().out.startswith("ALARM")
