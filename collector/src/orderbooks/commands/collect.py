"""Poll the order books of the open BTC up/down markets and write them to DATA_DIR.

Discovers the markets on Gamma (GET /events/keyset per series), polls their books on
the CLOB (POST /books, GET /book fallback) every --interval seconds, and
writes raw gzip JSONL rotated hourly, each sealed file with a manifest.
Network and API failures are logged, recorded in the manifests and retried;
they never stop the collector. SIGTERM/SIGINT: stop after the current cycle,
seal the files, exit 0. Every option is also ORDERBOOKS_<OPTION>.

Examples:
  orderbooks collect --data-dir /var/lib/orderbooks
  orderbooks collect --gamma-url http://127.0.0.1:8765/gamma \\
      --clob-url http://127.0.0.1:8765/clob --interval 0.5 --duration 60 --data-dir ./data
  ORDERBOOKS_SERIES=10684,10192 orderbooks collect --duration 300
"""

from __future__ import annotations

import argparse
import faulthandler
import signal
import socket
import sys
import threading
from types import FrameType
from typing import Any, NoReturn

from orderbooks import __version__, logs
from orderbooks.api.client import ApiClient
from orderbooks.capture.poll_loop import Collector
from orderbooks.clock import SystemClock
from orderbooks.config import ConfigError, Settings, add_arguments, settings_from_args
from orderbooks.exitcodes import ExitCode
from orderbooks.health.monitor import Monitor
from orderbooks.health.tracker import HealthTracker
from orderbooks.markets.documents import MarketDocs
from orderbooks.store import folder, paths
from orderbooks.store.market_files import DocsFile
from orderbooks.store.recovery import recover, recover_market_documents
from orderbooks.store.writer import SnapshotWriter

HELP = "collect order books from the Polymarket APIs into DATA_DIR"


def configure(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser)

    def one_line_error(message: str) -> NoReturn:
        # One clear line instead of argparse's usage dump; same exit code (USAGE).
        print(f"orderbooks collect: error: {message}", file=sys.stderr)
        sys.exit(ExitCode.USAGE)

    parser.error = one_line_error  # type: ignore[method-assign]


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        folder.check_data_dir(settings.data_dir)
        logs.configure(settings.log_level)
    except ConfigError as exc:
        print(f"orderbooks collect: error: {exc}", file=sys.stderr)
        return exc.code
    return collect(settings)


def collect(settings: Settings) -> int:
    """Recover leftovers, open the writer, run the loop until duration or signal, seal."""
    log = logs.get_logger("collect")
    clock = SystemClock()
    host = socket.gethostname()
    stop_event = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not stop_event.is_set():
            log.info("signal_received", signal=name, action="stop after the current cycle")
        stop_event.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    # The systemd watchdog kills a hung collector with SIGABRT: print every
    # thread's stack to the journal first, so the hang can be found.
    faulthandler.enable()
    try:
        report = recover(settings.data_dir, now_ms=clock.wall_ms(), collector_version=__version__, host=host)
        log.info("recovery_done", **report.to_dict())
        docs_report = recover_market_documents(
            settings.data_dir, now_ms=clock.wall_ms(), version=__version__, host=host
        )
        log.info("market_docs_recovery_done", **docs_report.to_dict())
        run_id = paths.new_run_id(clock.wall_ms())
        disk_floor_bytes = settings.disk_floor_mb * 1024 * 1024
        # what the book writer and the market documents file both stamp on their files
        this_run: dict[str, Any] = {"run_id": run_id, "clock": clock, "host": host}
        writer = SnapshotWriter(
            settings.data_dir,
            **this_run,
            collector_version=__version__,
            flush_rows=settings.flush_rows,
            flush_seconds=settings.flush_seconds,
            disk_floor_bytes=disk_floor_bytes,
            compress_level=settings.compress_level,
            member_cycles=settings.member_cycles,
            # Redacted: the heartbeat URL is a credential (config.redact_argv).
            run_info=settings.run_info(sys.argv[1:]),
        )
        health = HealthTracker(
            settings.data_dir,
            clock,
            run_id=run_id,
            version=__version__,
            series=settings.series,
            interval_s=settings.interval,
            disk_floor_bytes=disk_floor_bytes,
        )
        monitor = Monitor(
            settings.data_dir, metrics_file=settings.metrics_file, heartbeat_url=settings.heartbeat_url
        )
        docs_file = DocsFile(
            settings.data_dir, **this_run, version=__version__, compress_level=settings.compress_level
        )
        docs: list[MarketDocs] = []

        def market_docs(client: ApiClient) -> MarketDocs:
            docs.append(MarketDocs(docs_file, client, clock))
            try:
                docs[-1].resume(settings.data_dir)
            except Exception as exc:  # a bug here must not stop the collection
                log.error("market_docs_resume_failed", error=repr(exc)[:300], action="documents again")
            return docs[-1]

        exit_reason = "error"
        try:
            _save(health, log)
            monitor.start()
            collector = Collector(
                settings,
                writer,
                clock=clock,
                stop_event=stop_event,
                wait=stop_event.wait,
                health=health,
                on_sealed=monitor.sealed.set,
                market_docs=market_docs,
            )
            exit_reason = collector.run()
        finally:
            if docs:
                docs[0].close()
            else:
                docs_file.close()
            writer.close(exit_reason)
            _save(health, log)
            monitor.stop()
        log.info("collect_done", run_id=run_id, exit_reason=exit_reason)
        return ExitCode.OK
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _save(health: HealthTracker, log: logs.Logger) -> None:
    try:
        health.save()
    except OSError as exc:
        log.warning("health_state_failed", error=str(exc))
