"""Market documents: first-seen and closed records kept verbatim, retries, failures, the daily file.

Driven inline (``run_due``) with a FakeClock and ``httpx.MockTransport``; the
listing is the real recorded 5m event of tests/fixtures/real.
"""

from __future__ import annotations

import copy
import errno
import gzip
import os
import random
from pathlib import Path

import httpx
import orjson
from orderbooks.api.client import ApiClient
from orderbooks.config import Settings
from orderbooks.markets.discovery import Discovery
from orderbooks.markets.documents import MarketDocs, closed_doc
from orderbooks.markets.gamma import parse_events, parse_iso_ms
from orderbooks.store import manifest, paths
from orderbooks.store.market_files import DocsFile
from orderbooks.store.paths import DayKey
from orderbooks.store.verify import check_sealed as check_all
from testkit.fake_clock import FakeClock

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "real"
EVENT = orjson.loads((REAL / "gamma-event-btc-updown-5m-1778584200.json").read_bytes())
RAW = EVENT["markets"][0]
END = parse_iso_ms(RAW["endDate"])
RUN_ID = "20260512T110000Z-abcdef"


class Gamma:
    """``GET /markets/{id}`` of the real market: open until *close_at*, then closed with Up at "1"."""

    def __init__(self, clock, close_at, answer=None):
        self.clock = clock
        self.close_at = close_at
        self.answer = answer
        self.paths = []

    def __call__(self, request):
        self.paths.append(request.url.path)
        if self.answer is not None:
            return httpx.Response(200, json=self.answer)
        body = copy.deepcopy(RAW)
        if self.clock.wall_ms() >= self.close_at:
            body.update(closed=True, outcomePrices='["1", "0"]', acceptingOrders=False)
        return httpx.Response(200, json=body)


def make(tmp_path, *, close_at=END + 70_000, answer=None, write_bytes=None, **kw):
    clock = FakeClock(wall_ms=END - 180_000)
    gamma = Gamma(clock, close_at, answer)
    settings = Settings(gamma_url="http://g", clob_url="http://c", series=("10684",), max_retries=0)
    client = ApiClient(settings, clock=clock, transport=httpx.MockTransport(gamma), rng=random.Random(1))
    extra = {"write_bytes": write_bytes} if write_bytes else {}
    files = DocsFile(tmp_path, run_id=RUN_ID, clock=clock, host="h", version="t", **extra)
    return MarketDocs(files, client, clock, **kw), gamma, clock


def listed(docs, event=EVENT):
    markets, _ = parse_events([event], "10684")
    docs.listed("10684", [event], markets, "GET /events/keyset", docs.clock.wall_ms())
    return markets


def docs_on_disk(data_dir):
    out = []
    for path in sorted((data_dir / "markets").rglob("*.jsonl.gz*")):
        with gzip.open(path, "rb") as handle:
            out.extend(orjson.loads(line) for line in handle)
    return out


def run_until(docs, clock, until_ms, step_s=1.0):
    while clock.wall_ms() < until_ms:
        docs.run_due()
        clock.advance(step_s)


def test_first_seen_keeps_the_gamma_objects_verbatim_once(tmp_path):
    docs, gamma, _clock = make(tmp_path)
    listed(docs)
    listed(docs)  # the next refresh lists it again
    docs.run_due()
    [doc] = docs_on_disk(tmp_path)
    assert doc["kind"] == "first_seen"
    assert doc["market"] == RAW  # the exact object, key order too
    assert list(doc["market"]) == list(RAW)
    assert doc["event"] == {k: v for k, v in EVENT.items() if k != "markets"}
    assert doc["tokens"] == dict(
        zip(orjson.loads(RAW["clobTokenIds"]), orjson.loads(RAW["outcomes"]), strict=True)
    )
    assert (doc["condition_id"], doc["market_id"], doc["slug"]) == (
        RAW["conditionId"],
        "2229686",
        RAW["slug"],
    )
    assert gamma.paths == []  # nothing asked before the window ends


