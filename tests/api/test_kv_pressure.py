"""A deliberately tiny KV pool: 64 concurrent long requests must all complete (preemption by
recompute, no deadlock), give the same greedy text as their twins, and leave the block
accounting balanced (free + used == total, used == 0) once idle."""

import concurrent.futures

import helpers


def test_tiny_pool_64_concurrent(start_server):
    srv = start_server("--kv-blocks", "64", "--parallel", "64", name="tiny-kv")
    url = srv.url
    model = helpers.first_model(url)
    m0 = helpers.metrics(url)
    assert m0["tokenmill_kv_blocks_total"] == 64, m0
    # 8 distinct prompts, each sent 8 times: twins must agree token for token at temperature 0
    prompts = [f"Story number {i}: once upon a time in a land far away there lived a" for i in range(8)]
    bodies = [{"model": model, "prompt": prompts[i % 8], "max_tokens": 96, "temperature": 0,
               "ignore_eos": True} for i in range(64)]

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        results = list(pool.map(lambda b: helpers.post_json(url, "/v1/completions", b, timeout=600),
                                bodies))
    failures = [(i, r[0], r[3][:200]) for i, r in enumerate(results) if r[0] != 200]
    assert not failures, failures
    texts = {}
    for i, (_, _, data, _) in enumerate(results):
        assert data["usage"]["completion_tokens"] == 96, data["usage"]
        assert data["choices"][0]["finish_reason"] == "length"
        texts.setdefault(i % 8, set()).add(data["choices"][0]["text"])
    diverged = {k: len(v) for k, v in texts.items() if len(v) != 1}
    assert not diverged, f"same prompt, different greedy text under preemption: {diverged}"

    m = helpers.wait_idle(url)
    assert m["tokenmill_kv_blocks_used"] == 0, m
    assert m["tokenmill_kv_blocks_free"] + m["tokenmill_kv_blocks_used"] == m["tokenmill_kv_blocks_total"]
    preempt = [v for k, v in m.items() if k.startswith("tokenmill_preemptions")]
    assert preempt and max(preempt) > 0, f"64 x 112 tokens in 64 blocks without a preemption? {preempt}"
