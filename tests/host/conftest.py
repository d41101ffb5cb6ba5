"""The host layout the host tests check, read from the inventory (gate.layout)."""

from __future__ import annotations

import pytest
from gate import checks
from gate import layout as host_layout


@pytest.fixture(scope="session", autouse=True)
def layout(pytestconfig: pytest.Config) -> host_layout.HostLayout:
    """Paths, account and unit names of the host under test, as site.yml resolves them
    (also ``gate.checks.LAYOUT``, which the helpers of these tests read)."""
    try:
        found = host_layout.from_pytest(pytestconfig)
    except host_layout.LayoutError as exc:
        pytest.fail(f"cannot read the host layout from the inventory: {exc}", pytrace=False)
    checks.use_layout(found)
    return found
