"""polysim: a loopback Polymarket simulator (Gamma + CLOB) for tests and rehearsals.

    from polysim import start_simulator

    with start_simulator(window_seconds=10, seed=1) as sim:
        sim.gamma_url, sim.clob_url, sim.control_url
        sim.set_faults(mode="429", target="clob", rate=0.5, retry_after=1)
        sim.stats()
        sim.markets_between(start_ms, end_ms)

See docs/simulator.md for what it reproduces and what it cannot.
"""

from __future__ import annotations

from typing import Any

from polysim.books import book_hash
from polysim.markets import BTC_SERIES, DECOY_SERIES_ID, DEFAULT_SERIES, expected_windows
from polysim.simulator import SimHandle, Simulator

__all__ = [
    "BTC_SERIES",
    "DECOY_SERIES_ID",
    "DEFAULT_SERIES",
    "SimHandle",
    "Simulator",
    "book_hash",
    "expected_windows",
    "start_simulator",
]


def start_simulator(
    port: int = 0, control_port: int = 0, window_seconds: float = 10, seed: int = 1, **opts: Any
) -> SimHandle:
    """Start the simulator in background threads on 127.0.0.1; returns its handle.

    ``opts``: host, series, prelist, close_after_seconds, same_window,
    fault_rate, faults, verbose, clock (a ``time.time``-like callable),
    book_levels, book_changes (see polysim.books.BookShape), market_version
    ("v1", "v2" or "mixed": how markets carry their CLOB ids, see polysim.markets).
    """
    return Simulator(
        port=port, control_port=control_port, window_seconds=window_seconds, seed=seed, **opts
    ).start()
