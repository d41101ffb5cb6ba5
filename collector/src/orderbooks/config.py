"""Collector settings: parsing and validation, before any network call.

Every option is an argparse argument whose ``type=`` function raises
``argparse.ArgumentTypeError`` with a short reason, so the same check applies
to the command line and to ``ORDERBOOKS_<OPTION>`` environment variables
(``cli.apply_environment`` calls the same functions). ``settings_from_args``
turns the namespace into a frozen ``Settings`` and checks what needs more
than one value; whether the data folder is writable is the store's to prove
(``store.folder.check_data_dir``, called by ``orderbooks collect``).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from orderbooks.exitcodes import ExitCode

DEFAULT_GAMMA_URL = "https://gamma-api.polymarket.com"
DEFAULT_CLOB_URL = "https://clob.polymarket.com"
DEFAULT_DATA_DIR = "/var/lib/orderbooks"
#: BTC up/down series on Gamma: 5m, 15m, hourly, 4h, daily.
DEFAULT_SERIES = ("10684", "10192", "10114", "10331", "41")
LOG_LEVELS = ("debug", "info", "warning", "error")

_SERIES_RE = re.compile(r"^[0-9]{1,12}$")


class ConfigError(Exception):
    """A setting that cannot be used; ``code`` is the exit code to return."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- argparse types


def positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {raw!r}")
    return value


def non_negative_float(raw: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {raw!r}")
    return value


def fraction(raw: str) -> float:
    value = positive_float(raw)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {raw!r}")
    return value


def _int(raw: str) -> int:
    try:
        return int(str(raw).strip(), 10)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None


def positive_int(raw: str) -> int:
    value = _int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {raw!r}")
    return value


def non_negative_int(raw: str) -> int:
    value = _int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {raw!r}")
    return value


def compress_level(raw: str) -> int:
    value = _int(raw)
    if not 1 <= value <= 9:
        raise argparse.ArgumentTypeError(f"must be 1..9, got {raw!r}")
    return value


def http_url(raw: str) -> str:
    """``http(s)://host[:port][/path]`` without query or fragment; trailing '/' removed."""
    text = str(raw).strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"malformed URL {raw!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"malformed URL {raw!r}: expected http(s)://host[:port][/path]")
    if parts.query or parts.fragment or " " in text:
        raise argparse.ArgumentTypeError(f"malformed URL {raw!r}: no query, fragment or spaces allowed")
    del port
    return text.rstrip("/")


def optional_url(raw: str) -> str | None:
    """An http(s) URL like ``http_url``, or empty for none."""
    return http_url(raw) if str(raw).strip() else None


def secret_url(raw: str) -> str | None:
    """``optional_url`` for a URL that is a credential (the heartbeat URL): its error
    names the URL only as ``redact_url`` shows it."""
    try:
        return optional_url(raw)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"malformed URL {redact_url(str(raw))!r}: expected http(s)://host[:port][/path], "
            "no query, fragment or spaces"
        ) from None


# ---------------------------------------------------------------- secrets
#: What stands for the secret part of a value in manifests and logs.
REDACTED = "<redacted>"
#: Options whose value is a secret: never written as given (run manifests, logs).
SECRET_OPTIONS = ("--heartbeat-url",)


def redact_url(url: str | None) -> str | None:
    """``scheme://host[:port]/<redacted>``: which service, never the credential.

    A heartbeat URL (healthchecks.io style) is a credential in its path: anyone
    who has it can ping or fail the check. Only its scheme, host and port are
    kept; user, password, path, query and fragment are not.
    """
    if not url:
        return None
    try:
        parts = urlsplit(str(url).strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return REDACTED
    if parts.scheme not in ("http", "https") or not host:
        return REDACTED
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}/{REDACTED}"


def redact_argv(argv: list[str], secrets: tuple[str | None, ...] = ()) -> list[str]:
    """*argv* with the value of every secret option redacted (``--heartbeat-url URL``,
    ``--heartbeat-url=URL`` and argparse's abbreviations such as ``--heartbeat URL``),
    and any of *secrets* (the values as parsed) redacted wherever else it appears."""
    out: list[str] = []
    redact_next = False
    for arg in argv:
        if redact_next:
            out.append(redact_url(arg) or REDACTED)
            redact_next = False
            continue
        name, sep, value = arg.partition("=")
        if len(name) > 2 and name.startswith("--") and any(o.startswith(name) for o in SECRET_OPTIONS):
            if sep:
                out.append(f"{name}={redact_url(value) or REDACTED}")
            else:
                out.append(arg)
                redact_next = True
            continue
        shown = arg
        for secret in secrets:
            if secret and secret in shown:
                shown = shown.replace(secret, redact_url(secret) or REDACTED)
        out.append(shown)
    return out


def optional_path(raw: str) -> Path | None:
    """An absolute file path, or empty for none."""
    text = str(raw).strip()
    if not text:
        return None
    if not text.startswith("/") or text.endswith("/"):
        raise argparse.ArgumentTypeError(
            f"expected an absolute file path like /var/lib/x/y.prom; got {raw!r}"
        )
    return Path(text)


def series_ids(raw: str) -> tuple[str, ...]:
    """``"10684, 41"`` -> ``("10684", "41")``: comma-separated numeric Gamma series ids."""
    items = [item.strip() for item in str(raw).split(",")]
    if not items or any(not item for item in items):
        raise argparse.ArgumentTypeError(f"expected comma-separated series ids like 10684,41; got {raw!r}")
    bad = [item for item in items if not _SERIES_RE.match(item)]
    if bad:
        raise argparse.ArgumentTypeError(
            f"series ids are numbers (e.g. 10684,41); not understood: {bad[0]!r}"
        )
    return tuple(dict.fromkeys(items))


