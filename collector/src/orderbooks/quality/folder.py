"""One data folder's quality report: its files read in time order into an ``Analysis``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from orderbooks.quality import reading, report
from orderbooks.quality.analysis import Analysis
from orderbooks.store.folder import is_folder


def analyze(
    data_dir: Path,
    *,
    interval_s: float | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    exclude: Iterable[tuple[int, int]] = (),
    on_file: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """The quality report of *data_dir* (see the package docstring and docs/quality.md)."""
    data_dir = Path(data_dir)
    if not is_folder(data_dir):
        raise reading.QualityError(f"data folder {data_dir} does not exist or is not a folder")
    analysis = Analysis(
        data_dir, interval_s=interval_s, since_ms=since_ms, until_ms=until_ms, exclude=exclude
    )
    for path in reading.data_files(data_dir, since_ms, until_ms):
        if on_file is not None:
            on_file(path)
        analysis.add_file(path)
    return report.public(report.build(analysis))
