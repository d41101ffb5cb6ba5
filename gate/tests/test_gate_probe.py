"""The gate's host-side probe and its evidence recorder, on local files."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib

import pytest
from gate.evidence import GateEvidence, Pending, PollTimeout, trim

from gate import probe


def _row(series="10684", recv_ms=1000, **extra):
    row = {
        "schema": 1,
        "recv_ms": recv_ms,
        "latency_ms": 5,
        "cycle": 1,
        "series": series,
        "slug": f"btc-updown-5m-{series}",
        "condition_id": "c",
        "token_id": f"t{series}",
        "outcome": "Up",
        "window_start": "x",
        "window_end": "y",
        "book": {"bids": [], "asks": [{"price": "0.5", "size": "1"}]},
    }
    row.update(extra)
    return row


def _member(rows):
    return gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in rows))


@pytest.fixture
def data_dir(tmp_path):
    hour = tmp_path / "raw" / "2026-11-21" / "10"
    hour.mkdir(parents=True)
    sealed = hour / "orderbooks-2026-11-21T10Z-a.jsonl.gz"
    sealed.write_bytes(_member([_row(recv_ms=1000)]))
    (hour / "orderbooks-2026-11-21T10Z-a.manifest.json").write_text(
        json.dumps({"sha256": hashlib.sha256(sealed.read_bytes()).hexdigest(), "rows": 1})
    )
    partial = hour / "orderbooks-2026-11-21T10Z-b.jsonl.gz.partial"
    whole = _member([_row(recv_ms=2000), _row(series="10192", recv_ms=2100)])
    bad = _member([_row(recv_ms=2200, book_errors=["asks not a list"])])
    torn = _member([_row(recv_ms=9999)])[:20]  # a member cut before any whole line
    partial.write_bytes(whole + bad + torn)
    (hour / "orphan.manifest.json").write_text("{}")
    return tmp_path


def test_files_lists_sealed_partials_and_orphans(data_dir):
    found = probe.files(str(data_dir), with_hash=True)
    assert [s["path"] for s in found["sealed"]] == ["raw/2026-11-21/10/orderbooks-2026-11-21T10Z-a.jsonl.gz"]
    sealed = found["sealed"][0]
    assert sealed["sha256"] == sealed["manifest"]["sha256"]
    assert [p["path"].rsplit("/", 1)[1] for p in found["partials"]] == [
        "orderbooks-2026-11-21T10Z-b.jsonl.gz.partial"
    ]
    assert found["manifests_without_data"] == ["raw/2026-11-21/10/orphan.manifest.json"]


def test_rows_reads_only_complete_members_and_flags_invalid_rows(data_dir):
    found = probe.rows(str(data_dir), since_ms=1500, newest_files=5)
    assert found["rows"] == 3  # two valid, one with book_errors; the torn member is not read
    assert set(found["series"]) == {"10684", "10192"}
    assert found["series"]["10684"]["last_recv_ms"] == 2000
    assert found["newest_recv_ms"] == 2100
    assert [i["problem"] for i in found["invalid"]] == ["book_errors: asks not a list"]


def test_rows_of_a_live_per_series_partial_include_its_sync_flushed_member(tmp_path):
    hour = tmp_path / "raw" / "2026-11-21" / "10"
    hour.mkdir(parents=True)
    stream = zlib.compressobj(6, zlib.DEFLATED, 31)
    flushed = b""
    for recv in (1000, 2000, 3000):  # three cycles, each behind a Z_SYNC_FLUSH, member not closed
        line = json.dumps(_row(series="41", recv_ms=recv)).encode() + b"\n"
        flushed += stream.compress(line) + stream.flush(zlib.Z_SYNC_FLUSH)
    run = "20261121T100000Z-abcdef"
    (hour / f"orderbooks-2026-11-21T10Z-{run}-s41.jsonl.gz.partial").write_bytes(flushed)
    (hour / f"orderbooks-2026-11-21T10Z-{run}-s10684.jsonl.gz.partial").write_bytes(_member([_row()]))
    found = probe.rows(str(tmp_path), since_ms=0, newest_files=1)  # one run's hour: both series files
    assert found["rows"] == 4 and found["newest_recv_ms"] == 3000
    assert set(found["series"]) == {"41", "10684"} and len(found["files"]) == 2


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (_row(), None),
        ({"schema": 1}, "missing recv_ms,cycle,series,slug,token_id,book"),
        (_row(schema=2), "schema 2"),
        (_row(recv_ms="1"), "recv_ms not an integer"),
        (_row(book={"bids": []}), "book without bids/asks lists"),
    ],
)
def test_row_problem(row, problem):
    assert probe.row_problem(row) == problem


def test_hosts_override_shadows_other_lines_and_is_removed_exactly(tmp_path, monkeypatch):
    hosts = tmp_path / "hosts"
    original = "127.0.0.1 localhost\n127.0.0.1 gamma.polysim.test clob.polysim.test\n# a comment\n"
    hosts.write_text(original)
    monkeypatch.setattr(probe, "HOSTS_FILE", str(hosts))
    added = probe.hosts_add("orderbooks-gate", "127.0.0.2", ["gamma.polysim.test", "clob.polysim.test"])
    lines = hosts.read_text().splitlines()
    assert lines[0] == "127.0.0.2 gamma.polysim.test clob.polysim.test  # orderbooks-gate"
    assert lines[1] == "127.0.0.1 localhost"
    assert lines[2].startswith("#") and "127.0.0.1 gamma.polysim.test" in lines[2]
    assert added["disabled"] == ["127.0.0.1 gamma.polysim.test clob.polysim.test"]
    # only our line names the API hosts now
    assert [ln for ln in lines if "gamma.polysim.test" in probe.names_on(ln)] == [lines[0]]
    result = probe.hosts_remove("orderbooks-gate")
    assert result["removed"] == 1
    assert hosts.read_text() == original
    assert result["sha256_after"] == added["sha256_before"]


# ---------------------------------------------------------------- evidence


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_poll_returns_first_truthy_value_and_records_the_wait():
    clock = FakeClock()
    evidence = GateEvidence("restart", host=None, sleep=clock.sleep, monotonic=clock.monotonic)
    answers = iter([Pending("not yet"), Pending("not yet"), {"pid": 42}])
    assert evidence.poll("service back", lambda: next(answers), deadline_s=10) == {"pid": 42}
    assert evidence.facts["waits"]["service back"] == 2.0


def test_poll_fails_at_the_deadline_with_the_last_detail():
    clock = FakeClock()
    evidence = GateEvidence("restart", host=None, sleep=clock.sleep, monotonic=clock.monotonic)
    with pytest.raises(PollTimeout, match=r"service back: not within 5 s \(last seen: MainPID 0\)"):
        evidence.poll("service back", lambda: Pending("MainPID 0"), deadline_s=5)
    assert clock.now == pytest.approx(5.0)


class FakeResult:
    def __init__(self, rc, stdout, stderr=""):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr


class FakeHost:
    def __init__(self):
        self.commands = []

    def run(self, command):
        self.commands.append(command)
        return FakeResult(0, "active\n")


def test_run_wraps_in_timeout_and_records_the_command():
    host = FakeHost()
    evidence = GateEvidence("collecting", host)
    assert evidence.run("systemctl is-active orderbooks-collector", timeout_s=30).stdout == "active\n"
    assert host.commands == ["timeout -k 5 30 sh -c 'systemctl is-active orderbooks-collector'"]
    (record,) = evidence.commands
    assert record["cmd"] == "systemctl is-active orderbooks-collector"
    assert record["rc"] == 0 and record["gate"] == "collecting" and record["where"] == "host"


def test_trim_keeps_both_ends():
    text = "a" * 5000 + "b" * 5000
    cut = trim(text, 100)
    assert cut.startswith("a" * 50) and cut.endswith("b" * 50) and "characters cut" in cut


def test_hold_checks_until_the_duration_is_over():
    clock = FakeClock()
    evidence = GateEvidence("network", host=None, sleep=clock.sleep, monotonic=clock.monotonic)
    calls = []
    assert evidence.hold("steady", lambda: calls.append(clock.now), duration_s=5, every_s=2) == 4
    assert calls == [0.0, 2.0, 4.0, 5.0]


def test_hold_fails_as_soon_as_the_check_fails():
    clock = FakeClock()
    evidence = GateEvidence("network", host=None, sleep=clock.sleep, monotonic=clock.monotonic)

    def check():
        assert clock.now < 3, "restarted"

    with pytest.raises(AssertionError, match="restarted"):
        evidence.hold("steady", check, duration_s=10, every_s=1)
    assert clock.now == 3
