"""One signal per outage: the pure tracker on tables of attempts, and the client feeding it."""

import random

import httpx
import pytest
from orderbooks.api.client import ApiClient
from orderbooks.api.outages import SUMMARY_SECONDS, Attempt, OutageTracker, family
from orderbooks.config import Settings
from orderbooks.timefmt import iso_ms
from testkit.fake_clock import FakeClock
from testkit.recording_log import RecordingLog

T0_MS = 1_700_000_000_000
MONO0 = 1000.0


def at(t, api="clob", error="connect", *, status=None, endpoint="POST /books", token=None):
    """An attempt *t* seconds into the script (error None: the API answered)."""
    return Attempt(
        api,
        MONO0 + t,
        T0_MS + round(t * 1000),
        error=error,
        status=status,
        endpoint=endpoint,
        message=f"{error} at {t}",
        token_id=token,
    )


def ok(t, api="clob"):
    return at(t, api, error=None, endpoint="")


def run(attempts, tracker=None):
    """Feed the attempts in order: [(t, event, api, family, fields)] of every line returned."""
    tracker = tracker or OutageTracker()
    lines = []
    for attempt in attempts:
        for signal in tracker.observe(attempt):
            assert signal.level == "warning"
            f = signal.fields
            lines.append((round(attempt.mono - MONO0, 3), signal.event, f["api"], f["family"], f))
    return lines


def events(lines):
    return [(t, event, api, fam) for t, event, api, fam, _ in lines]


def every(start, stop, step, **kw):
    return [at(start + i * step, **kw) for i in range(int((stop - start) / step) + 1)]


# ------------------------------------------------------------------ the table


TABLE = {
    # A blip an answer ends before it is confirmed: nothing at warning level.
    "blip": ([at(0), at(0.1), at(0.4), ok(1)], []),
    # Many failures, but an answer within the confirmation time: still a blip.
    "short burst": ([*every(0, 4.5, 0.5), ok(4.9)], []),
    # Failing for 5 s with at least 3 failures: started, then ended by an answer.
    "start and end": (
        [*every(0, 8, 1), ok(9)],
        [(5, "outage_started", "clob", "unreachable"), (9, "outage_ended", "clob", "unreachable")],
    ),
    # Failures 5 s apart: the third one confirms (three failures, 10 s).
    "slow failures": (
        [at(0), at(5), at(10), ok(11)],
        [(10, "outage_started", "clob", "unreachable"), (11, "outage_ended", "clob", "unreachable")],
    ),
    # A summary every 5 minutes after the start while it lasts.
    "continues every 5 minutes": (
        [*every(0, 660, 10), ok(661)],
        [
            (20, "outage_started", "clob", "unreachable"),
            (20 + SUMMARY_SECONDS, "outage_continues", "clob", "unreachable"),
            (20 + 2 * SUMMARY_SECONDS, "outage_continues", "clob", "unreachable"),
            (661, "outage_ended", "clob", "unreachable"),
        ],
    ),
    # Failure and answer in turn for a minute: never an outage.
    "flapping every second": (
        [a for i in range(60) for a in (at(i), ok(i + 0.5))],
        [],
    ),
    # Down 8 s, up, again and again: the first outage is told; each one ended doubles the
    # time the next needs (10 s > 8 s), so the rest stay blips.
    "flapping outages": (
        [a for k in range(20) for a in (*every(k * 9, k * 9 + 8, 1), ok(k * 9 + 8.5))],
        [(5, "outage_started", "clob", "unreachable"), (8.5, "outage_ended", "clob", "unreachable")],
    ),
    # Down 30 s at a time: confirmed after 5, 10, 20 s, then no more (40 s > 30 s).
    "flapping long outages": (
        [a for k in range(6) for a in (*every(k * 31, k * 31 + 30, 1), ok(k * 31 + 30.5))],
        [
            (5, "outage_started", "clob", "unreachable"),
            (30.5, "outage_ended", "clob", "unreachable"),
            (41, "outage_started", "clob", "unreachable"),
            (61.5, "outage_ended", "clob", "unreachable"),
            (82, "outage_started", "clob", "unreachable"),
            (92.5, "outage_ended", "clob", "unreachable"),
        ],
    ),
    # Both APIs down at once: one outage each; the CLOB's answer ends only the CLOB's.
    "two APIs at once": (
        [
            a
            for t in range(0, 12)
            for a in (at(t, "clob"), at(t + 0.5, "gamma", "timeout", endpoint="GET /events/keyset"))
        ]
        + [ok(12, "clob"), at(13, "gamma", "timeout"), ok(20, "gamma")],
        [
            (5, "outage_started", "clob", "unreachable"),
            (5.5, "outage_started", "gamma", "unreachable"),
            (12, "outage_ended", "clob", "unreachable"),
            (20, "outage_ended", "gamma", "unreachable"),
        ],
    ),
    # Two families at one API (5xx and the Retry-After cool-down it causes): two outages,
    # one answer ends both.
    "two families at one API": (
        [
            a
            for t in range(0, 8)
            for a in (at(t, error="http_status", status=503), at(t + 0.2, error="rate_limited"))
        ]
        + [ok(9)],
        [
            (5, "outage_started", "clob", "erroring"),
            (5.2, "outage_started", "clob", "throttled"),
            (9, "outage_ended", "clob", "erroring"),
            (9, "outage_ended", "clob", "throttled"),
        ],
    ),
    # A 404 (book closed) or a refused request is an answer: the API is up.
    "a 404 is an answer": (
        [*every(0, 8, 1), at(9, error="book_closed", status=404)],
        [(5, "outage_started", "clob", "unreachable"), (9, "outage_ended", "clob", "unreachable")],
    ),
    "a 400 is no outage": ([at(t, error="http_status", status=400) for t in range(30)], []),
    # An answer from the other API ends nothing.
    "the other API's answer": (
        [*every(0, 8, 1), ok(8.5, "gamma"), ok(9)],
        [(5, "outage_started", "clob", "unreachable"), (9, "outage_ended", "clob", "unreachable")],
    ),
}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_table(name):
    attempts, expected = TABLE[name]
    assert events(run(attempts)) == expected


