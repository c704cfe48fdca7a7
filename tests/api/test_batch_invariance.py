"""Batch invariance: at temperature 0 (and with a fixed seed at temperature 1) a request gives
the same tokens alone or among many others arriving at random times, and whether its prompt
came from the prefix cache or not."""

import concurrent.futures
import random
import time

import pytest

import helpers

SUBJECTS = ["rivers", "owls", "volcanoes", "bread", "chess", "glaciers", "violins", "bees",
            "comets", "tigers", "maps", "clocks", "deserts", "ships", "apples", "robots",
            "storms", "castles", "whales", "gardens", "trains", "lanterns", "coral", "wolves",
            "bridges", "kites", "mushrooms", "pianos", "caves", "falcons", "islands", "candles"]
PROMPTS = [f"Here are three surprising facts about {s}:\n1." for s in SUBJECTS]
assert len(PROMPTS) == 32
PREFIX = ("You are a careful assistant for a natural history museum. Answer visitors' questions "
          "in plain language, cite the exhibit hall when relevant, and never invent facts. ") * 8


def body(model, prompt, **kw):
    b = {"model": model, "prompt": prompt, "max_tokens": 24, "temperature": 0}
    b.update(kw)
    return b


def run_one(url, b, delay=0.0):
    time.sleep(delay)
    status, _, data, raw = helpers.post_json(url, "/v1/completions", b, timeout=300)
    assert status == 200, raw[:300]
    return data["choices"][0]["text"], data["usage"]


def run_alone(url, bodies):
    return [run_one(url, b) for b in bodies]


def run_together(url, bodies, seed=0):
    rng = random.Random(seed)
    delays = [rng.uniform(0, 0.8) for _ in bodies]
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda a: run_one(url, *a), zip(bodies, delays)))


def diff(a, b):
    return [(i, x[0], y[0]) for i, (x, y) in enumerate(zip(a, b)) if x[0] != y[0]]


def test_greedy_alone_vs_together(base_url, model):
    bodies = [body(model, p) for p in PROMPTS]
    alone = run_alone(base_url, bodies)
    together = run_together(base_url, bodies, seed=1)
    assert not diff(alone, together)


def test_seeded_sampling_alone_vs_together(base_url, model):
    bodies = [body(model, p, temperature=1.0, seed=100 + i) for i, p in enumerate(PROMPTS[:16])]
    alone = run_alone(base_url, bodies)
    together = run_together(base_url, bodies, seed=2)
    assert not diff(alone, together)


@pytest.fixture(scope="module")
def no_cache_server(start_server):
    return start_server("--no-prefix-cache", name="no-prefix-cache")


def test_prefix_cached_vs_uncached(base_url, model, no_cache_server):
    bodies = [body(model, PREFIX + "Question about " + s + ": what should I see first?\nAnswer:")
              for s in SUBJECTS[:16]]
    # the default server: the first request fills the cache, the rest (alone, then together)
    # hit it
    cached_alone = run_alone(base_url, bodies)
    assert all(u.get("prompt_tokens_details", {}).get("cached_tokens", 0) > 0 for _, u in cached_alone[1:]), \
        [u for _, u in cached_alone]
    cached_together = run_together(base_url, bodies, seed=3)
    uncached_model = helpers.first_model(no_cache_server.url)
    uncached = run_together(no_cache_server.url,
                            [dict(b, model=uncached_model) for b in bodies], seed=4)
    assert all(u.get("prompt_tokens_details", {}).get("cached_tokens", 0) == 0 for _, u in uncached)
    assert not diff(cached_alone, uncached), "prefix cache changes greedy output"
    assert not diff(cached_together, uncached), "prefix cache + batching changes greedy output"