def test_closed_record_after_retries_with_backoff(tmp_path):
    docs, gamma, clock = make(tmp_path)  # Gamma closes it 70 s after the end
    listed(docs)
    run_until(docs, clock, END + 200_000)
    first_seen, closed = docs_on_disk(tmp_path)
    assert closed["kind"] == "closed" and closed["market"]["closed"] is True
    assert closed["market"]["outcomePrices"] == '["1", "0"]'
    assert closed["outcome_prices"] == {"Up": "1", "Down": "0"} and closed["winner"] == "Up"
    assert closed["source"] == "GET /markets/2229686" and closed["tokens"] == first_seen["tokens"]
    # looks at end + 5, 15, 35, 75 s: four requests, the last one closed
    assert gamma.paths == ["/markets/2229686"] * 4 and closed["attempts"] == 4
    assert closed["recv_ms"] >= END + 70_000
    assert docs.pending == 0 and docs.drain_failures() == []


def test_no_closed_record_in_time_is_a_market_document_failure(tmp_path):
    docs, gamma, clock = make(tmp_path, close_at=2**62, give_up_seconds=300)
    listed(docs)
    run_until(docs, clock, END + 400_000)
    [failure] = docs.drain_failures()
    assert failure.error == "market_document" and failure.series == "10684"
    assert "no closed record" in failure.message and "not closed yet" in failure.message
    assert docs.pending == 0
    asked = len(gamma.paths)
    run_until(docs, clock, END + 500_000)
    assert len(gamma.paths) == asked  # gave up: no more requests
    assert [d["kind"] for d in docs_on_disk(tmp_path)] == ["first_seen"]


def test_a_wrong_answer_is_recorded_and_retried(tmp_path):
    docs, _gamma, clock = make(tmp_path, answer=[{"conditionId": RAW["conditionId"]}])
    listed(docs)
    run_until(docs, clock, END + 20_000)
    failures = docs.drain_failures()
    assert len(failures) == 2 and {f.error for f in failures} == {"schema_drift"}
    assert "expected a market object" in failures[0].message
    assert docs.pending == 1


def test_request_failures_reach_the_drain(tmp_path):
    docs, _gamma, clock = make(tmp_path)
    docs.client.http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    listed(docs)
    run_until(docs, clock, END + 8_000)
    [failure] = docs.drain_failures()
    assert (failure.error, failure.status, failure.endpoint) == ("http_status", 503, "GET /markets/2229686")


def test_a_document_the_disk_refuses_is_recorded_kept_and_written_later(tmp_path):
    full = {"on": True}

    def write(fd, data):
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    docs, _gamma, clock = make(tmp_path, write_bytes=write)
    listed(docs)
    docs.run_due()
    [failure] = docs.drain_failures()
    assert failure.error == "market_document" and "not written" in failure.message
    assert docs_on_disk(tmp_path) == []
    full["on"] = False
    clock.advance(1)
    docs.run_due()
    assert [d["kind"] for d in docs_on_disk(tmp_path)] == ["first_seen"]
    assert check_all(tmp_path)["partials"][0]["members"] == 1  # the refused write left no bytes


def test_day_rollover_and_close_seal_each_day_with_a_manifest(tmp_path):
    clock = FakeClock(wall_ms=DayKey("2026-05-12").end_ms() - 1_000)
    files = DocsFile(tmp_path, run_id=RUN_ID, clock=clock, host="h", version="t")
    doc = {"schema": 1, "kind": "first_seen", "recv_ms": 1, "series": "10684", "slug": "s"}
    doc |= {"condition_id": "0x1", "market_id": "1", "window_start": "a", "window_end": "b"}
    doc |= {"tokens": {}, "source": "GET /events/keyset", "market": RAW, "event": {}}
    files.append(doc)
    clock.advance(2)
    files.roll()  # a new UTC day: yesterday's file is sealed without waiting for a document
    files.append(doc | {"condition_id": "0x2", "recv_ms": 2})
    files.close()
    sealed = sorted((tmp_path / "markets").rglob("*.jsonl.gz"))
    assert [p.parent.name for p in sealed] == ["2026-05-12", "2026-05-13"]
    first = manifest.read_json(paths.manifest_path_for(sealed[0]))
    assert first["kind"] == "orderbooks.market_documents" and first["day"] == "2026-05-12"
    assert (first["records"], first["members"], first["records_by_kind"]) == (1, 1, {"first_seen": 1})
    assert first["bytes"] == sealed[0].stat().st_size and first["run_id"] == RUN_ID
    report = check_all(tmp_path)
    assert all(f["ok"] for f in report["files"]) and len(report["files"]) == 2, report
    assert report["partials"] == report["orphan_manifests"] == report["stray"] == []


