"""Discovery: pagination, filtering, selection (window, grace, upcoming), rollover, failures."""

import json
import random

import httpx
from orderbooks.api.client import ApiClient
from orderbooks.config import Settings
from orderbooks.markets.discovery import PAGE_SIZE, RETRY_SECONDS, Discovery, retry_seconds
from testkit.fake_clock import FakeClock
from testkit.recording_log import RecordingLog

T0 = 1_700_000_000_000  # a multiple of 10 s
WIN = 10_000


def iso(ms):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ev(series, k, length=WIN, closed=False):
    start = k * length
    toks = [f"{series}{k}1", f"{series}{k}2"]
    return {
        "slug": f"btc-updown-5m-{start // 1000}",
        "series": [{"id": series}],
        "markets": [
            {
                "conditionId": f"0x{series}{k}",
                "slug": f"btc-updown-5m-{start // 1000}",
                "outcomes": '["Up", "Down"]',
                "clobTokenIds": json.dumps(toks),
                "eventStartTime": iso(start),
                "endDate": iso(start + length),
                "closed": closed,
            }
        ],
    }


class Gamma:
    """Lists windows of series 10684 from k0 on, on /events/keyset (or /events); can fail; records params."""

    def __init__(self, clock, count=8, extra=()):
        self.clock = clock
        self.count = count
        self.extra = list(extra)
        self.fail = False
        self.keyset = True  # False: /events/keyset answers 404 (not served)
        self.ignore_series = False
        self.params = []
        self.paths = []

    def __call__(self, request):
        self.params.append(dict(request.url.params))
        self.paths.append(request.url.path)
        if self.fail:
            return httpx.Response(503)
        now_k = self.clock.wall_ms() // WIN
        events = [ev("10684", k) for k in range(now_k - 1, now_k - 1 + self.count)] + self.extra
        if self.ignore_series:
            events = [ev("99001", k) for k in range(now_k, now_k + 3)]
        lim = int(request.url.params["limit"])
        if request.url.path == "/events/keyset":
            if not self.keyset:
                return httpx.Response(404, json={"error": "not found"})
            cursor = request.url.params.get("after_cursor")
            off = int(cursor.removeprefix("opaque-")) if cursor else 0
            body = {"events": events[off : off + lim]}
            if off + lim < len(events):
                body["next_cursor"] = f"opaque-{off + lim}"
            return httpx.Response(200, json=body)
        off = int(request.url.params.get("offset", "0"))
        return httpx.Response(200, json=events[off : off + lim])


def make(count=8, extra=(), **settings):
    clock = FakeClock(wall_ms=T0 + 2_000)
    gamma = Gamma(clock, count, extra)
    s = Settings(gamma_url="http://g", clob_url="http://c", series=("10684",), grace_seconds=3, **settings)
    client = ApiClient(s, clock=clock, transport=httpx.MockTransport(gamma), rng=random.Random(1))
    return Discovery(client, s, clock), gamma, clock


def refresh_after_a_change(cycle, **gamma_changes):
    """A first refresh that finds the windows; then Gamma changes (``fail=True``, ...) and, a
    minute later, the next refresh. Returns the discovery, the clock, what the first refresh
    knew and the second one's failures."""
    d, gamma, clock = make()
    d.refresh_due(clock.monotonic() + 5)
    known = dict(d.known)
    for name, value in gamma_changes.items():
        assert hasattr(gamma, name), name
        setattr(gamma, name, value)
    clock.advance(60)
    return d, clock, known, d.refresh_due(clock.monotonic() + 5, cycle=cycle)


