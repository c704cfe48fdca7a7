"""Hostile and broken requests over raw HTTP: each gets the right 4xx with an OpenAI error body
(where the request got far enough to have one), and the server keeps serving afterwards (the
autouse fixture in conftest.py checks /health after every test; test_still_serves at the end
runs a real generation)."""

import json
import socket

import pytest

import helpers

CHAT = "/v1/chat/completions"
COMPL = "/v1/completions"


def valid(model, overrides=None, **kw):
    b = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    b.update(overrides or {})
    b.update(kw)
    return b


def expect_400(base_url, path, body):
    status, _, data, raw = helpers.post_json(base_url, path, body)
    assert status == 400, (body if len(str(body)) < 300 else str(body)[:300], status, raw[:300])
    err = helpers.assert_error_body(data)
    assert err["type"] == "invalid_request_error", err
    return err


@pytest.mark.parametrize(
    "text",
    [
        '{"model": ',
        "{",
        "",
        "not json at all",
        '{"model": "m", "messages": [}',
        '{"model": "m",}',
        "[1, 2, 3]",
        '"a string"',
        "null",
        "42",
        '{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": NaN}',
        '{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": Infinity}',
        '{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1e999}',
        '{"a": 1} trailing',
        '{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0x10}',
        '{"model": "m", "messages": [{"role": "user", "content": \'x\'}]}',
    ],
)
def test_malformed_json(base_url, text):
    expect_400(base_url, CHAT, text)