def test_discovery_hands_each_listing_page_to_the_listener(tmp_path):
    clock = FakeClock(wall_ms=END - 120_000)
    page = {"events": [EVENT]}
    settings = Settings(gamma_url="http://g", clob_url="http://c", series=("10684",))
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=page))
    discovery = Discovery(ApiClient(settings, clock=clock, transport=transport), settings, clock)
    seen = []
    discovery.on_listed = lambda *args: seen.append(args)
    discovery.refresh_due(clock.monotonic() + 5)
    [(series, events, markets, endpoint, recv_ms)] = seen
    assert (series, endpoint, events) == ("10684", "GET /events/keyset", [EVENT])
    assert [m.condition_id for m in markets] == [RAW["conditionId"]] and recv_ms == clock.wall_ms()
    discovery.on_listed = lambda *args: 1 / 0  # a broken listener never costs the refresh
    discovery.next_refresh["10684"] = 0.0
    assert discovery.refresh_due(clock.monotonic() + 5) == []
    assert discovery.snapshot.markets


def test_a_drifted_open_answer_is_schema_drift(tmp_path):
    docs, _gamma, clock = make(tmp_path, answer=dict(RAW, outcomePrices=1))
    listed(docs)
    run_until(docs, clock, END + 8_000)
    [failure] = docs.drain_failures()
    assert (failure.error, failure.endpoint) == ("schema_drift", "GET /markets/2229686")
    assert docs.pending == 1


# ---------------------------------------------------------------- a restart (resume)


def next_run(tmp_path, clock, gamma, run_id="20260512T120000Z-123456", **kw):
    """Another collector run on the same data folder: a new client, file and worker."""
    settings = Settings(gamma_url="http://g", clob_url="http://c", series=("10684",), max_retries=0)
    client = ApiClient(settings, clock=clock, transport=httpx.MockTransport(gamma), rng=random.Random(2))
    files = DocsFile(tmp_path, run_id=run_id, clock=clock, host="h", version="t")
    return MarketDocs(files, client, clock, **kw)


def test_a_restart_documents_nothing_twice_and_fetches_the_close_missed_while_down(tmp_path):
    docs, gamma, clock = make(tmp_path)
    listed(docs)
    docs.run_due()
    docs.close()  # the run stops before the window ends
    clock.advance(3 * 3600)  # down for 3 h: the market ended and closed meanwhile
    again = next_run(tmp_path, clock, gamma)
    found = again.resume(tmp_path)
    assert (found.files, found.documents, found.markets, found.closed, found.awaiting_close) == (
        1,
        1,
        1,
        0,
        1,
    )
    listed(again)  # a listing that still names it documents nothing new
    again.run_due()
    again.close()
    first_seen, closed = docs_on_disk(tmp_path)
    assert (first_seen["kind"], closed["kind"]) == ("first_seen", "closed")
    assert closed["condition_id"] == first_seen["condition_id"] and closed["winner"] == "Up"
    assert closed["tokens"] == first_seen["tokens"] and closed["attempts"] == 1
    assert gamma.paths == ["/markets/2229686"] and again.drain_failures() == []
    report = check_all(tmp_path)
    assert [f["ok"] for f in report["files"]] == [True, True], report


def test_a_restart_after_the_close_asks_for_nothing(tmp_path):
    docs, gamma, clock = make(tmp_path)
    listed(docs)
    run_until(docs, clock, END + 200_000)
    docs.close()
    asked = len(gamma.paths)
    again = next_run(tmp_path, clock, gamma)
    assert again.resume(tmp_path).awaiting_close == 0 and again.pending == 0
    listed(again)
    run_until(again, clock, END + 400_000)
    again.close()
    assert [d["kind"] for d in docs_on_disk(tmp_path)] == ["first_seen", "closed"]
    assert len(gamma.paths) == asked


