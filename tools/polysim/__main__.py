"""python -m polysim --port P: run the simulator until SIGTERM/SIGINT (exit 0).

Prints one JSON line on stdout when ready (``{"event":"polysim_ready",...}``);
nothing else goes to stdout.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import orjson

from polysim.faults import KINDS
from polysim.markets import DEFAULT_SERIES, MARKET_VERSIONS
from polysim.simulator import Simulator


def _positive(value: str) -> float:
    v = float(value)
    if v <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return v


def _rate(value: str) -> float:
    v = float(value)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError("must be in [0, 1]")
    return v


def _kinds(value: str) -> list[str]:
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"unknown fault kind(s) {bad}; known: {','.join(KINDS)}")
    return kinds


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="polysim", description="Loopback Polymarket simulator (Gamma + CLOB).")
    p.add_argument("--port", type=int, required=True, help="API port (0 = any free port)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--control-port", type=int, default=None, help="control port (default: port + 1)")
    p.add_argument("--window-seconds", type=_positive, default=10.0, help="5m-series window length")
    p.add_argument("--same-window", action="store_true", help="every series uses --window-seconds")
    p.add_argument("--series", default=",".join(DEFAULT_SERIES))
    p.add_argument("--prelist", type=int, default=6, help="windows listed ahead of the current one")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fault-rate", type=_rate, default=0.0, help="random faults on this share of requests")
    p.add_argument("--faults", type=_kinds, default=None, help="fault kinds for --fault-rate")
    p.add_argument("--close-after-seconds", type=float, default=3.0, help="market closes this long after end")
    p.add_argument(
        "--book-levels",
        type=int,
        default=None,
        help="levels a side of every book, 1-99 (default: shallow books)",
    )
    p.add_argument(
        "--book-changes", type=int, default=3, help="level sizes changed per second with --book-levels"
    )
    p.add_argument(
        "--close-spread-seconds", type=float, default=0.0, help="each market closes up to S later still"
    )
    p.add_argument(
        "--behaviour",
        default="",
        help='JSON object of behaviour fields, e.g. {"offset_sunset": true} (see POST /behaviour)',
    )
    p.add_argument(
        "--market-version",
        choices=MARKET_VERSIONS,
        default="v1",
        help="how markets carry their CLOB ids: v1 clobTokenIds (default), v2 positionIds, mixed",
    )
    p.add_argument("--verbose", action="store_true", help="log each request on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    # every option is a keyword of Simulator by the same name; two need converting first
    options = vars(parser().parse_args(argv))
    if options["control_port"] is None:
        options["control_port"] = options["port"] + 1 if options["port"] else 0
    try:
        options["behaviour"] = orjson.loads(options["behaviour"]) if options["behaviour"] else None
        sim = Simulator(**options).start()
    except (ValueError, OSError) as exc:
        print(f"polysim: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    sys.stdout.write(orjson.dumps(sim.ready_line()).decode() + "\n")
    sys.stdout.flush()
    while not done.wait(0.5):
        pass
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
