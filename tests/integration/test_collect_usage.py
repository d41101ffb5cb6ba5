"""Bad option values: the real process exits with the named code and one message, before any network call."""

import socket
import threading

import pytest
from orderbooks.exitcodes import ExitCode


@pytest.fixture
def listener():
    """A loopback socket that counts connections: proof that nothing was sent."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            accepted.append(conn)
            conn.close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    url = f"http://127.0.0.1:{srv.getsockname()[1]}"
    yield url, accepted
    stop.set()
    t.join(timeout=2)
    srv.close()


@pytest.mark.parametrize(
    ("args", "env", "code", "needle"),
    [
        (["--interval", "0"], {}, ExitCode.USAGE, "--interval: must be a finite number > 0"),
        (["--gamma-url", "gamma.example"], {}, ExitCode.USAGE, "malformed URL"),
        (["--series", "5m,15m"], {}, ExitCode.USAGE, "series ids are numbers"),
        ([], {"ORDERBOOKS_INTERVAL": "-2"}, ExitCode.USAGE, "ORDERBOOKS_INTERVAL='-2'"),
        ([], {"ORDERBOOKS_CLOB_URL": "ftp://x"}, ExitCode.USAGE, "ORDERBOOKS_CLOB_URL"),
    ],
)
def test_bad_value_exits_before_any_network_call(collect, listener, args, env, code, needle):  # noqa: PLR0917 - pytest fixtures and parameters
    url, accepted = listener
    run = collect(
        None, "--gamma-url", url + "/gamma", "--clob-url", url + "/clob", "--duration", "5", *args, env=env
    )
    assert run.wait(timeout=30) == code
    assert needle in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert accepted == []
    assert not (run.data_dir / "raw").exists()


def test_unwritable_data_dir_is_an_environment_error(collect, listener, tmp_path):
    url, accepted = listener
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    run = collect(None, "--gamma-url", url, "--clob-url", url, data_dir=blocker / "data")
    assert run.wait(timeout=30) == ExitCode.ENVIRONMENT
    assert "not writable" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert accepted == []
