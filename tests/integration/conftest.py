"""Fixtures for running the real `orderbooks collect` process against the simulator (loopback only)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from polysim import start_simulator
from testkit.sealed_files import read_rows

REPO = Path(__file__).resolve().parents[2]


def orderbooks_argv() -> list[str]:
    exe = Path(sys.executable).with_name("orderbooks")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "orderbooks"]


@pytest.fixture
def sim():
    """A simulator with 10-second windows, no faults; stopped after the test."""
    with start_simulator(port=0, control_port=0, window_seconds=10, seed=1) as handle:
        yield handle


@dataclass
class CollectRun:
    proc: subprocess.Popen
    data_dir: Path
    started_ms: int
    stdout_path: Path
    stderr_path: Path
    ended_ms: int | None = None

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self.ended_ms = time.time_ns() // 1_000_000
        return code

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def logs(self) -> list[dict]:
        return [orjson.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def rows(self) -> list[dict]:
        return read_rows(self.data_dir)

    def manifests(self) -> list[dict]:
        return read_manifests(self.data_dir)

    def failures(self) -> list[dict]:
        return [f for m in self.manifests() for f in m["failures"]]


def read_manifests(data_dir: Path) -> list[dict]:
    return [orjson.loads(p.read_bytes()) for p in sorted((data_dir / "raw").rglob("*.manifest.json"))]


@pytest.fixture
def collect(tmp_path):
    """Start `orderbooks collect` as a subprocess: collect(sim, "--interval", "0.5", ...)."""
    runs: list[CollectRun] = []

    def start(
        sim=None, *args: str, env: dict[str, str] | None = None, data_dir: Path | None = None
    ) -> CollectRun:
        data_dir = data_dir or tmp_path / f"data{len(runs)}"
        argv = [*orderbooks_argv(), "collect", "--data-dir", str(data_dir)]
        if sim is not None:
            argv += ["--gamma-url", sim.gamma_url, "--clob-url", sim.clob_url]
        argv += list(args)
        out = tmp_path / f"collect{len(runs)}.stdout"
        err = tmp_path / f"collect{len(runs)}.stderr"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERBOOKS_")}
        full_env.update(env or {})
        started = time.time_ns() // 1_000_000
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen(argv, stdout=o, stderr=e, env=full_env, cwd=REPO)
        run = CollectRun(proc, data_dir, started, out, err)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait(timeout=10)


# Which client error classes an injected simulator fault may show up as.
FAULT_CLASSES = {
    "down": {"connect", "reset"},
    "5xx": {"http_status"},
    "429": {"rate_limited"},
    "425": {"not_ready"},
    # The simulator hangs slow_seconds, then resets: whichever side gives up first decides
    # (a discovery read timeout equals the default slow_seconds).
    "slow": {"timeout", "reset"},
    "reset": {"reset", "connect"},
    "truncate": {"bad_json", "reset"},
    "html": {"html_body"},
    "blocked": {"blocked"},  # an HTML 403: a blocked address
    # A drifted 404 (GET /book of a token without a book) is still a 404: recorded as such.
    "drift": {"schema_drift", "book_closed", "missing_book"},
}
#: Drift on a CLOB answer is reported against the endpoint the book came from.
#: A record carries the time the client gave up, the fault the time the request arrived: a
#: slow answer is seen after the 5 s read timeout, plus whatever a loaded machine adds.
TOLERANCE_MS = 12_000


def unmatched_faults(faults: list[dict], failures: list[dict]) -> list[dict]:
    """Faults (sim stats) without a failure record of a matching class, endpoint and time (1:1)."""
    pool = sorted(failures, key=lambda f: f["t_ms"])
    used = [False] * len(pool)
    missing = []
    for fault in sorted(faults, key=lambda f: f["t_ms"]):
        classes = FAULT_CLASSES[fault["kind"]]
        hit = None
        for i, rec in enumerate(pool):
            if used[i] or rec["error"] not in classes:
                continue
            if fault["endpoint"] != "*" and rec.get("endpoint") != fault["endpoint"]:
                continue
            if fault["t_ms"] - 1_000 <= rec["t_ms"] <= fault["t_ms"] + TOLERANCE_MS:
                hit = i
                break
        if hit is None:
            missing.append(fault)
        else:
            used[hit] = True
    return missing