def log_level(raw: str) -> str:
    value = str(raw).strip().lower()
    if value not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}; got {raw!r}")
    return value


# ---------------------------------------------------------------- settings
MIB = 1 << 20


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    gamma_url: str = DEFAULT_GAMMA_URL
    clob_url: str = DEFAULT_CLOB_URL
    interval: float = 1.0
    series: tuple[str, ...] = DEFAULT_SERIES
    duration: float | None = None
    grace_seconds: float = 120.0
    upcoming: int = 1
    discovery_interval: float = 60.0
    prestart_refresh_seconds: float = 2.0
    books_chunk_size: int = 50
    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    max_retries: int = 2
    flush_rows: int = 0
    flush_seconds: float = 0.0
    disk_floor_mb: int = 1024
    compress_level: int = 6
    member_cycles: int = 60
    log_level: str = "info"
    budget_fraction: float = 0.5
    max_body_bytes: int = 2 * MIB
    max_books_body_bytes: int = 8 * MIB
    metrics_file: Path | None = None
    heartbeat_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["data_dir"] = str(self.data_dir)
        out["series"] = list(self.series)
        out["metrics_file"] = str(self.metrics_file) if self.metrics_file else None
        # A heartbeat URL is a credential of the outside service: never logged or
        # written; its scheme and host say which service (redact_url).
        out["heartbeat_url"] = redact_url(self.heartbeat_url)
        return out

    def run_info(self, argv: list[str]) -> dict[str, Any]:
        """What a run manifest records of how the run was started: the command line
        (*argv*) and the settings, every secret redacted."""
        return {"argv": redact_argv(list(argv), (self.heartbeat_url,)), "settings": self.to_dict()}


#: (option, type, metavar, help) for every collect option, in --help order; each default is the
#: default of the Settings field of the same name.
OPTIONS: tuple[tuple[str, Any, str, str], ...] = (
    ("--data-dir", Path, "DIR", "data folder (raw files, manifests, runs)"),
    ("--gamma-url", http_url, "URL", "Gamma API base URL"),
    ("--clob-url", http_url, "URL", "CLOB API base URL"),
    ("--interval", positive_float, "S", "seconds between poll cycles (> 0)"),
    ("--series", series_ids, "IDS", "comma-separated Gamma series ids"),
    ("--duration", positive_float, "S", "stop cleanly after S seconds (default: run until signalled)"),
    ("--grace-seconds", non_negative_float, "S", "keep polling a market S seconds after endDate"),
    ("--upcoming", non_negative_int, "N", "also poll the next N upcoming windows per series"),
    ("--discovery-interval", positive_float, "S", "seconds between Gamma discovery refreshes"),
    (
        "--prestart-refresh-seconds",
        non_negative_float,
        "S",
        "also refresh a series S seconds before each tracked window starts (0: off)",
    ),
    ("--books-chunk-size", positive_int, "N", "token ids per POST /books request"),
    ("--connect-timeout", positive_float, "S", "HTTP connect timeout"),
    ("--read-timeout", positive_float, "S", "HTTP read timeout (also capped by the cycle deadline)"),
    ("--max-retries", non_negative_int, "N", "retries per request within one cycle"),
    ("--flush-rows", non_negative_int, "N", "flush a gzip member every N rows (0: every cycle)"),
    ("--flush-seconds", non_negative_float, "S", "flush a gzip member every S seconds (0: every cycle)"),
    ("--disk-floor-mb", non_negative_int, "MB", "stop writing rows below this much free space"),
    ("--compress-level", compress_level, "1-9", "gzip compression level"),
    (
        "--member-cycles",
        non_negative_int,
        "N",
        "0: one file per hour, one gzip member per flush; N: one file per series and hour, "
        "a sync flush per cycle, a member closed every N cycles",
    ),
    ("--log-level", log_level, "LEVEL", "debug, info, warning or error"),
    ("--budget-fraction", fraction, "F", "use at most this fraction of the documented rate limits"),
    ("--max-body-bytes", positive_int, "B", "largest decoded HTTP body accepted (not /books)"),
    ("--max-books-body-bytes", positive_int, "B", "largest decoded POST /books body accepted"),
    ("--metrics-file", optional_path, "FILE", "Prometheus textfile rewritten every 30 s (default: none)"),
    (
        "--heartbeat-url",
        secret_url,
        "URL",
        "GET after each sealed hour, URL/fail when unhealthy (a secret: redacted in manifests and logs)",
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every collect option to *parser* (each is also ``ORDERBOOKS_<OPTION>``)."""
    defaults = {item.name: item.default for item in fields(Settings)}
    for option, type_, metavar, help_text in OPTIONS:
        env = "ORDERBOOKS_" + option[2:].replace("-", "_").upper()
        default = defaults[option[2:].replace("-", "_")]
        shown = ",".join(default) if isinstance(default, tuple) else default
        parser.add_argument(
            option,
            type=type_,
            default=default,
            metavar=metavar,
            help=f"{help_text} [env {env}; default {shown}]",
        )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Build Settings from parsed arguments (the data folder is checked by ``store.folder``).

    Raises ConfigError (USAGE for a bad value).
    """
    values = {name: getattr(args, name) for name in Settings.__dataclass_fields__ if hasattr(args, name)}
    settings = Settings(**values)
    check_settings(settings)
    return settings


def check_settings(settings: Settings) -> None:
    """Checks that involve more than one value (types were checked by argparse)."""
    if settings.duration is not None and settings.duration < settings.interval:
        raise ConfigError(
            f"--duration {settings.duration:g} is shorter than one --interval {settings.interval:g}"
        )
    if not settings.series:
        raise ConfigError("--series: at least one series id is needed")
