"""Fixtures for running the real `orderbooks collect` process against the simulator (loopback only)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from polysim import start_simulator
from testkit.collect_runs import orderbooks_argv
from testkit.sealed_files import read_rows

REPO = Path(__file__).resolve().parents[2]


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
