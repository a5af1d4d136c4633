import os
import warnings

os.environ.setdefault("MUJOCO_GL", "egl")
warnings.filterwarnings("ignore", message=".*settotalmass.*")

import ipaddress
import socket

import pytest

#: test modules that import dm_control.suite in this process: they run last. After that import, a later
#: test that served the labeling page through CliRunner ended the whole run with "lost sys.stderr"
#: (seen with tests/datasets/test_human_labels.py; pbrl itself never imports dm_control.suite).
_DM_CONTROL_SUITE_TESTS = ("tests/envs/test_dmc_parity.py", "tests/envs/test_dmc_tasks.py")


def pytest_collection_modifyitems(session, config, items):
    last = [item for item in items if item.nodeid.startswith(_DM_CONTROL_SUITE_TESTS)]
    if last:
        items[:] = [item for item in items if not item.nodeid.startswith(_DM_CONTROL_SUITE_TESTS)] + last

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback_only(address):
    """Refuse a connection that would leave the machine (AF_UNIX and loopback addresses pass)."""
    if isinstance(address, tuple) and address:
        try:
            ok = ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback
        except ValueError:
            ok = address[0] == "localhost"
        if not ok:
            raise OSError(f"tests of pbrl.synthesis must not reach the network (tried {address[0]!r})")


@pytest.fixture(autouse=True)
def _no_network_in_synthesis_tests(request, monkeypatch):
    """Reward-synthesis tests talk to a canned server on 127.0.0.1 only; the opt-in
    integration test (PBRL_LLM_BASE_URL) is the one allowed to reach a real server."""
    module = getattr(request.node, "module", None)
    name = getattr(module, "__name__", "")
    if not name.startswith("test_synthesis") or name == "test_synthesis_integration":
        yield
        return

    def connect(self, address):
        _loopback_only(address)
        return _real_connect(self, address)

    def connect_ex(self, address):
        _loopback_only(address)
        return _real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield
