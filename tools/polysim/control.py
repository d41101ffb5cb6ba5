"""Control API (JSON) on its own port: state, faults, stats, reset, markets.

- ``GET /state``: simulator time, window lengths, open markets, fault config, request counters.
- ``POST /faults``: body like ``{"mode": "429", "target": "clob", "rate": 0.3, "retry_after": 1}``.
- ``POST /behaviour``: body like ``{"keyset": false, "stale_open": 1200}``: the real API's
  quirks (``polysim.behaviour.Behaviour``); fields left out keep their values.
- ``POST /reset``: clear faults and counters (and bring the API port back up).
- ``GET /stats``: ``{"requests": {...}, "faults": [...], "fault_counts": {...}, "config": {...}}``.
- ``GET /markets?start_ms=&end_ms=[&kinds=btc,decoy,malformed]``: what
  ``markets_between`` returns, for tests that run the simulator as a process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from polysim.server import QuietHandler


class ControlHandler(QuietHandler):
    def do_GET(self) -> None:
        sim = self.server.sim
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        query = parse_qs(url.query)
        if path == "/state":
            self.send_json(200, sim.state())
        elif path == "/stats":
            self.send_json(200, sim.stats())
        elif path == "/markets":
            try:
                now = sim.now_ms()
                start = int(query.get("start_ms", [str(now)])[-1])
                end = int(query.get("end_ms", [str(now + 1)])[-1])
                kinds = tuple(query.get("kinds", ["btc"])[-1].split(","))
                self.send_json(200, sim.markets_between(start, end, kinds=kinds))
            except ValueError as exc:
                self.send_json(400, {"error": str(exc)})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        sim = self.server.sim
        path = urlsplit(self.path).path.rstrip("/")
        body = self.read_body()
        if path == "/faults":
            self.apply_json(body, "fault config", sim.set_faults, "config")
        elif path == "/books":
            self.apply_json(body, "book shape", sim.set_books, "books")
        elif path == "/behaviour":
            self.apply_json(body, "behaviour", sim.set_behaviour, "behaviour")
        elif path == "/reset":
            sim.reset()
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": "not found"})

    def apply_json(self, body: bytes, what: str, apply: Callable[..., Any], key: str) -> None:
        """POST body (a JSON object) -> apply(**body); 400 with the reason on a bad value."""
        try:
            cfg = orjson.loads(body or b"{}")
            if not isinstance(cfg, dict):
                raise ValueError(f"{what} must be a JSON object")
            applied = apply(**cfg)
        except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
            self.send_json(400, {"error": str(exc)})
            return
        self.send_json(200, {"ok": True, key: applied})