def test_query_uses_the_documented_parameters():
    d, gamma, clock = make()
    assert d.refresh_due(clock.monotonic() + 5) == []
    p = gamma.params[0]
    assert p == {
        "series_id": "10684",
        "closed": "false",
        "order": "endDate",
        "ascending": "true",
        "limit": str(PAGE_SIZE),
        "end_date_min": iso(clock.wall_ms() // 1000 * 1000 - 3_000),
    }
    assert gamma.paths == ["/events/keyset"]


def test_follows_the_opaque_cursor_until_the_last_page(monkeypatch):
    monkeypatch.setattr("orderbooks.markets.discovery.HORIZON_SECONDS", 10**9)
    d, gamma, clock = make(count=2 * PAGE_SIZE + 5)
    d.refresh_due(clock.monotonic() + 5)
    assert [p.get("after_cursor") for p in gamma.params] == [
        None,
        f"opaque-{PAGE_SIZE}",
        f"opaque-{2 * PAGE_SIZE}",
    ]
    assert "offset" not in str(gamma.params)
    assert len(d.known) == 2 * PAGE_SIZE + 5


def test_falls_back_to_plain_events_without_offset_on_the_first_page(monkeypatch):
    monkeypatch.setattr("orderbooks.markets.discovery.HORIZON_SECONDS", 10**9)
    d, gamma, clock = make(count=PAGE_SIZE + 5)
    gamma.keyset = False
    failures = d.refresh_due(clock.monotonic() + 5)
    assert gamma.paths == ["/events/keyset", "/events", "/events"]
    assert [p.get("offset") for p in gamma.params[1:]] == [None, str(PAGE_SIZE)]
    notice = [f for f in failures if f.error == "discovery"]
    assert len(notice) == 1 and "falling back" in notice[0].message and notice[0].series == "10684"
    assert len(d.known) == PAGE_SIZE + 5
    clock.advance(60)
    d.refresh_due(clock.monotonic() + 5)
    assert gamma.paths[3:] == ["/events", "/events"]  # keyset is not asked again


def test_an_answer_without_the_series_is_a_blind_discovery_failure():
    d, _, known, failures = refresh_after_a_change(3, ignore_series=True)
    assert [f.error for f in failures] == ["discovery"]
    assert failures[0].series == "10684" and "none of series 10684" in failures[0].message
    assert d.known == known  # the known windows are kept and polled


def test_a_series_without_an_open_window_where_its_recurrence_says_one_exists_is_a_failure():
    d, gamma, clock = make()
    future = [ev("10684", (T0 // WIN) + 50 + i) for i in range(2)]
    for e in future:
        e["series"][0]["recurrence"] = "5m"  # 300 s windows; none open now
    gamma.count = 0
    gamma.extra = future
    failures = d.refresh_due(clock.monotonic() + 5)
    assert [f.error for f in failures] == ["discovery"] and "no open window" in failures[0].message


def test_window_start_falls_back_to_start_time_then_end_minus_recurrence():
    from orderbooks.markets.gamma import parse_events

    a, b = ev("10684", 5), ev("10684", 6)
    del a["markets"][0]["eventStartTime"]
    a["startTime"] = iso(5 * WIN)
    del b["markets"][0]["eventStartTime"]
    b["series"][0]["recurrence"] = "5m"
    b["markets"][0]["endDate"] = iso(6 * WIN + 300_000)
    b["markets"][0]["enableOrderBook"] = False
    markets, skipped = parse_events([a, b], "10684")
    assert not skipped
    assert [(m.start_ms, m.start_source) for m in markets] == [
        (5 * WIN, "startTime"),
        (6 * WIN, "endDate - recurrence"),
    ]
    assert [m.book_enabled for m in markets] == [True, False]  # pre-listed: kept, not dropped


def test_a_refresh_is_due_just_before_the_next_window_starts():
    d, _, clock = make(prestart_refresh_seconds=2)
    d.refresh_due(clock.monotonic() + 5)
    # now is 2 s into window k; window k + 1 starts in 8 s: refresh at 6 s, not after 60 s.
    assert d.next_refresh["10684"] - clock.monotonic() == 6


def test_stops_paging_beyond_the_horizon():
    d, gamma, clock = make(count=400)  # 400 windows of 10 s reach past the 900 s horizon on page 1
    d.refresh_due(clock.monotonic() + 5)
    assert len(gamma.params) == 1


def test_select_current_grace_and_upcoming():
    d, _, clock = make(upcoming=2)
    d.refresh_due(clock.monotonic() + 5)
    k = (T0 + 2_000) // WIN
    # previous window ended 2 s ago: in grace (3 s); current; next two upcoming
    assert [m.condition_id for m in d.select(clock.wall_ms())] == [
        f"0x10684{k - 1}",
        f"0x10684{k}",
        f"0x10684{k + 1}",
        f"0x10684{k + 2}",
    ]
    clock.advance(1.5)  # grace over for k-1
    assert f"0x10684{k - 1}" not in [m.condition_id for m in d.select(clock.wall_ms())]


def test_rollover_on_time_without_a_refresh():
    d, gamma, clock = make(upcoming=0)
    d.refresh_due(clock.monotonic() + 5)
    k = (T0 + 2_000) // WIN
    assert [m.condition_id for m in d.select(clock.wall_ms())][-1] == f"0x10684{k}"
    clock.advance(8.0)  # exactly the next window's start
    calls = len(gamma.params)
    assert f"0x10684{k + 1}" in [m.condition_id for m in d.select(clock.wall_ms())]
    assert len(gamma.params) == calls  # no request needed


def test_failed_refresh_keeps_the_known_set_and_records_discovery():
    d, clock, known, failures = refresh_after_a_change(9, fail=True)
    assert failures[-1].error == "discovery" and failures[-1].series == "10684" and failures[-1].cycle == 9
    assert {f.error for f in failures[:-1]} == {"http_status"}
    assert d.known.keys() >= {k for k, m in known.items() if m.end_ms + 3000 > clock.wall_ms()}
    assert d.due_series(clock.monotonic()) == []  # retried soon, not immediately
    clock.advance(10)
    assert d.due_series(clock.monotonic()) == ["10684"]


def test_retry_after_failures_doubles_from_one_second_up_to_the_cap_and_the_interval():
    assert [retry_seconds(n, 60) for n in range(1, 7)] == [1, 2, 4, *[RETRY_SECONDS] * 3]
    assert retry_seconds(3, 3) == 3  # never later than the normal refresh
    assert retry_seconds(10**6, 60) == RETRY_SECONDS


def test_failed_refreshes_back_off_and_a_success_resets_the_backoff():
    d, gamma, clock = make()
    d.refresh_due(clock.monotonic() + 5)
    gamma.fail = True
    waits = []
    for _ in range(4):
        clock.advance(max(0.0, d.next_refresh["10684"] - clock.monotonic()))
        d.refresh_due(clock.monotonic() + 5)
        waits.append(round(d.next_refresh["10684"] - clock.monotonic(), 3))
    assert waits == [1, 2, 4, RETRY_SECONDS]
    gamma.fail = False
    clock.advance(RETRY_SECONDS)
    assert d.refresh_due(clock.monotonic() + 5) == []
    assert d.failed_in_a_row["10684"] == 0
    gamma.fail = True
    clock.advance(max(0.0, d.next_refresh["10684"] - clock.monotonic()))
    d.refresh_due(clock.monotonic() + 5)
    assert d.next_refresh["10684"] - clock.monotonic() == 1  # back to the first step


def test_other_series_and_drift_are_filtered_and_drift_recorded():
    bad = ev("10684", 10**9)
    bad["markets"][0]["clobTokenIds"] = [1, 2]
    d, _, clock = make(extra=[ev("10192", 5), bad])
    failures = d.refresh_due(clock.monotonic() + 5)
    assert all(m.series == "10684" and "10192" not in m.condition_id for m in d.known.values())
    assert [f.error for f in failures] == ["schema_drift"]


def test_mark_closed_stops_polling_a_token_and_the_market_when_both_close():
    d, _, clock = make(upcoming=0)
    d.refresh_due(clock.monotonic() + 5)
    prev = d.select(clock.wall_ms())[0]
    d.mark_closed(prev.tokens[0][0])
    assert prev.tokens[0][0] not in [t.token_id for t in d.tracked_tokens(clock.wall_ms())]
    d.mark_closed(prev.tokens[1][0])
    assert prev not in d.select(clock.wall_ms())


def test_ended_market_no_longer_listed_is_forgotten_but_open_ones_are_kept():
    d, gamma, clock = make()
    d.refresh_due(clock.monotonic() + 5)
    k = (T0 + 2_000) // WIN
    assert f"0x10684{k - 1}" in d.select(clock.wall_ms())[0].condition_id  # in grace
    # Gamma now lists only windows from k + 1 on: k - 1 (ended) is closed, k (open) stays known.
    gamma.clock = FakeClock(wall_ms=(k + 2) * WIN)
    d.refresh_series("10684", clock.monotonic() + 5)
    assert f"0x10684{k - 1}" not in d.known
    assert f"0x10684{k}" in d.known


# ---------------------------------------------------------------- Protocol V2 ids, drift incidents


class SlugLog(RecordingLog):
    def events(self, level):
        return [(event, fields.get("slug")) for lvl, event, fields in self.lines if lvl == level]


def v2_event(k, position_ids=("7001", "7002"), legacy=None):
    e = ev("10684", k)
    market = e["markets"][0]
    market["version"] = "v2"
    if legacy is None:
        del market["clobTokenIds"]
    else:
        market["clobTokenIds"] = json.dumps(list(legacy))
    if position_ids is not None:
        market["positionIds"] = list(position_ids)
    return e


def test_a_v2_market_is_known_by_its_position_ids_even_with_clob_token_ids_beside():
    k = 10**9
    d, _, clock = make(extra=[v2_event(k, legacy=("9001", "9002"))])
    assert d.refresh_due(clock.monotonic() + 5) == []
    market = d.known[f"0x10684{k}"]
    assert (market.version, market.tokens) == ("v2", (("7001", "Up"), ("7002", "Down")))
    assert {"7001", "7002"} <= d.snapshot.token_ids and not {"9001", "9002"} & d.snapshot.token_ids


def test_drift_is_a_record_per_answer_but_one_warning_per_incident():
    k = 10**9
    d, gamma, clock = make(extra=[v2_event(k, position_ids=None)])
    log = d.log = SlugLog("discovery")
    slug = f"btc-updown-5m-{k * WIN // 1000}"

    def refresh():
        clock.advance(max(0.0, d.next_refresh["10684"] - clock.monotonic()))
        return [f for f in d.refresh_due(clock.monotonic() + 5) if f.error == "schema_drift"]

    drift = [refresh() for _ in range(3)]
    assert [len(records) for records in drift] == [1, 1, 1]  # every drifted answer is recorded
    assert drift[0][0].message == (
        f"{slug} (market 0x10684{k}): positionIds is NoneType, expected a list (version v2)"
    )
    assert log.events("warning") == [("market_schema_drift", slug)]  # said once
    assert log.events("debug") == [("market_schema_drift_again", slug)] * 2
    gamma.fail = True  # a failed refresh ends no incident
    refresh()
    gamma.fail = False
    assert len(refresh()) == 1
    assert log.events("warning").count(("market_schema_drift", slug)) == 1
    gamma.extra = [v2_event(k)]  # fixed: the incident is over
    assert refresh() == []
    assert f"0x10684{k}" in d.known
    gamma.extra = [v2_event(k, position_ids=None)]  # drifts again: a new incident, a new warning
    assert len(refresh()) == 1
    assert log.events("warning").count(("market_schema_drift", slug)) == 2
