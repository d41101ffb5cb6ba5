"""The heartbeat URL is a credential: settings and command lines are recorded redacted."""

from __future__ import annotations

import argparse

import pytest
from orderbooks import config

URL = "https://user:pw@hc-ping.example:8443/ping/0a1b2c3d-secret"
SHOWN = "https://hc-ping.example:8443/<redacted>"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (URL, SHOWN),
        ("http://127.0.0.1:9/x", "http://127.0.0.1:9/<redacted>"),
        ("https://hc-ping.com/uuid", "https://hc-ping.com/<redacted>"),
        ("http://[::1]:80/t", "http://[::1]:80/<redacted>"),
        ("not a url", "<redacted>"),
        (None, None),
        ("", None),
    ],
)
def test_redact_url_keeps_scheme_host_and_port_only(url, shown):
    assert config.redact_url(url) == shown


@pytest.mark.parametrize(
    "argv",
    [
        ["collect", "--heartbeat-url", URL, "--interval", "2"],
        ["collect", f"--heartbeat-url={URL}", "--interval", "2"],
        ["collect", "--heartbeat", URL, "--interval", "2"],
        ["collect", f"--heart={URL}", "--interval", "2"],
    ],
)
def test_redact_argv_hides_the_value_of_the_heartbeat_option_in_every_form(argv):
    shown = config.redact_argv(argv)
    assert "0a1b2c3d-secret" not in " ".join(shown)
    assert "pw" not in " ".join(shown)
    assert SHOWN in " ".join(shown)
    assert shown[0] == "collect"
    assert shown[-2:] == ["--interval", "2"]


def test_redact_argv_hides_a_known_secret_anywhere():
    shown = config.redact_argv(["collect", "--x", f"prefix{URL}"], (URL,))
    assert shown == ["collect", "--x", f"prefix{SHOWN}"]


def test_settings_record_no_secret():
    settings = config.Settings(heartbeat_url=URL)
    assert settings.to_dict()["heartbeat_url"] == SHOWN
    info = settings.run_info(["collect", "--heartbeat-url", URL])
    assert info == {"argv": ["collect", "--heartbeat-url", SHOWN], "settings": settings.to_dict()}
    assert config.Settings().to_dict()["heartbeat_url"] is None


def test_a_malformed_heartbeat_url_is_refused_without_echoing_it():
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        config.secret_url("https://hc-ping.example/0a1b2c3d-secret?x=1")
    assert "0a1b2c3d-secret" not in str(caught.value)
    assert "hc-ping.example" in str(caught.value)
    assert config.secret_url(" ") is None
    assert config.secret_url("https://hc-ping.example/abc/") == "https://hc-ping.example/abc"
