"""The host layout the host tests check, read from the inventory (gate.layout)."""

from __future__ import annotations

import pytest
from gate.layout import HostLayout

from gate import checks


@pytest.fixture(scope="session", autouse=True)
def layout(pytestconfig: pytest.Config) -> HostLayout:
    """Paths, account and unit names of the host under test, as site.yml resolves them
    (also ``gate.checks.LAYOUT``, which the helpers of these tests read)."""
    return checks.use_session_layout(pytestconfig)