@pytest.mark.parametrize(
    "override",
    [
        {"messages": "hi"},
        {"messages": [{"role": "user", "content": 5}]},
        {"messages": [{"role": "user"}]},
        {"messages": [{"content": "x"}]},
        {"messages": [["user", "hi"]]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
        {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
        {"model": 17},
        {"max_tokens": "10"},
        {"max_tokens": 1.5},
        {"max_tokens": -1},
        {"max_tokens": 2**64},
        {"max_tokens": 10**30},
        {"temperature": "hot"},
        {"temperature": [1]},
        {"top_p": None, "temperature": {"x": 1}},
        {"stream": "yes"},
        {"stream": True, "stream_options": "usage"},
        {"stream_options": {"include_usage": "yes"}, "stream": True},
        {"n": 1.5},
        {"n": -3},
        {"n": 10**9},
        {"stop": 5},
        {"stop": [1, 2]},
        {"seed": "abc"},
        {"seed": 1.5},
        {"logprobs": "yes"},
        {"logit_bias": [1, 2]},
        {"logit_bias": {"5": "x"}},
        {"logit_bias": {"5": 1000}},
        {"logit_bias": {"-1": 1}},
        {"logit_bias": {"99999999999": 1}},
        {"min_p": 2},
    ],
)
def test_wrong_types_and_ranges(base_url, model, override):
    expect_400(base_url, CHAT, valid(model, override))


@pytest.mark.parametrize(
    "override",
    [
        {"prompt": 5},
        {"prompt": [1.5, 2]},
        {"prompt": [[1, "a"]]},
        {"prompt": [-1, 5]},
        {"prompt": [10**12]},
        {"prompt": [99_999_999]},  # past the vocabulary
        {"prompt": []},
        {"prompt": {"text": "x"}},
        {"logprobs": 100},
        {"logprobs": -1},
        {"echo": "yes"},
        {"max_tokens": -2},
    ],
)
def test_completions_wrong_types(base_url, model, override):
    body = {"model": model, "prompt": "hi", "max_tokens": 2}
    body.update(override)
    expect_400(base_url, COMPL, body)


def test_invalid_utf8(base_url, model):
    raw = json.dumps(valid(model)).encode().replace(b'"hi"', b'"h\xff\xfei"')
    expect_400(base_url, CHAT, raw)
    raw = json.dumps(valid(model)).encode().replace(b'"hi"', b'"\xc3"')  # truncated sequence
    expect_400(base_url, CHAT, raw)


def test_lone_surrogate_escape(base_url, model):
    raw = json.dumps(valid(model)).replace('"hi"', '"\\ud800x"')
    expect_400(base_url, CHAT, raw)


def test_nul_in_content_is_text(base_url, model):
    # "\u0000" is valid JSON text: it must not crash or truncate parsing (200 or a clean 400).
    status, _, data, _ = helpers.post_json(base_url, CHAT, valid(model, messages=[
        {"role": "user", "content": "a\u0000b"}]))
    assert status in (200, 400), data


@pytest.mark.parametrize("opener, closer", [("[", "]"), ('{"a":', "}")])
def test_deep_nesting(base_url, model, opener, closer):
    depth = 10**6
    doc = opener * depth + "1" + closer * depth
    status, _, data, _ = helpers.post_json(base_url, CHAT, doc, timeout=60)
    assert status in (400, 413), status
    if data is not None:
        helpers.assert_error_body(data)
    # nested inside a field of an otherwise valid request
    inner = "[" * depth + "]" * depth
    doc = json.dumps(valid(model))[:-1] + ', "extra": ' + inner + "}"
    status, _, data, _ = helpers.post_json(base_url, CHAT, doc, timeout=60)
    assert status in (400, 413), status


def test_huge_header(base_url):
    status, _, _ = helpers.request(base_url, "GET", "/health", headers={"X-Big": "a" * (1 << 20)})
    assert status in (400, 413, 431), status


def test_many_headers(base_url):
    host, port = helpers.host_port(base_url)
    with socket.create_connection((host, port), timeout=30) as s:
        head = "GET /health HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-H{i}: v\r\n" for i in range(20000))
        try:
            s.sendall(head.encode() + b"\r\n")
            reply = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            reply = b""  # closing the connection on an abusive request is fine too
    if reply:
        status = int(reply.split(b" ", 2)[1])
        assert status in (400, 413, 431), reply[:200]


def test_declared_huge_body(base_url):
    """Content-Length of 10 GB: rejected from the header alone, before any body arrives."""
    host, port = helpers.host_port(base_url)
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 10000000000\r\n\r\n{")
        reply = s.recv(4096)
    assert int(reply.split(b" ", 2)[1]) == 413, reply[:300]


def test_actual_huge_body(base_url, model):
    """100 MB really sent: a 413 comes back (the server may stop reading early and close, but
    only after its reply, which the client must be able to read)."""
    host, port = helpers.host_port(base_url)
    body = json.dumps(valid(model, messages=[{"role": "user", "content": "y" * (100 << 20)}])).encode()
    with socket.create_connection((host, port), timeout=60) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"Content-Length: {len(body)}\r\n\r\n".encode())
        try:
            for i in range(0, len(body), 1 << 20):
                s.sendall(body[i : i + (1 << 20)])
        except (ConnectionResetError, BrokenPipeError):
            pass  # stopped reading: fine, the reply should be waiting
        try:
            reply = s.recv(4096)
        except ConnectionResetError:
            reply = b""
    assert reply, "connection reset without a reply"
    assert int(reply.split(b" ", 2)[1]) == 413, reply[:300]


def test_garbage_request_line(base_url):
    host, port = helpers.host_port(base_url)
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")  # a TLS hello
        try:
            reply = s.recv(4096)
        except ConnectionResetError:
            reply = b""
    if reply:
        assert reply.startswith(b"HTTP/1.1 400") or reply.startswith(b"HTTP/1.0 400"), reply[:100]


def test_wrong_method(base_url):
    status, _, _ = helpers.request(base_url, "GET", CHAT)
    assert status in (404, 405), status
    status, _, _ = helpers.request(base_url, "DELETE", "/v1/models")
    assert status in (404, 405), status


def test_truncated_body_then_close(base_url):
    host, port = helpers.host_port(base_url)
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"mo")
    # the server must just drop that connection; the health check after the test shows it lives


def test_still_serves(base_url, model):
    status, _, data, _ = helpers.post_json(base_url, CHAT, valid(model, max_tokens=3))
    assert status == 200, data
    assert data["choices"][0]["message"]["content"] is not None
