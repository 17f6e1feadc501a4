"""pytest fixtures for the end-to-end tests (see mxgate.py for the API).

    def test_x(mx):                      # a factory: start with overrides
        m = mx(server={"timeout_command": "1s"})
        host, port = m.addr("::1")

    def test_y(v6):                      # 2001:db8:1::1 (server side) and
        ...                              # ::2 (client side) are on lo
    def test_z(tls_cert):                # (cert, key) made by openssl CLI

Every mxgate started by the mx factory is stopped with SIGTERM at the end
of the test, and must exit with status 0 (so, under ASan, without leaks).
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mxgate as harness  # noqa: E402


@pytest.fixture
def mx(tmp_path):
    started = []

    def start(**kw):
        m = harness.Mxgate(tmp_path / f"mx{len(started)}", **kw)
        started.append(m)
        return m.start()

    yield start
    for m in started:
        rc = m.stop()
        assert rc == 0, f"mxgate exited {rc}; log:\n{m.log()}"


@pytest.fixture(scope="session")
def v6():
    if not harness.ensure_v6(harness.V6_SERVER, harness.V6_CLIENT):
        pytest.skip("cannot add 2001:db8:1:: addresses to lo")
    return harness.V6_SERVER, harness.V6_CLIENT


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    return harness.make_tls_cert(tmp_path_factory.mktemp("tls"))
