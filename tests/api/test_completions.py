"""Text completions through the official openai client, including what lm-eval needs
(echo + logprobs) and token-id prompts."""

import pytest

PROMPT = "The capital of France is"


def complete(client, model, **kw):
    args = dict(model=model, prompt=PROMPT, max_tokens=12, temperature=0)
    args.update(kw)
    return client.completions.create(**args)


def test_basic_response_shape(client, model):
    r = complete(client, model)
    assert r.id and r.object == "text_completion"
    assert isinstance(r.created, int)
    assert len(r.choices) == 1
    c = r.choices[0]
    assert c.index == 0 and isinstance(c.text, str) and c.text
    assert c.finish_reason in ("stop", "length")
    assert c.logprobs is None
    assert r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_stream_matches_non_stream(client, model):
    full = complete(client, model).choices[0].text
    chunks = list(complete(client, model, stream=True))
    assert len({c.id for c in chunks}) == 1
    assert "".join(c.choices[0].text for c in chunks if c.choices) == full
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1
    assert all(not c.usage for c in chunks)


def test_stream_include_usage(client, model):
    plain = complete(client, model)
    chunks = list(complete(client, model, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    assert all(not c.usage for c in chunks[:-1])


def test_token_id_prompt(client, model):
    ids = [504, 3575, 282, 4649, 314]
    r = complete(client, model, prompt=ids)
    assert r.usage.prompt_tokens == len(ids)
    assert r.choices[0].text


def test_prompt_list(client, model):
    prompts = [PROMPT, "One, two, three,"]
    r = complete(client, model, prompt=prompts, n=2)
    assert sorted(c.index for c in r.choices) == [0, 1, 2, 3]
    by_index = {c.index: c.text for c in r.choices}
    # greedy: both choices of one prompt are equal; index = prompt * n + choice
    assert by_index[0] == by_index[1] == complete(client, model).choices[0].text
    assert by_index[2] == by_index[3] == complete(client, model, prompt=prompts[1]).choices[0].text


def test_token_id_prompt_list(client, model):
    r = complete(client, model, prompt=[[504, 3575], [282, 4649, 314]])
    assert len(r.choices) == 2
    assert r.usage.prompt_tokens == 5


def test_max_tokens_length(client, model):
    r = complete(client, model, max_tokens=3, extra_body={"ignore_eos": True})
    assert r.usage.completion_tokens == 3
    assert r.choices[0].finish_reason == "length"


def test_ignore_eos(client, model):
    """ignore_eos (an extension llama-server has too; bench-serve sends it): a prompt whose greedy
    answer ends at once still runs to max_tokens."""
    prompt = "Write a very long story about a dragon."
    plain = complete(client, model, prompt=prompt, max_tokens=16)
    assert plain.choices[0].finish_reason == "stop", "prompt no longer ends early; pick another"
    r = complete(client, model, prompt=prompt, max_tokens=16, extra_body={"ignore_eos": True})
    assert r.usage.completion_tokens == 16, r.usage
    assert r.choices[0].finish_reason == "length"


def test_seed_reproducible(client, model):
    a = complete(client, model, temperature=1.0, seed=99, max_tokens=20).choices[0].text
    b = complete(client, model, temperature=1.0, seed=99, max_tokens=20).choices[0].text
    assert a == b


def test_stop_sequence(client, model):
    full = complete(client, model, max_tokens=20).choices[0].text
    assert len(full) > 6, full
    stop = full[3:6]
    r = complete(client, model, max_tokens=20, stop=[stop])
    assert r.choices[0].text == full[: full.index(stop)]
    assert r.choices[0].finish_reason == "stop"


def test_logprobs(client, model):
    r = complete(client, model, logprobs=3, max_tokens=6)
    lp = r.choices[0].logprobs
    assert lp is not None
    n = r.usage.completion_tokens
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == n
    assert "".join(lp.tokens) == r.choices[0].text
    for tok, val, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert val <= 0
        assert 1 <= len(top) <= 3
        assert abs(max(top.values()) - val) < 1e-3  # greedy
    assert lp.text_offset == sorted(lp.text_offset)


def test_echo_logprobs_as_lm_eval_sends(client, model):
    """lm-eval's local-completions loglikelihood request: echo, logprobs=1, max_tokens=1."""
    r = client.completions.create(model=model, prompt=PROMPT + " Paris", max_tokens=1,
                                  temperature=0, logprobs=1, echo=True, seed=1234)
    c = r.choices[0]
    assert c.text.startswith(PROMPT + " Paris")
    lp = c.logprobs
    n_prompt = r.usage.prompt_tokens
    assert len(lp.tokens) == n_prompt + r.usage.completion_tokens
    assert len(lp.token_logprobs) == len(lp.tokens) == len(lp.top_logprobs)
    assert lp.token_logprobs[0] is None  # nothing predicts the first token
    assert all(v is not None and v <= 0 for v in lp.token_logprobs[1:])
    assert "".join(lp.tokens) == c.text
    for val, top in zip(lp.token_logprobs[1:], lp.top_logprobs[1:]):
        assert top and max(top.values()) >= val - 1e-4


def test_echo_without_logprobs(client, model):
    r = complete(client, model, echo=True, max_tokens=4)
    assert r.choices[0].text.startswith(PROMPT)


def test_prefix_cache_reports_cached_tokens(client, model):
    long_prompt = ("A long shared system preamble about rivers and mountains. " * 20) + "Question:"
    complete(client, model, prompt=long_prompt, max_tokens=2)
    r = complete(client, model, prompt=long_prompt + " what?", max_tokens=2)
    details = r.usage.prompt_tokens_details
    assert details is not None
    assert details.cached_tokens > 0, r.usage
    assert details.cached_tokens < r.usage.prompt_tokens
