"""A heartbeat URL is a credential: the real collector, run against the simulator with one,
writes it in no file of the data folder and in none of its output.

The URL carries a token in its path, the way a healthchecks.io URL does; it is
given in each way the collector accepts it (a separate argument, ``--opt=value``,
argparse's abbreviation, the environment). Every file written is read back
(gzip files decompressed) and searched for the token. The run manifest still
says a heartbeat URL was set and which service: ``scheme://host[:port]/<redacted>``.
"""

from __future__ import annotations

import gzip
import secrets
import zlib
from pathlib import Path

import orjson
import pytest
from testkit.http_receiver import recording_http_server


@pytest.fixture
def heartbeat_receiver():
    """A loopback HTTP server answering 200 to any GET (the outside dead-man's switch)."""
    with recording_http_server() as (base, _seen):
        yield base


def readable(path: Path) -> bytes:
    """A file's bytes, and for a gzip file its decompressed members too (as far as they go)."""
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return data + gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return data + zlib.decompressobj(wbits=31).decompress(data)


@pytest.mark.parametrize("form", ["argument", "equals", "abbreviated", "environment"])
def test_the_heartbeat_url_is_in_no_file_and_no_output(sim, collect, tmp_path, heartbeat_receiver, form):
    token = f"hb-{secrets.token_hex(12)}"
    url = f"{heartbeat_receiver}/ping/{token}"
    metrics = tmp_path / f"metrics-{form}.prom"
    args = {
        "argument": ["--heartbeat-url", url],
        "equals": [f"--heartbeat-url={url}"],
        "abbreviated": ["--heartbeat", url],
        "environment": [],
    }[form]
    env = {"ORDERBOOKS_HEARTBEAT_URL": url} if form == "environment" else {}
    run = collect(
        sim,
        "--interval",
        "0.5",
        "--duration",
        "7",
        "--series",
        "10684",
        "--metrics-file",
        str(metrics),
        *args,
        env=env,
    )
    assert run.wait(timeout=60) == 0, run.stderr
    assert run.rows(), "the run wrote no rows: nothing was searched"

    written = [p for p in run.data_dir.rglob("*") if p.is_file()]
    written += [p for p in (metrics, run.stdout_path, run.stderr_path) if p.exists()]
    assert any(p.name.endswith(".jsonl.gz") for p in written)
    leaks = [str(p) for p in written if token.encode() in readable(p)]
    assert leaks == [], f"the heartbeat URL's token is in {leaks}"

    runs = [orjson.loads(p.read_bytes()) for p in (run.data_dir / "runs").glob("*.json")]
    assert runs, "no run manifest"
    for manifest in runs:
        info = manifest["run_info"]
        assert info["settings"]["heartbeat_url"] == f"{heartbeat_receiver}/<redacted>"
        if form != "environment":
            assert f"{heartbeat_receiver}/<redacted>" in " ".join(info["argv"]), info["argv"]
        assert info["settings"]["series"] == ["10684"]  # the rest of the settings is still there


def test_a_malformed_heartbeat_url_on_the_command_line_is_not_echoed(collect, tmp_path):
    token = f"hb-{secrets.token_hex(12)}"
    run = collect(None, "--duration", "5", "--heartbeat-url", f"https://hc-ping.example/{token}?x=1")
    assert run.wait(timeout=30) != 0
    assert "malformed URL" in run.stderr
    assert token not in run.stdout + run.stderr
