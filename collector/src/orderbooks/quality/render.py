"""Text output of ``orderbooks quality``: the report as aligned tables (``--json`` gives everything).

``render_text`` renders one folder's report, ``render_union_text`` a union's (one
line per source, then the union's own tables). Pure functions of the report dict.
"""

from __future__ import annotations

from typing import Any


def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(
            str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=False))
        )
        for r in [header, *rows]
    ]
    return [line.rstrip() for line in lines]


def _summary_cells(item: dict[str, Any]) -> list[str]:
    return [
        str(item["markets"]),
        f"{item['expected_cycles']:.0f}",
        str(item["observed_cycles"]),
        _fmt_pct(item["coverage_pct"]),
        str(item["gaps"]),
        f"{item['gap_seconds']:.0f}",
        f"{_fmt_ms(item['latency_ms']['p50'])}/{_fmt_ms(item['latency_ms']['p99'])}",
        f"{_fmt_ms(item['lateness_ms']['p50'])}/{_fmt_ms(item['lateness_ms']['p99'])}",
        str(item["unchanged_books"]),
        _fmt_pct(item["hash_changed_pct"]),
        str(item["empty_books"]),
        str(item["one_sided_books"]),
    ]


SUMMARY_HEADER = [
    "markets", "expected", "observed", "coverage", "gaps", "gap s",
    "latency p50/p99 ms", "lateness p50/p99 ms", "unchanged", "hash changed", "empty", "one-sided",
]  # fmt: skip


def render_text(report: dict[str, Any], *, markets: bool = False, max_gaps: int = 20) -> str:
    """A human-readable summary of *report* (``--json`` gives everything)."""
    span = report["span"]
    files = report["files"]
    totals = report["totals"]
    ratio = f"{files['raw_bytes'] / files['bytes']:.1f}x" if files["bytes"] else "-"
    rows_total = sum(h["rows"] for h in report["hours"])
    out = [
        f"orderbooks quality: {report['data_dir']}",
        f"span      {span['start']} .. {span['end']} ({span['seconds']:.0f} s); "
        f"interval {report['interval_s']:g} s ({report['interval_source']})",
        f"files     {files['read']} read ({files['partial']} partial, {files['recovered']} recovered, "
        f"{files['damaged']} damaged, {files['missing_manifests']} without manifest); {rows_total} rows; "
        f"{files['bytes']} bytes stored, {files['raw_bytes']} raw, compression {ratio}",
        f"coverage  {_fmt_pct(totals['coverage_pct'])} ({totals['observed_cycles']} of "
        f"{totals['expected_cycles']:.0f} expected token-cycles); {totals['gaps']} gaps, "
        f"{totals['gap_seconds']:.0f} s",
    ]
    if report["failures_by_class"]:
        out.append(
            "failures  " + ", ".join(f"{name} {count}" for name, count in report["failures_by_class"].items())
        )
    out += ["", "by series"]
    out += _table(["series", *SUMMARY_HEADER], [[s["series"], *_summary_cells(s)] for s in report["series"]])
    out += ["", "schedule (windows the series' recurrence says existed in the span)"]
    out += _table(
        ["series", "recurrence", "window s", "from", "windows", "missed"],
        [
            [s["series"], sc["recurrence"] or "-", f"{sc['window_s']:g}", sc["source"], str(sc["windows"]),
             str(sc["windows_missed"])]
            for s in report["series"]
            if (sc := s.get("schedule"))
        ],
    )  # fmt: skip
    out += ["", "by series and hour"]
    out += _table(
        ["series", "hour", *SUMMARY_HEADER],
        [
            [s["series"], h["hour"][:13] + "Z", *_summary_cells(h)]
            for s in report["series"]
            for h in s["hours"]
        ],
    )
    out += ["", "files by hour"]
    out += _table(
        ["hour", "files", "rows", "bytes", "bytes/row", "ratio", "partial", "recovered", "damaged"],
        [
            [
                h["hour"][:13] + "Z",
                str(h["files"]),
                str(h["rows"]),
                str(h["bytes"]),
                "-" if h["bytes_per_row"] is None else f"{h['bytes_per_row']:.0f}",
                "-" if h["compression_ratio"] is None else f"{h['compression_ratio']:.1f}x",
                str(h["partial_files"]),
                str(h["recovered_files"]),
                str(h["damaged_files"]),
            ]
            for h in report["hours"]
        ],
    )
    if markets:
        out += ["", "by market and hour"]
        out += _table(
            ["series", "market", "hour", "expected", "observed", "coverage", "gaps", "latency p50/p99",
             "lateness p50/p99", "unchanged", "empty", "one-sided"],
            [
                [
                    m["series"], m["slug"], m["hour"][:13] + "Z", f"{m['expected_cycles']:.0f}",
                    str(m["observed_cycles"]), _fmt_pct(m["coverage_pct"]), str(m["gaps"]),
                    f"{_fmt_ms(m['latency_ms']['p50'])}/{_fmt_ms(m['latency_ms']['p99'])}",
                    f"{_fmt_ms(m['lateness_ms']['p50'])}/{_fmt_ms(m['lateness_ms']['p99'])}",
                    str(m["unchanged_books"]), str(m["empty_books"]), str(m["one_sided_books"]),
                ]
                for m in report["markets"]
            ],
        )  # fmt: skip
    gaps = report["gaps"]
    out += ["", f"gaps ({len(gaps) + report['gaps_not_listed']}; longest {min(max_gaps, len(gaps))} shown)"]
    if gaps:
        longest = sorted(gaps, key=lambda g: -g["duration_s"])[:max_gaps]
        out += _table(
            ["start", "end", "seconds", "series", "market", "tokens", "missed", "cause"],
            [
                [g["start"], g["end"], f"{g['duration_s']:.1f}", g["series"], g["slug"], str(g["tokens"]),
                 str(g["missed_cycles"]), g["cause"]]
                for g in sorted(longest, key=lambda g: g["start_ms"])
            ],
        )  # fmt: skip
    if report["problems"]:
        out += ["", "problems"] + [f"  {p}" for p in report["problems"]]
    return "\n".join(out) + "\n"


def render_union_text(report: dict[str, Any], *, markets: bool = False, max_gaps: int = 20) -> str:
    """The union's text report, preceded by one line per source."""
    lines = ["sources"]
    lines += _table(
        ["source", "merged", "rows", "expected", "observed", "coverage", "gaps", "gap s"],
        [
            [
                s["source"], "yes" if s["merged"] else "no", str(s["totals"]["rows"]),
                f"{s['totals']['expected_cycles']:.0f}", str(s["totals"]["observed_cycles"]),
                _fmt_pct(s["totals"]["coverage_pct"]), str(s["totals"]["gaps"]),
                f"{s['totals']['gap_seconds']:.0f}",
            ]
            for s in report["sources"]
        ],
    )  # fmt: skip
    data_dir = report["data_dir"]
    text = render_text(
        {**report, "data_dir": "union of " + ", ".join(data_dir)}, markets=markets, max_gaps=max_gaps
    )
    return "\n".join(lines) + "\n\n" + text