# ------------------------------------------------------------------ the lines' fields


def test_started_names_the_first_failure_and_counts_since_it():
    lines = run([at(0, token="t1"), at(1, error="reset", token="t2"), *every(2, 5, 1)])
    ((t, event, _, _, fields),) = lines
    assert (t, event) == (5, "outage_started")
    assert fields["error"] == "connect" and fields["message"] == "connect at 0"
    assert fields["endpoint"] == "POST /books"
    assert fields["since"] == iso_ms(T0_MS)
    assert fields["duration_s"] == 5.0
    assert fields["failures"] == {"connect": 5, "reset": 1}
    assert fields["attempts"] == 6
    assert fields["tokens"] == 2
    assert fields["endpoints"] == {"POST /books": 6}
    assert fields["recent_outages"] == 0


def test_ended_sums_up_the_whole_outage():
    tracker = OutageTracker()
    run(every(0, 59, 1), tracker)
    tracker.affected("clob", ["a", "b", "c"])
    tracker.affected("gamma", ["x"])  # no gamma outage: nothing counted
    (line,) = run([at(59.5, "gamma", "timeout"), ok(60)], tracker)
    _, event, api, fam, fields = line
    assert (event, api, fam) == ("outage_ended", "clob", "unreachable")
    assert fields["duration_s"] == 60.0
    assert fields["failures"] == {"connect": 60}
    assert fields["attempts"] == 60
    assert fields["tokens"] == 3
    assert fields["since"] == iso_ms(T0_MS)
    assert fields["last_failure"] == iso_ms(T0_MS + 59_000)
    assert fields["ended"] == iso_ms(T0_MS + 60_000)


def test_attempts_count_every_failure_at_the_api_failures_only_the_family():
    tracker = OutageTracker()
    run([*every(0, 6, 1), at(6.5, error="rate_limited")], tracker)
    ((_, _, _, fam, fields),) = run([ok(7)], tracker)  # the throttled blip ends silently
    assert fam == "unreachable"
    assert fields["failures"] == {"connect": 7}
    assert fields["attempts"] == 8


def test_continues_carries_the_last_failure():
    lines = run([*every(0, 305, 5), at(310, error="reset")])
    continues = [f for _, event, _, _, f in lines if event == "outage_continues"]
    assert len(continues) == 1
    assert continues[0]["last_error"] == "reset" and continues[0]["duration_s"] == 310.0
    assert continues[0]["failures"] == {"connect": 62, "reset": 1}
    assert "at_stop" not in continues[0]


def test_at_stop_sums_up_open_outages_but_not_blips():
    tracker = OutageTracker()
    run([*every(0, 10, 1), at(10, "gamma", "timeout")], tracker)
    (signal,) = tracker.at_stop(MONO0 + 12)
    assert signal.event == "outage_continues"
    assert signal.fields["api"] == "clob" and signal.fields["at_stop"] is True
    assert signal.fields["duration_s"] == 12.0
    assert tracker.open_outages == [("clob", "unreachable")]


