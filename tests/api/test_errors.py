"""Every error the protocol defines: status, OpenAI error body, and the openai client raising its
own exception type for it."""

import threading

import openai
import pytest

import helpers

MSG = [{"role": "user", "content": "Hello"}]


def chat(client, model, **kw):
    args = dict(model=model, messages=MSG, max_tokens=4)
    args.update(kw)
    return client.chat.completions.create(**args)


def error_of(exc):
    body = exc.body
    # the client hands over the "error" object itself
    assert isinstance(body, dict), body
    for key in ("message", "type", "param", "code"):
        assert key in body, body
    return body


def test_unknown_model_404(client):
    with pytest.raises(openai.NotFoundError) as e:
        chat(client, "no-such-model")
    assert e.value.status_code == 404
    err = error_of(e.value)
    assert "no-such-model" in err["message"]


def test_unknown_model_completions_404(client):
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="no-such-model", prompt="hi", max_tokens=2)


def test_unknown_route_404(base_url):
    for method, path in (("GET", "/v1/nothing"), ("POST", "/v1/engines/x/completions"), ("GET", "/")):
        status, _, data = helpers.request(base_url, method, path, body={} if method == "POST" else None)
        assert status == 404, (method, path, status, data)
        helpers.assert_error_body(__import__("json").loads(data))


@pytest.mark.parametrize(
    "kw, param",
    [
        ({"temperature": -1}, "temperature"),
        ({"temperature": 3.5}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_p": -0.1}, "top_p"),
        ({"n": 0}, "n"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"presence_penalty": 9}, "presence_penalty"),
        ({"frequency_penalty": -9}, "frequency_penalty"),
        ({"logprobs": True, "top_logprobs": 50}, "top_logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),  # top_logprobs needs logprobs=true
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages"),
        ({"logit_bias": {"not-a-token": 1}}, "logit_bias"),
    ],
)
def test_invalid_parameters_400(client, model, kw, param):
    with pytest.raises(openai.BadRequestError) as e:
        chat(client, model, **kw)
    assert e.value.status_code == 400
    err = error_of(e.value)
    assert err["type"] == "invalid_request_error"
    assert err["param"] is None or param.split(".")[0] in err["param"], err


def test_missing_required_fields_400(base_url, model):
    for body in ({"messages": MSG}, {"model": model}):
        status, _, data, _ = helpers.post_json(base_url, "/v1/chat/completions", body)
        assert status == 400, (body, data)
        assert helpers.assert_error_body(data)["type"] == "invalid_request_error"
    status, _, data, _ = helpers.post_json(base_url, "/v1/completions", {"model": model})
    assert status == 400, data


def test_context_length_exceeded_400(client, model):
    with pytest.raises(openai.BadRequestError) as e:
        chat(client, model, max_tokens=10_000_000)
    err = error_of(e.value)
    assert err["code"] == "context_length_exceeded", err
    assert err["type"] == "invalid_request_error"


def test_context_length_exceeded_by_prompt(client, model):
    huge = "word " * 200_000  # far more tokens than any context here
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=model, prompt=huge, max_tokens=1)
    assert error_of(e.value)["code"] == "context_length_exceeded"


def test_body_too_large_413(client, model, base_url):
    big = "x" * (64 << 20)
    with pytest.raises(openai.APIStatusError) as e:
        client.completions.create(model=model, prompt=big, max_tokens=1)
    assert e.value.status_code == 413
    error_of(e.value)


def test_queue_full_503_with_retry_after(start_server):
    """A server with one running slot and a one-request queue: a burst gets 503s with
    Retry-After, the client raises its own error, and everything admitted completes."""
    srv = start_server("--parallel", "1", "--max-queue", "1", name="queue1")
    model = helpers.first_model(srv.url)
    body = {"model": model, "prompt": "1, 2, 3, 4, 5,", "max_tokens": 48, "temperature": 0,
            "ignore_eos": True}
    results = [None] * 6

    def send(i):
        results[i] = helpers.post_json(srv.url, "/v1/completions", body, timeout=120)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [r[0] for r in results]
    assert statuses.count(200) >= 1, statuses
    assert statuses.count(503) >= 1, statuses
    assert set(statuses) <= {200, 503}, statuses
    for status, headers, data, _ in results:
        if status == 503:
            assert "retry-after" in headers, headers
            assert int(headers["retry-after"]) >= 1
            helpers.assert_error_body(data)
        else:
            assert data["usage"]["completion_tokens"] == 48

    # the client's own error type, once the slot and the queue are taken again
    c = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0, timeout=120)
    # one request running, then one queued (started in turn: two at once could race for the
    # queue's single place), then the client's request finds the queue full
    # (long enough that the running one cannot finish, and free the queue, before the check)
    long_body = dict(body, max_tokens=400)
    hold = [threading.Thread(target=helpers.post_json, args=(srv.url, "/v1/completions", long_body),
                             kwargs={"timeout": 120}) for _ in range(2)]
    hold[0].start()
    ok, m, _ = helpers.wait_metrics(srv.url, lambda m: m["tokenmill_running_sequences"] == 1
                                    and m["tokenmill_queue_length"] == 0, 30)
    assert ok, m
    hold[1].start()
    ok, m, _ = helpers.wait_metrics(srv.url, lambda m: m["tokenmill_queue_length"] == 1, 30)
    assert ok, m
    with pytest.raises(openai.APIStatusError) as e:
        c.completions.create(model=model, prompt="x", max_tokens=2)
    for t in hold:
        t.join()
    assert e.value.status_code == 503
    assert isinstance(e.value, openai.InternalServerError)
    assert e.value.response.headers.get("retry-after")
    # and it serves again
    assert c.completions.create(model=model, prompt="x", max_tokens=2).choices
