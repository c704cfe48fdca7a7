"""Fixtures of the API integration suite: real `tokenmill serve` processes on free ports.

The default server serves smollm2-135m with the prefix cache on; tests that need another
configuration (tiny KV pool, one-slot queue, no prefix cache) start their own through
`start_server`. Every server is stopped with SIGTERM (the graceful path) at the end.

Environment:
  TOKENMILL_BIN       the binary (default: build/bin/tokenmill in the repository)
  TOKENMILL_API_URL   run against an already running server instead (e.g. llama-server, to try
                      the protocol tests); tests that need a server of their own are skipped
  TOKENMILL_API_MODEL model argument for started servers (default: smollm2-135m)
"""

import os
import signal
import subprocess
import tempfile
import threading
import time

import pytest

import helpers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TOKENMILL_BIN", os.path.join(REPO, "build", "bin", "tokenmill"))
MODEL = os.environ.get("TOKENMILL_API_MODEL", "smollm2-135m")
EXTERNAL_URL = os.environ.get("TOKENMILL_API_URL", "").rstrip("/")
START_TIMEOUT_S = 120


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running (still run in CI)")
    config.addinivalue_line("markers", "own_server: starts a tokenmill server of its own")


class Server:
    """A running `tokenmill serve`; its output is kept for failure messages."""

    def __init__(self, extra_args, name, port=None):
        self.name = name
        self.port = port or helpers.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [BIN, "serve", "-m", MODEL, "--host", "127.0.0.1", "--port", str(self.port)]
        self.args += list(extra_args)
        # Keys and the usage ledger: a fresh data dir per server unless the test gives one, so
        # no test sees another's keys (or the user's ~/.local/share/tokenmill).
        if "--data-dir" not in self.args:
            self._data_dir = tempfile.TemporaryDirectory(prefix=f"tokenmill-{name}-")
            self.args += ["--data-dir", self._data_dir.name]
        self.lines = []
        self._listening = threading.Event()
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait_ready()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if "listening on" in line:
                self._listening.set()

    def log(self, last=40):
        return "\n".join(self.lines[-last:])

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        self._listening.wait(START_TIMEOUT_S)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server {self.name} exited with {self.proc.returncode}:\n{self.log()}"
                )
            if helpers.health_ok(self.url):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server {self.name} not healthy after {START_TIMEOUT_S} s:\n{self.log()}")

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        """SIGKILL (crash tests); the session's clean-shutdown check skips this server."""
        self.killed = True
        self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=5)

    killed = False

    def stop(self, timeout=20):
        """SIGTERM, then wait; returns the exit code (a kill after the timeout gives None)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        self._reader.join(timeout=5)
        return self.proc.returncode


class External:
    """A server someone else started (TOKENMILL_API_URL)."""

    name = "external"

    def __init__(self, url):
        self.url = url

    def alive(self):
        return helpers.health_ok(self.url)

    def log(self, last=40):
        return "(external server: no log)"


@pytest.fixture(scope="session")
def start_server():
    """Factory: start_server(*extra_args, name=...) -> Server, stopped at the end of the session."""
    if EXTERNAL_URL:
        pytest.skip("needs a tokenmill server of its own (TOKENMILL_API_URL is set)")
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"{BIN} is not an executable; build it first or set TOKENMILL_BIN")
    started = []

    def start(*extra_args, name="server", port=None):
        s = Server(extra_args, name, port)
        started.append(s)
        return s

    yield start
    bad = []
    for s in started:
        if s.killed:
            continue
        rc = s.stop()
        if rc != 0:
            bad.append(f"{s.name}: exit {rc} after SIGTERM\n{s.log()}")
    assert not bad, "servers did not shut down cleanly on SIGTERM:\n" + "\n".join(bad)


@pytest.fixture(scope="session")
def server(request):
    """The shared default server (prefix cache on)."""
    if EXTERNAL_URL:
        return External(EXTERNAL_URL)
    return request.getfixturevalue("start_server")(name="default")


@pytest.fixture(scope="session")
def base_url(server):
    return server.url


@pytest.fixture(scope="session")
def model(base_url):
    return helpers.first_model(base_url)


@pytest.fixture(scope="session")
def client(base_url):
    import openai

    # No retries: a 503 or a timeout must surface as the error it is.
    return openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def async_client_factory(base_url):
    import openai

    # An AsyncOpenAI is bound to the event loop it first runs in, so each test makes its own.
    def make():
        return openai.AsyncOpenAI(
            base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=120
        )

    return make


@pytest.fixture(autouse=True)
def _server_survives(request):
    """After every test, the default server (when the test used it) must still serve."""
    yield
    if "server" in request.fixturenames:
        s = request.getfixturevalue("server")
        assert s.alive(), f"server {s.name} died:\n{s.log()}"
        assert helpers.health_ok(s.url, timeout=10), f"server {s.name} stopped serving:\n{s.log()}"
