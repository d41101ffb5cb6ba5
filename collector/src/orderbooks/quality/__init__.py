"""Data quality of a data folder: what ``orderbooks quality`` measures.

``analyze(data_dir)`` streams every data file under ``DATA_DIR/raw`` one at a
time (sealed files, and the complete CRC-checked members of ``.partial``
files) with its manifest, and returns a report (a JSON-ready dict) per series,
market (slug) and UTC hour; ``analyze_union(dirs)`` the report of several copies
of one collection. The package's modules, one job each:

* ``reading``: which data files, their rows, file and run manifests;
* ``analysis``: the accumulators rows and manifests are fed to;
* ``gaps``: a market's gaps from its tokens' gaps, and their causes;
* ``report``: the report's figures from what an analysis kept;
* ``render``: the text output;
* ``folder`` and ``union``: one folder's report, several copies' union;
* ``series_schedule``: the windows a series' schedule says existed;
* ``units``: time and number helpers.

Memory is bounded by the number of markets, tokens, gaps and minutes, never by
the number of rows. docs/quality.md documents every key and the method; in
short:

* interval: ``interval_s`` if given, else the run manifest's
  ``run_info.settings.interval``, else the median spacing of consecutive cycles
  in the run's first file.
* collection span: ``since_ms``..``until_ms`` if given, else the first to the
  last row of the data.
* expected cycles of a market in an hour: the part of its window
  ``[window_start, window_end)`` inside the collection span and the hour,
  divided by the interval, times two tokens (the collector only keeps two-outcome
  markets). Every window the series' schedule says existed in the span counts as
  expected too (series_schedule); one no row covers is slug ``MISSING_MARKET``.
* hash changed: per token, rows one cycle after its previous row (same run) whose
  book ``hash`` differs from that row's, over all such consecutive polls.
* observed: rows inside the window, one per token and cycle (repeats are counted
  as ``duplicate_rows``, not observed). Coverage = observed / expected, capped at 100%.
* gaps: per token, two consecutive rows more than one cycle apart (same run:
  cycle numbers, which are schedule slots; across runs: time), and the parts of
  the window before the first and after the last row; merged over the market's
  tokens. The cause is the failure class that overlaps the gap most often
  (manifest ``failures`` and ``gaps``); ``not_running`` for a gap between two
  runs that nothing explains; ``unexplained`` otherwise.
* schedule lateness: ``recv_ms - due(cycle)``, ``due(cycle) = anchor + cycle *
  interval`` with, per run, ``anchor = min(recv_ms - latency_ms - cycle *
  interval)``: the earliest request start of the run is taken as on time, so the
  figure is a lower bound that includes the request's own latency.
"""

from orderbooks.quality.analysis import MISSING_MARKET
from orderbooks.quality.folder import analyze
from orderbooks.quality.reading import QualityError, derived_info
from orderbooks.quality.render import render_text, render_union_text
from orderbooks.quality.report import QUALITY_SCHEMA
from orderbooks.quality.union import UNION_KIND, analyze_union

__all__ = [
    "MISSING_MARKET",
    "QUALITY_SCHEMA",
    "UNION_KIND",
    "QualityError",
    "analyze",
    "analyze_union",
    "derived_info",
    "render_text",
    "render_union_text",
]
