"""The gate's own constants agree with the collector and the roles they judge.

The gate (gate/src/gate) deliberately does not import the collector: a checker
should not trust the code it checks (docs/gate.md). So it writes down what it
expects of a host itself; this test pins those copies to the collector's and
the roles' values, so the two can only drift apart on purpose.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml
from orderbooks import config, records
from orderbooks.markets import discovery
from orderbooks.store import paths

from gate import checks, layout, probe

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


def test_the_row_schema_the_gate_expects_is_the_one_the_collector_writes():
    assert probe.ROW_SCHEMA == records.ROW_SCHEMA
    assert set(probe.ROW_KEYS) <= set(records.ROW_SCHEMAS[probe.ROW_SCHEMA])


def test_file_suffixes_match_the_collector():
    assert probe.DATA_SUFFIX == paths.DATA_SUFFIX
    assert probe.PARTIAL_SUFFIX == paths.PARTIAL_SUFFIX
    assert probe.MANIFEST_SUFFIX == paths.MANIFEST_SUFFIX


def test_collector_defaults_match():
    settings = config.Settings()
    assert checks.DEFAULT_DATA_DIR == config.DEFAULT_DATA_DIR == str(settings.data_dir)
    assert settings.interval == checks.DEFAULT_INTERVAL_S
    assert checks.DEFAULT_SERIES == config.DEFAULT_SERIES == settings.series
    assert checks.DEFAULT_GAMMA_URL == config.DEFAULT_GAMMA_URL == settings.gamma_url
    assert checks.DEFAULT_CLOB_URL == config.DEFAULT_CLOB_URL == settings.clob_url
    assert checks.DISCOVERY_RETRY_S == discovery.RETRY_SECONDS


def test_the_standard_layout_is_the_roles_defaults():
    assert layout.HostLayout.from_common(common_defaults()) == layout.STANDARD
    assert checks.LAYOUT == layout.STANDARD


def test_the_layout_the_roles_write_is_the_collectors_default_data_dir():
    assert layout.STANDARD.data_dir == config.DEFAULT_DATA_DIR


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inventory") / "inventory.ini"
    path.write_text(
        "[orderbooks]\n"
        "plain ansible_host=192.0.2.1\n"
        "moved ansible_host=192.0.2.2 orderbooks_common_data_dir=/srv/books "
        "orderbooks_common_code_root=/srv/code orderbooks_common_user=books\n"
    )
    return path


def test_ansible_resolves_the_standard_layout_for_a_plain_host(inventory):
    assert layout.resolve(inventory, "plain") == layout.STANDARD


def test_a_relative_inventory_path_is_relative_to_the_current_folder(inventory, monkeypatch):
    monkeypatch.chdir(inventory.parent.parent)
    relative = Path(inventory.parent.name) / inventory.name
    assert layout.resolve(relative, "plain") == layout.STANDARD


def test_a_missing_inventory_or_host_is_an_error_not_the_standard_layout(inventory, tmp_path):
    with pytest.raises(layout.LayoutError, match="does not exist"):
        layout.resolve(tmp_path / "nothing.ini")
    with pytest.raises(layout.LayoutError, match="no host"):
        layout.resolve(inventory, "absent")


def test_a_layout_set_in_the_inventory_reaches_the_gate(inventory):
    """Derived paths follow: the gate reads what site.yml would write, not a copy."""
    moved = layout.resolve(inventory, "moved")
    assert moved.data_dir == "/srv/books"
    assert moved.user == "books"
    assert moved.current_path == "/srv/code/current"
    assert moved.command == "/srv/code/current/venv/bin/orderbooks"
    assert moved.releases_path == "/srv/code/releases"
    assert moved.collector_unit == layout.STANDARD.collector_unit
    assert set(layout.resolve_all(inventory)) == {"plain", "moved"}
    with pytest.raises(layout.LayoutError, match="different layouts"):
        layout.resolve(inventory)


def test_no_gate_or_host_test_writes_a_layout_path_itself():
    """Only gate/layout.py (STANDARD) spells the layout; the rest read it."""
    spelled = (
        "/opt/orderbooks",
        "/etc/orderbooks",
        "/var/lib/orderbooks",
        "orderbooks-collector.service",
        "orderbooks-upload.service",
        "orderbooks-upload.timer",
    )
    allowed = {GATE_DIR / "layout.py", GATE_DIR / "checks.py"}  # checks: the collector's own default data dir
    offenders = []
    for source in sorted([*GATE_DIR.rglob("*.py"), *(REPO / "tests" / "host").rglob("*.py")]):
        if source in allowed:
            continue
        code = "\n".join(
            line for line in source.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        code = re.sub(r'"""(?:.|\n)*?"""', "", code)  # docstrings may name the layout
        offenders += [f"{source.relative_to(REPO)}: {s}" for s in spelled if s in code]
    assert not offenders, offenders


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


def test_layout_values_given_as_extra_vars_reach_the_gate_over_the_inventory(inventory, tmp_path):
    """What `site.yml -e` would deploy is what the gate checks (`verify-host --extra-vars`)."""
    moved = layout.resolve(inventory, "moved", ["orderbooks_common_data_dir=/data/ob"])
    assert moved.data_dir == "/data/ob" and moved.user == "books"  # -e wins; the rest stays
    vars_file = tmp_path / "layout.yml"
    vars_file.write_text("orderbooks_common_code_root: /srv/other\n")
    plain = layout.resolve(inventory, "plain", [f"@{vars_file}"])
    assert plain.current_path == "/srv/other/current" and plain.data_dir == layout.STANDARD.data_dir
    with pytest.raises(layout.LayoutError, match="does not exist"):
        layout.resolve(inventory, "plain", [f"@{tmp_path / 'absent.yml'}"])
