"""Clients that go away: the engine must notice, drop the sequence and free its KV blocks within
a second (checked through /metrics), both mid-stream and while still queued."""

import time

import pytest

import helpers

IDLE = lambda m: (m["tokenmill_running_sequences"] == 0 and m["tokenmill_kv_blocks_used"] == 0
                  and m["tokenmill_queue_length"] == 0)


def long_stream_body(model, tokens=400):
    # Counting runs to max_tokens at temperature 0 even without ignore_eos.
    return {"model": model, "prompt": "1, 2, 3, 4, 5,", "max_tokens": tokens,
            "temperature": 0, "stream": True, "ignore_eos": True}


def test_metrics_names(base_url):
    m = helpers.metrics(base_url)
    for name in ("tokenmill_running_sequences", "tokenmill_kv_blocks_used", "tokenmill_kv_blocks_free",
                 "tokenmill_kv_blocks_total", "tokenmill_queue_length"):
        assert name in m, f"/metrics lacks {name}"


def test_disconnect_after_first_chunk(base_url, model):
    helpers.wait_idle(base_url)
    s = helpers.RawStream(base_url, "/v1/completions", long_stream_body(model))
    assert s.status() == 200
    s.read_until(b"data: ")
    s.read_until(b"\n\n")
    m = helpers.metrics(base_url)
    assert m["tokenmill_running_sequences"] >= 1, "request already gone before the disconnect"
    assert m["tokenmill_kv_blocks_used"] >= 1
    s.close()
    t0 = time.monotonic()
    ok, m, waited = helpers.wait_metrics(base_url, IDLE, timeout=5)
    assert ok and time.monotonic() - t0 <= 1.0, f"not freed within 1 s (waited {waited:.2f} s): {m}"
    assert m["tokenmill_kv_blocks_free"] + m["tokenmill_kv_blocks_used"] == m["tokenmill_kv_blocks_total"]


def test_disconnect_chat_stream(base_url, model):
    helpers.wait_idle(base_url)
    body = {"model": model, "messages": [{"role": "user", "content": "Count from 1 to 1000, separated by commas."}],
            "max_tokens": 400, "stream": True, "ignore_eos": True}
    s = helpers.RawStream(base_url, "/v1/chat/completions", body)
    assert s.status() == 200
    s.read_until(b"data: ")
    s.close()
    ok, m, waited = helpers.wait_metrics(base_url, IDLE, timeout=5)
    assert ok and waited <= 1.0, f"not freed within 1 s (waited {waited:.2f} s): {m}"


def test_disconnect_non_streaming(base_url, model):
    helpers.wait_idle(base_url)
    body = dict(long_stream_body(model), stream=False)
    s = helpers.RawStream(base_url, "/v1/completions", body)
    ok, m, _ = helpers.wait_metrics(base_url, lambda m: m["tokenmill_running_sequences"] >= 1, 10)
    assert ok, m
    s.close()
    ok, m, waited = helpers.wait_metrics(base_url, IDLE, timeout=5)
    assert ok and waited <= 1.0, f"not freed within 1 s (waited {waited:.2f} s): {m}"


@pytest.fixture(scope="module")
def one_slot(start_server):
    return start_server("--parallel", "1", "--max-queue", "4", name="one-slot")


def test_disconnect_while_queued(one_slot):
    url = one_slot.url
    model = helpers.first_model(url)
    helpers.wait_idle(url)
    running = helpers.RawStream(url, "/v1/completions", long_stream_body(model, 600))
    assert running.status() == 200
    running.read_until(b"data: ")
    for stream in (True, False):
        queued = helpers.RawStream(url, "/v1/completions", dict(long_stream_body(model), stream=stream))
        ok, m, _ = helpers.wait_metrics(url, lambda m: m["tokenmill_queue_length"] >= 1, 10)
        assert ok, f"second request never queued: {m}"
        used_before = m["tokenmill_kv_blocks_used"]
        queued.close()
        ok, m, waited = helpers.wait_metrics(url, lambda m: m["tokenmill_queue_length"] == 0, 5)
        assert ok and waited <= 1.0, f"queued request not dropped within 1 s ({waited:.2f} s): {m}"
        assert m["tokenmill_running_sequences"] == 1, m  # the first one still runs
        assert m["tokenmill_kv_blocks_used"] >= used_before
    running.close()
    ok, m, waited = helpers.wait_metrics(url, IDLE, timeout=5)
    assert ok and waited <= 1.0, f"not freed within 1 s (waited {waited:.2f} s): {m}"
    status, _, data, _ = helpers.post_json(url, "/v1/completions",
                                           {"model": model, "prompt": "hi", "max_tokens": 2})
    assert status == 200, data