def test_the_recent_outages_are_forgotten_after_the_flap_window():
    tracker = OutageTracker(flap_window_seconds=100)
    first = run([*every(0, 8, 1), ok(8.5)], tracker)
    soon = run([*every(10, 18, 1), ok(18.5)], tracker)  # needs 10 s now: a blip
    later = run([*every(200, 208, 1), ok(208.5)], tracker)  # the first is forgotten
    assert [e for _, e, *_ in first] == ["outage_started", "outage_ended"]
    assert soon == []
    assert [e for _, e, *_ in later] == ["outage_started", "outage_ended"]
    assert later[0][4]["recent_outages"] == 0


def test_lines_stay_few_however_many_attempts():
    """A one-hour outage of both APIs, 40 failed attempts a second: a handful of lines."""
    attempts = [at(i / 40, "clob" if i % 2 else "gamma", token=str(i % 20)) for i in range(40 * 3600)]
    lines = run([*attempts, ok(3600, "clob"), ok(3600, "gamma")])
    per_api = 2 + 3600 // SUMMARY_SECONDS  # started, continues every 5 minutes, ended
    assert len(lines) <= 2 * per_api
    ended = [f for _, event, _, _, f in lines if event == "outage_ended"]
    assert sum(sum(f["failures"].values()) for f in ended) == len(attempts)


@pytest.mark.parametrize(
    ("error", "status", "expected"),
    [
        ("timeout", None, "unreachable"),
        ("connect", None, "unreachable"),
        ("reset", None, "unreachable"),
        ("http_status", 500, "erroring"),
        ("http_status", 503, "erroring"),
        ("http_status", 408, "erroring"),
        ("http_status", 404, None),
        ("http_status", 400, None),
        ("html_body", 200, "erroring"),
        ("bad_json", 200, "erroring"),
        ("oversize", 200, "erroring"),
        ("rate_limited", 429, "throttled"),
        ("rate_limited", None, "throttled"),
        ("not_ready", 425, "throttled"),
        ("blocked", 403, "blocked"),
        ("book_closed", 404, None),
        ("missing_book", 404, None),
        ("schema_drift", None, None),
    ],
)
def test_families(error, status, expected):
    assert family(error, status) == expected


# ------------------------------------------------------------------ the client feeding it


def test_the_client_logs_attempts_at_debug_and_the_outage_once():
    clock = FakeClock()
    up = {"clob": False}

    def handler(request):
        if not up["clob"]:
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, json=[])

    settings = Settings(gamma_url="http://gamma.test", clob_url="http://clob.test", max_retries=2)
    log = RecordingLog("client")
    client = ApiClient(
        settings, clock=clock, transport=httpx.MockTransport(handler), rng=random.Random(1), log=log
    )
    records = []
    start = clock.monotonic()
    for cycle in range(30):  # 30 cycles of a second, three attempts each
        due = start + cycle + 1
        records += client.post_json("clob", "/books", body=[], deadline=due).failures
        clock.advance(due - clock.monotonic())
    up["clob"] = True
    assert client.post_json("clob", "/books", body=[], deadline=clock.monotonic() + 1).ok
    client.close()
    warnings = [(event, f) for level, event, f in log.lines if level != "debug"]
    debug = [event for level, event, _ in log.lines if level == "debug"]
    assert debug == ["request_failed"] * len(records) and len(records) >= 60
    assert [event for event, _ in warnings] == ["outage_started", "outage_ended"]
    ended = warnings[1][1]
    assert sum(ended["failures"].values()) == len(records)
    assert ended["since"] == iso_ms(records[0].t_ms)
    assert ended["last_failure"] == iso_ms(records[-1].t_ms)


def test_closing_the_client_during_an_outage_sums_it_up():
    clock = FakeClock()

    def handler(request):
        raise httpx.ReadTimeout("read timed out")

    settings = Settings(gamma_url="http://gamma.test", clob_url="http://clob.test", max_retries=2)
    log = RecordingLog("client")
    client = ApiClient(
        settings, clock=clock, transport=httpx.MockTransport(handler), rng=random.Random(1), log=log
    )
    for _ in range(10):
        client.get_json("gamma", "/events/keyset", deadline=clock.monotonic() + 1)
        clock.advance(1)
    client.close()
    warnings = [(event, f) for level, event, f in log.lines if level != "debug"]
    assert [event for event, _ in warnings] == ["outage_started", "outage_continues"]
    assert warnings[1][1]["at_stop"] is True and warnings[1][1]["api"] == "gamma"
