"""Chat completions through the official openai client (sync and async)."""

import asyncio

import openai
import pytest

MSG = [{"role": "user", "content": "Name three colors."}]


def greedy(client, model, **kw):
    args = dict(model=model, messages=MSG, max_tokens=16, temperature=0)
    args.update(kw)
    return client.chat.completions.create(**args)


def test_models_list(client, model):
    ids = [m.id for m in client.models.list().data]
    assert model in ids


def test_basic_response_shape(client, model):
    r = greedy(client, model)
    assert r.id and isinstance(r.id, str)
    assert r.object == "chat.completion"
    assert isinstance(r.created, int) and r.created > 1_600_000_000
    assert r.model
    assert len(r.choices) == 1
    c = r.choices[0]
    assert c.index == 0
    assert c.message.role == "assistant"
    assert isinstance(c.message.content, str) and c.message.content
    assert c.finish_reason in ("stop", "length")
    u = r.usage
    assert u.prompt_tokens > 0 and 0 < u.completion_tokens <= 16
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    if c.finish_reason == "length":
        assert u.completion_tokens == 16


def test_max_completion_tokens(client, model):
    r = greedy(client, model, max_tokens=None, max_completion_tokens=3)
    assert r.usage.completion_tokens <= 3
    if r.choices[0].finish_reason == "length":
        assert r.usage.completion_tokens == 3


def test_greedy_is_deterministic(client, model):
    assert greedy(client, model).choices[0].message.content == greedy(client, model).choices[0].message.content


def test_content_parts_equal_plain_string(client, model):
    parts = [{"role": "user", "content": [{"type": "text", "text": "Name three colors."}]}]
    assert greedy(client, model, messages=parts).choices[0].message.content == greedy(
        client, model
    ).choices[0].message.content


def test_system_and_multi_turn(client, model):
    msgs = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Count to three."},
    ]
    r = greedy(client, model, messages=msgs)
    assert r.choices[0].message.content
    assert r.usage.prompt_tokens > greedy(client, model).usage.prompt_tokens


def test_stream_matches_non_stream(client, model):
    full = greedy(client, model).choices[0].message.content
    chunks = list(greedy(client, model, stream=True))
    assert chunks, "no chunks"
    ids = {c.id for c in chunks}
    assert len(ids) == 1, f"chunk ids differ: {ids}"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1 and finishes[0] in ("stop", "length")
    # Without stream_options.include_usage there is no usage chunk.
    assert all(not c.usage for c in chunks), "usage sent without include_usage"
    assert all(c.choices for c in chunks), "a chunk with empty choices without include_usage"


