"""The gate's own constants agree with the collector and the roles they judge.

The gate (tests/gate) deliberately does not import the collector: a checker
should not trust the code it checks (docs/gate.md). So it writes down what it
expects of a host itself; this test pins those copies to the collector's and
the roles' values, so the two can only drift apart on purpose.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml
from gate import checks, probe
from orderbooks import config, discovery, paths, records

REPO = Path(__file__).resolve().parents[2]
GATE_DIR = REPO / "tests" / "gate"


def common_defaults() -> dict[str, str]:
    """roles/orderbooks_common/defaults/main.yml with its ``{{ var }}`` references resolved."""
    raw = yaml.safe_load((REPO / "roles" / "orderbooks_common" / "defaults" / "main.yml").read_text())
    values = {k: str(v) for k, v in raw.items()}
    reference = re.compile(r"\{\{\s*(\w+)\s*\}\}")

    def resolve(value: str) -> str:
        return reference.sub(lambda m: resolve(values[m.group(1)]), value)

    return {k: resolve(v) for k, v in values.items()}


def test_row_keys_the_gate_requires_are_keys_the_collector_writes_in_its_order():
    assert set(probe.ROW_KEYS) <= set(records.ROW_KEYS)
    assert list(probe.ROW_KEYS) == [k for k in records.ROW_KEYS if k in probe.ROW_KEYS]


def test_file_suffixes_match_the_collector():
    assert probe.DATA_SUFFIX == paths.DATA_SUFFIX
    assert probe.PARTIAL_SUFFIX == paths.PARTIAL_SUFFIX
    assert probe.MANIFEST_SUFFIX == paths.MANIFEST_SUFFIX


def test_collector_defaults_match():
    settings = config.Settings()
    assert checks.DATA_DIR == config.DEFAULT_DATA_DIR == str(settings.data_dir)
    assert settings.interval == checks.DEFAULT_INTERVAL_S
    assert checks.DEFAULT_SERIES == config.DEFAULT_SERIES == settings.series
    assert checks.DEFAULT_GAMMA_URL == config.DEFAULT_GAMMA_URL == settings.gamma_url
    assert checks.DEFAULT_CLOB_URL == config.DEFAULT_CLOB_URL == settings.clob_url
    assert checks.DISCOVERY_RETRY_S == discovery.RETRY_SECONDS


def test_host_paths_and_units_match_the_roles():
    common = common_defaults()
    assert common["orderbooks_common_data_dir"] == checks.DATA_DIR
    assert common["orderbooks_common_user"] == checks.SERVICE_USER
    assert common["orderbooks_common_collector_unit"] == checks.COLLECTOR_UNIT
    assert common["orderbooks_common_upload_unit"] == checks.UPLOAD_UNIT
    assert common["orderbooks_common_upload_timer"] == checks.UPLOAD_TIMER
    assert common["orderbooks_common_rclone_config_file"] == checks.RCLONE_CONFIG
    assert f"{common['orderbooks_common_config_dir']}/collector.env" == checks.COLLECTOR_ENV
    assert f"{common['orderbooks_common_config_dir']}/upload.env" == checks.UPLOAD_ENV
    assert f"{common['orderbooks_common_current_path']}/venv/bin/orderbooks" == checks.ORDERBOOKS


def test_the_gate_does_not_import_the_collector():
    for source in sorted(GATE_DIR.rglob("*.py")):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            bad = [n for n in names if n == "orderbooks" or n.startswith("orderbooks.")]
            assert not bad, f"{source.relative_to(REPO)} imports {bad}: the gate must judge, not reuse"
