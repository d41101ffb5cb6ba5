"""The fault plan: which request gets which fault, and the books kept on it.

A plan has one mode at a time (``none``, one fault kind, or ``random``), a
target (``gamma``, ``clob`` or ``all``) and a rate. For a single kind, each
request to the target gets the fault with probability ``rate`` (1.0 = every
request). ``random`` picks a kind from ``kinds`` for a share ``rate`` of the
requests. ``down`` as a mode closes the API port (the server acts on
``down_changed``); ``down`` drawn by ``random`` closes it for
``down_seconds``. ``blocked`` answers an HTML 403 (a blocked address) and
``throttle`` delays a normal answer by ``throttle_seconds`` (Cloudflare
queueing); ``drip`` sends the headers of a normal answer at once and then its
body one byte every ``drip_seconds`` (a body that never trips an idle read
timeout); ``random`` draws none of these three unless ``kinds`` names them. Every
injected fault is recorded (time, endpoint, kind, status) so tests can
match them with the client's failure records.
Decisions come from a seeded RNG: the same request sequence gets the same
faults.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

KINDS = (
    "down",
    "5xx",
    "429",
    "425",
    "slow",
    "reset",
    "truncate",
    "html",
    "drift",
    "blocked",
    "throttle",
    "drip",
)
#: ``random`` draws these unless told: not ``down`` (closes the port), ``blocked`` (a 403
#: that is not retried), ``throttle`` (a Cloudflare-style delay, no failure at all) or
#: ``drip`` (a body that takes minutes).
RANDOM_DEFAULT_KINDS = tuple(k for k in KINDS if k not in ("down", "blocked", "throttle", "drip"))
MODES = ("none", *KINDS, "random")
TARGETS = ("gamma", "clob", "all")
#: Status an injected fault answers with (None: no HTTP answer at all).
STATUS = {
    "429": 429,
    "425": 425,
    "slow": 200,
    "truncate": 200,
    "html": 200,
    "drift": 200,
    "blocked": 403,
    "throttle": 200,
    "drip": 200,
}
FIVE_XX = (500, 502, 503)
MAX_RECORDS = 100_000


@dataclass(frozen=True)
class FaultConfig:
    mode: str = "none"
    target: str = "all"
    rate: float = 1.0
    retry_after: int = 1
    slow_seconds: float = 5.0
    throttle_seconds: float = 0.3
    drip_seconds: float = 0.5
    down_seconds: float = 2.0
    kinds: tuple[str, ...] = RANDOM_DEFAULT_KINDS

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kinds"] = list(self.kinds)
        return d


def parse_config(cfg: dict[str, Any], base: FaultConfig | None = None) -> FaultConfig:
    """Validate a ``POST /faults`` body; unspecified fields keep their defaults."""
    if not isinstance(cfg, dict):
        raise ValueError("fault config must be a JSON object")
    allowed = set(FaultConfig.__dataclass_fields__)
    extra = set(cfg) - allowed
    if extra:
        raise ValueError(f"unknown field(s): {', '.join(sorted(extra))}")
    out = replace(base or FaultConfig(), **{k: v for k, v in cfg.items() if k != "kinds"})
    if "kinds" in cfg:
        kinds = cfg["kinds"]
        if isinstance(kinds, str):
            kinds = [k for k in kinds.split(",") if k]
        if not isinstance(kinds, list) or not kinds:
            raise ValueError("kinds must be a non-empty list")
        out = replace(out, kinds=tuple(kinds))
    if out.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if out.target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}")
    bad = [k for k in out.kinds if k not in KINDS]
    if bad:
        raise ValueError(f"unknown fault kind(s): {', '.join(bad)}")
    if not isinstance(out.rate, int | float) or not 0 <= out.rate <= 1:
        raise ValueError("rate must be a number in [0, 1]")
    if not isinstance(out.retry_after, int) or out.retry_after < 0:
        raise ValueError("retry_after must be a non-negative integer (seconds)")
    for name in ("slow_seconds", "down_seconds", "throttle_seconds", "drip_seconds"):
        value = getattr(out, name)
        if not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name} must be a non-negative number")
    return out


@dataclass
class Decision:
    kind: str
    status: int | None


@dataclass
class FaultPlan:
    seed: int = 1
    clock_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(f"faults|{self.seed}")
        self.config = FaultConfig()
        self.requests: Counter[str] = Counter()
        self.records: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            if config.mode == "down":
                self._record_locked("*", "down", None)

    def reset(self) -> None:
        with self._lock:
            self.config = FaultConfig()
            self.requests.clear()
            self.records.clear()
            self.counts.clear()

    def count_request(self, endpoint: str) -> None:
        with self._lock:
            self.requests[endpoint] += 1

    def decide(self, target: str, endpoint: str) -> Decision | None:
        """Whether this request gets a fault; records it when it does."""
        with self._lock:
            cfg = self.config
            if cfg.mode in ("none", "down"):
                return None
            if cfg.target not in ("all", target):
                return None
            if self._rng.random() >= cfg.rate:
                return None
            kind = self._rng.choice(cfg.kinds) if cfg.mode == "random" else cfg.mode
            if kind == "5xx":
                status: int | None = self._rng.choice(FIVE_XX)
            else:
                status = STATUS.get(kind)
            self._record_locked(endpoint, kind, status)
            return Decision(kind, status)

    def choice(self, options: tuple[Any, ...]) -> Any:
        with self._lock:
            return self._rng.choice(options)

    def _record_locked(self, endpoint: str, kind: str, status: int | None) -> None:
        self.counts[kind] += 1
        if len(self.records) < MAX_RECORDS:
            self.records.append(
                {"t_ms": self.clock_ms(), "endpoint": endpoint, "kind": kind, "status": status}
            )

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "faults": list(self.records),
                "fault_counts": dict(self.counts),
                "config": self.config.to_dict(),
            }