def test_stream_include_usage(client, model):
    plain = greedy(client, model)
    chunks = list(greedy(client, model, stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == [], "the usage chunk must have empty choices"
    assert last.usage is not None
    assert last.usage.completion_tokens == plain.usage.completion_tokens
    assert last.usage.prompt_tokens == plain.usage.prompt_tokens
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(not c.usage for c in chunks[:-1]), "usage before the final chunk"


def test_stream_include_usage_false(client, model):
    chunks = list(greedy(client, model, stream=True, stream_options={"include_usage": False}))
    assert all(not c.usage for c in chunks)


def test_n_choices(client, model):
    r = greedy(client, model, n=3, temperature=1.0, seed=7, max_tokens=12)
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    assert all(c.message.content is not None for c in r.choices)
    assert r.usage.completion_tokens <= 36
    assert r.usage.completion_tokens >= 3


def test_n_choices_greedy_identical(client, model):
    r = greedy(client, model, n=2)
    assert r.choices[0].message.content == r.choices[1].message.content


def test_n_choices_stream(client, model):
    chunks = list(greedy(client, model, n=2, temperature=1.0, seed=3, stream=True,
                         stream_options={"include_usage": True}))
    texts = {0: "", 1: ""}
    finishes = {0: [], 1: []}
    for c in chunks:
        for ch in c.choices:
            texts[ch.index] += ch.delta.content or ""
            if ch.finish_reason:
                finishes[ch.index].append(ch.finish_reason)
    assert all(len(f) == 1 for f in finishes.values()), finishes
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []
    nonstream = greedy(client, model, n=2, temperature=1.0, seed=3)
    assert [c.message.content for c in sorted(nonstream.choices, key=lambda c: c.index)] == [
        texts[0], texts[1]]


def test_seed_reproducible(client, model):
    a = greedy(client, model, temperature=1.0, seed=1234, max_tokens=24)
    b = greedy(client, model, temperature=1.0, seed=1234, max_tokens=24)
    assert a.choices[0].message.content == b.choices[0].message.content
    others = {greedy(client, model, temperature=1.0, seed=s, max_tokens=24).choices[0].message.content
              for s in (1, 2, 3)}
    assert len(others | {a.choices[0].message.content}) > 1, "seed has no effect"


def test_stop_sequence_not_in_output(client, model):
    full = greedy(client, model, max_tokens=24).choices[0].message.content
    assert len(full) > 8, full
    stop = full[4:7]
    r = greedy(client, model, max_tokens=24, stop=stop)
    text = r.choices[0].message.content
    assert stop not in text
    assert text == full[: full.index(stop)]
    assert r.choices[0].finish_reason == "stop"
    # the same through the stream, and with a list of stops
    chunks = list(greedy(client, model, max_tokens=24, stop=["\x00never", stop], stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text


def test_sampling_parameters_accepted(client, model):
    r = greedy(
        client, model, temperature=0.8, top_p=0.9, presence_penalty=0.5, frequency_penalty=0.5,
        seed=5, user="pytest", extra_body={"top_k": 20, "min_p": 0.05},
    )
    assert r.choices[0].message.content is not None


def test_logit_bias_changes_output(client, model):
    base = greedy(client, model, logprobs=True, top_logprobs=1, max_tokens=4)
    assert base.choices[0].logprobs is not None
    # Banning every token id 0..299 never changes a text that uses none of them; this checks
    # only that the field is accepted with many entries.
    r = greedy(client, model, logit_bias={str(i): -100 for i in range(300)}, max_tokens=4)
    assert r.choices[0].message.content is not None


def test_logprobs(client, model):
    r = greedy(client, model, logprobs=True, top_logprobs=3, max_tokens=8)
    lp = r.choices[0].logprobs
    assert lp is not None and lp.content is not None
    assert len(lp.content) == r.usage.completion_tokens
    for t in lp.content:
        assert isinstance(t.token, str)
        assert t.logprob <= 0
        assert len(t.top_logprobs) == 3
        tops = [x.logprob for x in t.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        # greedy: the chosen token is the most likely one
        assert abs(t.logprob - tops[0]) < 1e-3
    text = "".join(t.token for t in lp.content)
    assert text == r.choices[0].message.content


def test_logprobs_without_top(client, model):
    r = greedy(client, model, logprobs=True, max_tokens=4)
    lp = r.choices[0].logprobs
    assert lp is not None and len(lp.content) == r.usage.completion_tokens
    assert all(t.top_logprobs == [] for t in lp.content)


def test_no_logprobs_by_default(client, model):
    assert greedy(client, model, max_tokens=4).choices[0].logprobs is None


def test_async_client_concurrent(async_client_factory, client, model):
    prompts = [f"Write a word that starts with the letter {ch}." for ch in "abcdef"]

    async def run():
        ac = async_client_factory()
        async with ac:
            plain = [ac.chat.completions.create(model=model, messages=[{"role": "user", "content": p}],
                                                max_tokens=10, temperature=0) for p in prompts]
            results = await asyncio.gather(*plain)
            stream = await ac.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompts[0]}], max_tokens=10,
                temperature=0, stream=True)
            text = ""
            async for chunk in stream:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
            return [r.choices[0].message.content for r in results], text

    texts, streamed = asyncio.run(run())
    sync = [client.chat.completions.create(model=model, messages=[{"role": "user", "content": p}],
                                           max_tokens=10, temperature=0).choices[0].message.content
            for p in prompts]
    assert texts == sync
    assert streamed == sync[0]


def test_async_client_errors(async_client_factory, model):
    async def run():
        async with async_client_factory() as ac:
            with pytest.raises(openai.NotFoundError):
                await ac.chat.completions.create(model="no-such-model", messages=MSG, max_tokens=2)
            with pytest.raises(openai.BadRequestError):
                await ac.chat.completions.create(model=model, messages=MSG, max_tokens=2,
                                                 temperature=-1)

    asyncio.run(run())
