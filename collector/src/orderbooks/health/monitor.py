"""The collector's monitor thread: metrics file and heartbeat every 30 s.

Every ``METRICS_SECONDS`` it evaluates ``status.evaluate(data_dir)`` (the same
answer ``orderbooks status`` gives, from the files on disk), writes the
Prometheus textfile when one is configured, and, with a heartbeat URL, GETs
``URL/fail`` when the status turns unhealthy and ``URL`` after each sealed
hour (``sealed.set()`` by the poll thread) while healthy. It never touches
the systemd watchdog: only the write path does, so a hung poll loop is
still killed although this thread runs on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from orderbooks.health import heartbeat, metrics, status
from orderbooks.logs import Logger, get_logger

METRICS_SECONDS = 30.0
#: Delay of the first evaluation after start (seconds).
FIRST_SECONDS = 5.0


class Monitor:
    def __init__(
        self,
        data_dir: Path,
        *,
        metrics_file: Path | None,
        heartbeat_url: str | None,
        log: Logger | None = None,
        evaluate: Callable[[Path], status.Status] = status.evaluate,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.metrics_file = metrics_file
        self.heartbeat_url = heartbeat_url or None
        self.log = log or get_logger("monitor")
        self.evaluate = evaluate
        self.wall_ms = wall_ms
        self.sealed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._was_healthy: bool | None = None
        self._alarms: set[str] = set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        delay = FIRST_SECONDS
        while not self._stop.wait(delay):
            self.tick()
            delay = METRICS_SECONDS

    def tick(self) -> status.Status | None:
        """One evaluation: metrics file, alarm log lines, heartbeat. Never raises."""
        try:
            result = self.evaluate(self.data_dir)
        except Exception as exc:
            self.log.error("status_failed", error=repr(exc)[:300])
            return None
        now = self.wall_ms()
        if self.metrics_file is not None:
            try:
                metrics.write(self.metrics_file, result, now)
            except OSError as exc:
                self.log.warning("metrics_write_failed", file=str(self.metrics_file), error=str(exc))
        names = {a["name"] for a in result.alarms}
        for alarm in result.alarms:
            if alarm["name"] not in self._alarms:
                self.log.warning("alarm_raised", **alarm)
        for name in sorted(self._alarms - names):
            self.log.info("alarm_cleared", name=name)
        self._alarms = names
        self._heartbeat(result)
        self._was_healthy = result.healthy
        return result

    def _heartbeat(self, result: status.Status) -> None:
        if self.heartbeat_url is None:
            self.sealed.clear()
            return
        error = None
        if not result.healthy and self._was_healthy is not False:
            error = heartbeat.fail(self.heartbeat_url, sorted({a["name"] for a in result.alarms}))
            what = "fail"
        elif result.healthy and self.sealed.is_set():
            self.sealed.clear()
            error = heartbeat.ping(self.heartbeat_url)
            what = "ping"
        else:
            return
        if error is None:
            self.log.info("heartbeat_sent", kind=what)
        else:
            self.log.warning("heartbeat_failed", kind=what, error=error)
