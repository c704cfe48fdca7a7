"""Plain-HTTP helpers for the API suite (no openai client): raw requests, SSE, /metrics."""

import http.client
import json
import socket
import struct
import time
import urllib.parse


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def host_port(base_url):
    u = urllib.parse.urlparse(base_url)
    return u.hostname, u.port


def request(base_url, method, path, body=None, headers=None, timeout=60):
    """One request on a fresh connection -> (status, headers dict (lower-case), body bytes).
    `body` may be bytes, str or a JSON-able object."""
    host, port = host_port(base_url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def post_json(base_url, path, body, **kw):
    status, headers, data = request(base_url, "POST", path, body, **kw)
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = None
    return status, headers, parsed, data


def health_ok(base_url, timeout=2):
    try:
        status, _, _ = request(base_url, "GET", "/health", timeout=timeout)
        return status == 200
    except OSError:
        return False


def first_model(base_url):
    status, _, data = request(base_url, "GET", "/v1/models")
    assert status == 200, data
    return json.loads(data)["data"][0]["id"]


def assert_error_body(data, status=None):
    """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    assert isinstance(data, dict) and isinstance(data.get("error"), dict), f"not an error body: {data!r}"
    err = data["error"]
    for key in ("message", "type", "param", "code"):
        assert key in err, f"error body lacks {key!r}: {data!r}"
    assert isinstance(err["message"], str) and err["message"], data
    assert isinstance(err["type"], str) and err["type"], data
    return err


def metrics(base_url):
    """/metrics as {name: value} for unlabelled samples and {name{labels}: value} otherwise."""
    status, _, data = request(base_url, "GET", "/metrics")
    assert status == 200, data
    out = {}
    for line in data.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            pass
    return out


def wait_metrics(base_url, predicate, timeout):
    """Polls /metrics until predicate(m) holds; returns (ok, last metrics, seconds waited)."""
    t0 = time.monotonic()
    while True:
        m = metrics(base_url)
        if predicate(m):
            return True, m, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return False, m, time.monotonic() - t0
        time.sleep(0.05)


def wait_idle(base_url, timeout=30):
    """Waits until nothing runs or queues (so a test starts from a quiet server)."""
    ok, m, _ = wait_metrics(
        base_url,
        lambda m: m.get("tokenmill_running_sequences", 0) == 0
        and m.get("tokenmill_queue_length", 0) == 0,
        timeout,
    )
    assert ok, f"server not idle after {timeout} s: {m}"
    return m


class RawStream:
    """A streaming POST on a raw socket, so a test can read part of the SSE stream and then
    drop the connection the way a crashed or impatient client does."""

    def __init__(self, base_url, path, body, timeout=60):
        host, port = host_port(base_url)
        payload = json.dumps(body).encode()
        self.sock = socket.create_connection((host, port), timeout=timeout)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        self.sock.sendall(head + payload)
        self.buf = b""

    def read_until(self, marker, limit=1 << 20):
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before {marker!r}; got {self.buf[:500]!r}")
            self.buf += chunk
            if len(self.buf) > limit:
                raise AssertionError("no marker within limit")
        return self.buf

    def status(self):
        self.read_until(b"\r\n")
        return int(self.buf.split(b" ", 2)[1])

    def close(self):
        # RST instead of FIN: the harshest disconnect (SO_LINGER 0), as from a killed client.
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()


def sse_events(body_bytes):
    """data: payloads of an SSE body, in order (strings)."""
    out = []
    for block in body_bytes.decode().replace("\r\n", "\n").split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data:"):
                out.append(line[5:].strip())
    return out
