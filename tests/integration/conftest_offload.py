"""Fixtures for the offload tests: a data folder and `rclone serve webdav` on loopback.

Loaded with ``pytest_plugins = ["conftest_offload"]`` from the test modules that need it;
the helpers they call live in tools/testkit/offload_helpers.py.
"""

from __future__ import annotations

import pytest
from testkit.offload_helpers import WebDav, free_port, write_config


@pytest.fixture
def webdav(tmp_path):
    empty = write_config(tmp_path / "server.conf", "")
    server = WebDav(tmp_path / "served", free_port(), empty, pid_file=tmp_path / "server.pid")
    server.log = tmp_path / "server.log"
    server.start()
    yield server
    server.stop()


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return folder
