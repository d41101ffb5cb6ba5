"""The simulator as one object: catalog + books + fault plan + the two HTTP servers.

``Simulator`` runs both servers in background threads. The API server can be
taken down (listening socket closed, open connections dropped, so new
connections are refused) and brought back on the same port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from polysim.behaviour import Behaviour, adjust_book, parse_behaviour
from polysim.books import BookEngine, BookShape, book_hash
from polysim.control import ControlHandler
from polysim.faults import RANDOM_DEFAULT_KINDS, FaultConfig, FaultPlan, parse_config
from polysim.markets import DECOY_SERIES_ID, DEFAULT_SERIES, Catalog, unit
from polysim.server import ApiHandler, TrackingServer

HOUSEKEEPING_EVERY_MS = 10_000


class Simulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        control_port: int = 0,
        window_seconds: float = 10,
        seed: int = 1,
        series: tuple[str, ...] | list[str] | str = DEFAULT_SERIES,
        prelist: int = 6,
        close_after_seconds: float = 3,
        close_spread_seconds: float = 0,
        behaviour: dict[str, Any] | None = None,
        same_window: bool = False,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] | list[str] | str | None = None,
        verbose: bool = False,
        clock: Callable[[], float] | None = None,
        book_levels: int | None = None,
        book_changes: int = 3,
        market_version: str = "v1",
    ) -> None:
        if isinstance(series, str):
            series = [s.strip() for s in series.split(",") if s.strip()]
        if window_seconds <= 0:
            raise ValueError("window_seconds must be > 0")
        self.host = host
        self.verbose = verbose
        self._clock = clock or time.time
        self.catalog = Catalog(
            seed=seed,
            window_seconds=window_seconds,
            series=tuple(series),
            prelist=prelist,
            close_after_seconds=close_after_seconds,
            close_spread_seconds=close_spread_seconds,
            same_window=same_window,
            market_version=market_version,
        )
        if behaviour:
            self.catalog.behaviour = parse_behaviour(behaviour)
        self.engine = BookEngine(self.catalog, BookShape(levels=book_levels, changes=book_changes))
        self.plan = FaultPlan(seed=seed, clock_ms=self.now_ms)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._transition = threading.Lock()
        self._api: TrackingServer | None = None
        self._control: TrackingServer | None = None
        self._requested_port = port
        self._requested_control_port = control_port
        self.port = port
        self.control_port = control_port
        self._last_housekeeping = 0
        self._initial_faults: dict[str, Any] | None = None
        if faults is not None and isinstance(faults, str):
            faults = [f for f in faults.split(",") if f]
        if fault_rate:
            self._initial_faults = {
                "mode": "random",
                "rate": fault_rate,
                "kinds": list(faults or RANDOM_DEFAULT_KINDS),
            }
            parse_config(self._initial_faults)  # fail before binding anything
        elif faults:
            parse_config({"kinds": list(faults)})

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Simulator:
        now = self.now_ms()
        for sid in (*self.catalog.series, DECOY_SERIES_ID):
            self.catalog.open_events(sid, now)  # tokens known from the first request on
        self._api = self._serve(self.host, self._requested_port, ApiHandler)
        self.port = self._api.server_address[1]
        self._control = self._serve(self.host, self._requested_control_port, ControlHandler)
        self.control_port = self._control.server_address[1]
        if self._initial_faults:
            self.set_faults(**self._initial_faults)
        return self

    def _serve(self, host: str, port: int, handler: type) -> TrackingServer:
        srv = TrackingServer((host, port), handler, self)
        t = threading.Thread(
            target=srv.serve_forever, kwargs={"poll_interval": 0.05}, name=f"polysim-{port}", daemon=True
        )
        t.start()
        return srv

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            servers = [s for s in (self._api, self._control) if s is not None]
            self._api = self._control = None
        for srv in servers:
            srv.shutdown()
            srv.server_close()
            srv.drop_connections()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ URLs and time
    @property
    def gamma_url(self) -> str:
        return f"http://{self.host}:{self.port}/gamma"

    @property
    def clob_url(self) -> str:
        return f"http://{self.host}:{self.port}/clob"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}"

    def ready_line(self) -> dict[str, str]:
        return {
            "event": "polysim_ready",
            "gamma_url": self.gamma_url,
            "clob_url": self.clob_url,
            "control_url": self.control_url,
        }

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def housekeeping(self, now_ms: int) -> None:
        if now_ms - self._last_housekeeping < HOUSEKEEPING_EVERY_MS:
            return
        self._last_housekeeping = now_ms
        self.catalog.prune(now_ms)
        self.engine.forget_closed(now_ms)

    # ------------------------------------------------------------ the API port
    @property
    def api_down(self) -> bool:
        return self._api is None and not self.stopping.is_set()

    def _go_down(self) -> None:
        with self._transition:  # a whole close, so a re-open never races the old socket
            with self._lock:
                srv, self._api = self._api, None
            if srv is not None:
                srv.shutdown()
                srv.server_close()
                srv.drop_connections()

    def _go_up(self) -> None:
        with self._transition, self._lock:
            if self._api is not None or self.stopping.is_set():
                return
            self._api = self._serve(self.host, self.port, ApiHandler)

    def go_down_for(self, seconds: float) -> None:
        """A ``down`` drawn by ``random``: refuse connections for a while."""

        def cycle() -> None:
            self._go_down()
            if not self.stopping.wait(seconds) and self.plan.config.mode != "down":
                self._go_up()

        threading.Thread(target=cycle, name="polysim-down", daemon=True).start()

    # ------------------------------------------------------------ behaviour and books
    def set_behaviour(self, **cfg: Any) -> dict[str, Any]:
        """Change any subset of the ``Behaviour`` fields (the others keep their values)."""
        self.catalog.behaviour = parse_behaviour(cfg, self.catalog.behaviour)
        return self.catalog.behaviour.to_dict()

    @property
    def behaviour(self) -> Behaviour:
        return self.catalog.behaviour

    def refuses(self, token_id: str) -> bool:
        """Whether the CLOB refuses any batch holding this token (``refuse_share``)."""
        share = self.catalog.behaviour.refuse_share
        if not share:
            return False
        market = self.catalog.market_for_token(token_id)
        return (
            market is not None
            and market.kind == "btc"
            and token_id == market.token_ids[0]
            and unit(self.catalog.seed, "refuse", market.condition_id) < share
        )

    def book(self, token_id: str, now_ms: int) -> dict[str, Any] | None:
        """The book the CLOB answers with, under the current behaviour."""
        book = self.engine.book(token_id, now_ms)
        if book is None:
            return None
        seed = self.catalog.seed
        return adjust_book(book, self.catalog.behaviour, lambda *p: unit(seed, *p), book_hash)

    # ------------------------------------------------------------ faults and stats
    def set_faults(self, **cfg: Any) -> dict[str, Any]:
        config = parse_config(cfg)
        self.plan.configure(config)
        if config.mode == "down":
            self._go_down()
        else:
            self._go_up()
        return config.to_dict()

    def set_books(self, levels: int | None = None, changes: int = 3) -> dict[str, Any]:
        """Book depth (levels a side, None: default books) and level sizes changed per second."""
        shape = BookShape(levels=levels, changes=changes)
        self.engine.set_shape(shape)
        return shape.to_dict()

    def reset(self) -> None:
        self.plan.reset()
        self._go_up()

    def stats(self) -> dict[str, Any]:
        return self.plan.stats()

    @property
    def fault_config(self) -> FaultConfig:
        return self.plan.config

    def markets_between(
        self, start_ms: int, end_ms: int, kinds: tuple[str, ...] = ("btc",)
    ) -> list[dict[str, Any]]:
        """Every market of the given kinds whose window overlaps [start_ms, end_ms)."""
        return [m.describe() for m in self.catalog.markets_between(start_ms, end_ms, kinds)]

    def state(self) -> dict[str, Any]:
        now = self.now_ms()
        open_markets = [
            m.describe()
            for sid in self.catalog.series
            for ev in self.catalog.open_events(sid, now)
            for m in ev.markets
            if m.kind == "btc" and m.start_ms <= now
        ]
        stats = self.plan.stats()
        return {
            "now_ms": now,
            "seed": self.catalog.seed,
            "series": list(self.catalog.series),
            "window_ms": dict(self.catalog.lengths),
            "prelist": self.catalog.prelist,
            "market_version": self.catalog.market_version,
            "close_after_ms": self.catalog.close_after_ms,
            "close_spread_ms": self.catalog.close_spread_ms,
            "behaviour": self.catalog.behaviour.to_dict(),
            "api_down": self.api_down,
            "open_markets": open_markets,
            "faults": stats["config"],
            "requests": stats["requests"],
            "fault_counts": stats["fault_counts"],
        }


#: The handle tests get from ``start_simulator``.
SimHandle = Simulator