def test_a_resumed_market_gives_up_counting_from_the_resume(tmp_path):
    docs, gamma, clock = make(tmp_path, close_at=2**62)
    listed(docs)
    docs.run_due()
    docs.close()
    clock.advance(3 * 3600)  # well past END + give_up_seconds
    again = next_run(tmp_path, clock, gamma, give_up_seconds=300)
    resumed_at = clock.wall_ms()
    again.resume(tmp_path)
    run_until(again, clock, resumed_at + 200_000)
    assert again.drain_failures() == [] and again.pending == 1  # still asking
    run_until(again, clock, resumed_at + 400_000)
    [failure] = again.drain_failures()
    assert failure.error == "market_document" and "no closed record" in failure.message
    assert again.pending == 0 and len(gamma.paths) >= 5


def test_an_unreadable_earlier_file_is_a_failure_record_and_its_markets_are_documented_again(tmp_path):
    docs, gamma, clock = make(tmp_path)
    listed(docs)
    docs.run_due()
    docs.close()
    [sealed_file] = (tmp_path / "markets").rglob("*.jsonl.gz")
    sealed_file.write_bytes(sealed_file.read_bytes()[:-4] + b"\0\0\0\0")  # a damaged CRC
    again = next_run(tmp_path, clock, gamma)
    found = again.resume(tmp_path)
    assert found.documents == 0 and len(found.skipped) == 1 and found.markets == 0
    [failure] = again.drain_failures()
    assert failure.error == "market_document" and "not readable" in failure.message
    assert sealed_file.name in failure.message
    listed(again)
    again.run_due()
    again.close()
    assert len([p for p in (tmp_path / "markets").rglob("*.jsonl.gz")]) == 2  # nothing deleted


def test_files_of_days_past_the_horizon_are_not_read(tmp_path):
    docs, gamma, clock = make(tmp_path)
    listed(docs)
    docs.run_due()
    docs.close()
    clock.advance(4 * 86_400)  # the market ended 4 days ago: forgotten
    again = next_run(tmp_path, clock, gamma)
    found = again.resume(tmp_path)
    assert (found.files, found.markets, found.awaiting_close) == (0, 0, 0)
    assert again.pending == 0 and gamma.paths == []


# ---------------------------------------------------------------- the price rule a market resolved on

CLOSED_REAL = {
    "gamma-event-closed-btc-updown-5m-1790617500.json": ("10684", "btc-5m-twap-60"),
    "gamma-event-closed-btc-updown-15m-1790616600.json": ("10192", "btc-15m-twap-60"),
}


def test_the_closed_document_carries_the_price_rule_the_real_closed_records_state():
    for name, (series, config_id) in CLOSED_REAL.items():
        event = orjson.loads((REAL / name).read_bytes())["response"]
        raw = event["markets"][0]
        (market,), _ = parse_events([event], series)
        doc = closed_doc(market, raw, f"GET /markets/{raw['id']}", 1_790_618_000_000, attempts=1)
        assert doc["price_rule"] == {
            "twap_enabled": True,
            "twap_lookback_seconds": 60,
            "config_id": config_id,
            "resolution_source": "https://data.chain.link/streams/btc-usd-twap-60s-streams",
        }
        assert doc["market"]["description"] == raw["description"]  # the wording stays, verbatim


def test_a_record_without_a_stated_rule_has_a_null_rule_and_partial_ones_keep_what_is_there():
    market = parse_events([EVENT], "10684")[0][0]
    closed = dict(RAW, closed=True, outcomePrices='["1", "0"]')
    assert "cryptoMarketConfig" not in closed and "resolutionSource" not in closed
    assert closed_doc(market, closed, "GET /markets/1", 1, attempts=1)["price_rule"] is None
    sourced = dict(closed, resolutionSource="https://data.chain.link/streams/btc-usd", cryptoMarketConfig="?")
    assert closed_doc(market, sourced, "GET /markets/1", 1, attempts=1)["price_rule"] == {
        "twap_enabled": None,
        "twap_lookback_seconds": None,
        "config_id": None,
        "resolution_source": "https://data.chain.link/streams/btc-usd",
    }
