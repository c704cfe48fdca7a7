"""Metering and multi-tenancy through the real server, the real `tokenmill keys` command, the
official openai client and the real SQLite ledger: authentication, exact per-tenant accounting,
budget races, fair sharing and durability across kill -9."""

import concurrent.futures
import json
import os
import random
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time

import pytest

import helpers
from conftest import BIN, MODEL

pytestmark = pytest.mark.own_server

PRICES = {
    "hardware": {"usd_per_hour": 3.6, "idle_watts": 20, "busy_watts": 80},
    "models": {
        MODEL: {
            "input_usd_per_mtok": 1.0,
            "cached_input_usd_per_mtok": 0.5,
            "output_usd_per_mtok": 4.0,
        }
    },
}


def charge(usage):
    """What PRICES charge for one response's usage."""
    p = PRICES["models"][MODEL]
    cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
    return (
        (usage.prompt_tokens - cached) * p["input_usd_per_mtok"]
        + cached * p["cached_input_usd_per_mtok"]
        + usage.completion_tokens * p["output_usd_per_mtok"]
    ) / 1e6


class DataDir:
    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="tokenmill-metering-")
        self.path = self._dir.name
        self.prices = os.path.join(self.path, "prices.json")
        with open(self.prices, "w") as f:
            json.dump(PRICES, f)

    def create_key(self, tenant, *args):
        out = subprocess.run(
            [BIN, "keys", "create", "--data-dir", self.path, "--tenant", tenant, *map(str, args)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        secret = out.strip().splitlines()[-1]
        assert secret.startswith("tm-") and " " not in secret, out
        key_id = next(w for w in out.split() if w.startswith("key_"))
        return secret, key_id

    def revoke(self, key_id):
        subprocess.run([BIN, "keys", "revoke", "--data-dir", self.path, key_id], check=True)

    def ledger(self):
        db = sqlite3.connect(os.path.join(self.path, "ledger.db"))
        db.row_factory = sqlite3.Row
        return db


def openai_client(url, key):
    import openai

    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=120)


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def metered(start_server):
    """A server with four tenants' keys, an admin key and a price sheet."""
    d = DataDir()
    keys = {t: d.create_key(t) for t in ("alpha", "beta", "gamma", "delta")}
    admin, _ = d.create_key("ops", "--admin")
    server = start_server(
        "--data-dir", d.path, "--price-sheet", d.prices, "--parallel", "16", name="metered"
    )
    return server, d, keys, admin


def usage(url, key, query=""):
    status, _, data = helpers.request(url, "GET", "/v1/usage" + query, headers=bearer(key))
    assert status == 200, data
    return json.loads(data)["data"]


# --- authentication -------------------------------------------------------------------------


def test_keys_are_required_once_they_exist(metered):
    server, d, keys, admin = metered
    body = {"model": MODEL, "prompt": "Hi", "max_tokens": 2}
    alpha, alpha_id = keys["alpha"]
    status, _, parsed, _ = helpers.post_json(server.url, "/v1/completions", body)
    assert status == 401 and parsed["error"]["type"] == "authentication_error"
    status, _, parsed, _ = helpers.post_json(
        server.url, "/v1/completions", body, headers=bearer("tm-" + "A" * 43)
    )
    assert status == 401
    status, _, parsed, _ = helpers.post_json(
        server.url, "/v1/completions", body, headers={"Authorization": "Basic " + alpha}
    )
    assert status == 401
    status, headers, parsed, _ = helpers.post_json(
        server.url, "/v1/completions", body, headers=bearer(alpha)
    )
    assert status == 200, parsed
    assert float(headers["x-tokenmill-cost-usd"]) > 0
    assert float(headers["x-tokenmill-energy-j"]) > 0
    # Liveness stays open; /metrics needs an admin key.
    assert helpers.request(server.url, "GET", "/health")[0] == 200
    assert helpers.request(server.url, "GET", "/metrics")[0] == 401
    assert helpers.request(server.url, "GET", "/metrics", headers=bearer(alpha))[0] == 403
    status, _, text = helpers.request(server.url, "GET", "/metrics", headers=bearer(admin))
    assert status == 200 and b'tokenmill_tenant_generation_tokens_total{tenant="alpha"}' in text


def test_revoked_key_is_refused_at_once(metered):
    server, d, _, _ = metered
    secret, key_id = d.create_key("revokee")
    client = openai_client(server.url, secret)
    client.completions.create(model=MODEL, prompt="Hi", max_tokens=1)
    d.revoke(key_id)
    import openai

    with pytest.raises(openai.AuthenticationError):
        client.completions.create(model=MODEL, prompt="Hi", max_tokens=1)


BYPASS_PATHS = [
    "//v1/completions",
    "/v1/../v1/completions",
    "/v1/./completions",
    "/v1%2Fcompletions",
    "/v1/completions/",
    "/V1/completions",
    "/v1/Completions",
    "/v1/completions%00",
    "/./v1/completions",
    "v1/completions",
]


@pytest.mark.parametrize("path", BYPASS_PATHS)
def test_path_tricks_never_serve(metered, path):
    server, _, keys, _ = metered
    body = {"model": MODEL, "prompt": "Hi", "max_tokens": 1}
    status, _, data = helpers.request(server.url, "POST", path, body)
    assert status in (400, 401), (path, status, data)
    status, _, data = helpers.request(server.url, "POST", path, body, headers=bearer(keys["alpha"][0]))
    assert status in (400, 404), (path, status, data)
    assert b"choices" not in data


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PUT", "DELETE", "GET"])
def test_other_methods_never_serve(metered, method):
    server, _, keys, _ = metered
    status, _, data = helpers.request(server.url, method, "/v1/completions")
    assert status == 401, (method, status)
    status, _, data = helpers.request(
        server.url, method, "/v1/completions", headers=bearer(keys["alpha"][0])
    )
    assert status == 405, (method, status)
    assert b"choices" not in data


def test_usage_is_scoped_to_the_tenant(metered):
    server, _, keys, admin = metered
    alpha, _ = keys["alpha"]
    openai_client(server.url, keys["beta"][0]).completions.create(
        model=MODEL, prompt="Hi", max_tokens=1
    )
    rows = usage(server.url, alpha, "?group_by=tenant")
    assert {r["tenant"] for r in rows} <= {"alpha"}
    status, _, data = helpers.request(
        server.url, "GET", "/v1/usage?tenant=beta", headers=bearer(alpha)
    )
    assert status == 403, data
    tenants = {r["tenant"] for r in usage(server.url, admin, "?group_by=tenant")}
    assert {"alpha", "beta"} <= tenants
    status, _, data = helpers.request(
        server.url, "GET", "/v1/usage?group_by=colour", headers=bearer(admin)
    )
    assert status == 400
    rows = usage(server.url, admin, "?group_by=model,day")
    assert all(set(r) >= {"model", "day", "requests", "cost_usd", "energy_j"} for r in rows)


def test_streaming_usage_chunk_carries_cost(metered):
    server, _, keys, _ = metered
    client = openai_client(server.url, keys["gamma"][0])
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Say hi"}],
            max_tokens=4,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    extra = last.usage.model_extra
    assert extra["cost_usd"] > 0 and extra["energy_j"] > 0


# --- exactness ------------------------------------------------------------------------------


def one_request(url, key, rng):
    """Sends one request of a random kind; returns (kind, tenant usage dict or None, request id,
    tokens seen)."""
    import openai

    client = openai_client(url, key)
    kind = rng.choice(["plain", "chat", "stream", "n2", "stop", "cancel", "reject", "multi"])
    words = " ".join(rng.choice(["apple", "river", "stone", "cloud", "tiger"]) for _ in range(rng.randint(1, 12)))
    max_tokens = rng.randint(1, 8)
    if kind == "plain":
        r = client.completions.create(model=MODEL, prompt=words, max_tokens=max_tokens)
        return kind, r.usage, r.id
    if kind == "multi":
        r = client.completions.create(model=MODEL, prompt=[words, words + " again"], max_tokens=max_tokens)
        return kind, r.usage, r.id
    if kind == "chat":
        r = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": words}], max_tokens=max_tokens
        )
        return kind, r.usage, r.id
    if kind == "n2":
        r = client.completions.create(
            model=MODEL, prompt=words, max_tokens=max_tokens, n=2, temperature=0.8, seed=rng.randint(0, 99)
        )
        return kind, r.usage, r.id
    if kind == "stop":
        r = client.completions.create(
            model=MODEL, prompt=words, max_tokens=16, stop=["e", "a"], extra_body={"ignore_eos": True}
        )
        return kind, r.usage, r.id
    if kind == "stream":
        usage_seen, rid = None, None
        for c in client.completions.create(
            model=MODEL, prompt=words, max_tokens=max_tokens, stream=True, stream_options={"include_usage": True}
        ):
            rid = c.id
            if c.usage is not None:
                usage_seen = c.usage
        return kind, usage_seen, rid
    if kind == "cancel":
        stream = client.completions.create(
            model=MODEL, prompt=words, max_tokens=200, stream=True, extra_body={"ignore_eos": True}
        )
        rid = None
        for i, c in enumerate(stream):
            rid = c.id
            if i >= 1:
                break
        stream.close()
        return kind, None, rid
    # reject: longer than the context -> 400, never reaches the engine
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=MODEL, prompt=words, max_tokens=10**6)
    return kind, None, None


@pytest.mark.slow
def test_ledger_equals_client_usage_per_tenant(metered):
    server, d, keys, admin = metered
    tenants = ["alpha", "beta", "gamma", "delta"]
    before = {r["tenant"]: r for r in usage(server.url, admin, "?group_by=tenant")}
    rng = random.Random(1234)
    jobs = [(tenants[i % 4], random.Random(rng.random())) for i in range(1000)]
    results = []
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(one_request, server.url, keys[t][0], r) for t, r in jobs]
        for (t, _), f in zip(jobs, futures):
            results.append((t, *f.result()))

    expected = {t: {"prompt": 0, "completion": 0, "cached": 0, "requests": 0} for t in tenants}
    cancelled_ids = {t: [] for t in tenants}
    for t, kind, u, rid in results:
        if kind == "cancel":
            cancelled_ids[t].append(rid)
        elif u is not None:
            e = expected[t]
            e["prompt"] += u.prompt_tokens
            e["completion"] += u.completion_tokens
            e["cached"] += u.prompt_tokens_details.cached_tokens
            e["requests"] += 2 if kind == "multi" else 1
    # Cancelled requests reach the ledger when the engine notices the disconnect (next step).
    db = d.ledger()
    all_cancelled = [i for ids in cancelled_ids.values() for i in ids]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        marks = ",".join("?" * len(all_cancelled))
        n = db.execute(
            f"SELECT COUNT(*) FROM usage_ledger WHERE request_id IN ({marks})", all_cancelled
        ).fetchone()[0]
        if n == len(all_cancelled):
            break
        time.sleep(0.2)
    after = {r["tenant"]: r for r in usage(server.url, admin, "?group_by=tenant")}
    for t in tenants:
        ids = cancelled_ids[t]
        marks = ",".join("?" * len(ids))
        rows = db.execute(
            f"SELECT * FROM usage_ledger WHERE request_id IN ({marks})", ids
        ).fetchall() if ids else []
        assert len(rows) == len(ids), f"{t}: cancelled requests missing from the ledger"
        for row in rows:
            assert row["finish_reason"] == "cancelled"
            assert 1 <= row["completion_tokens"] < 200
        got = {k: after[t][k] - before.get(t, {}).get(k, 0) for k in
               ("prompt_tokens", "completion_tokens", "cached_prompt_tokens", "requests")}
        cancelled = {
            "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
            "completion_tokens": sum(r["completion_tokens"] for r in rows),
            "cached_prompt_tokens": sum(r["cached_prompt_tokens"] for r in rows),
        }
        assert got["prompt_tokens"] - cancelled["prompt_tokens"] == expected[t]["prompt"], t
        assert got["completion_tokens"] - cancelled["completion_tokens"] == expected[t]["completion"], t
        assert got["cached_prompt_tokens"] - cancelled["cached_prompt_tokens"] == expected[t]["cached"], t
        assert got["requests"] - len(rows) == expected[t]["requests"], t
    dup = db.execute(
        "SELECT COUNT(*) FROM (SELECT request_id, part FROM usage_ledger GROUP BY 1, 2 HAVING COUNT(*) > 1)"
    ).fetchone()[0]
    assert dup == 0


# --- budgets --------------------------------------------------------------------------------


def test_concurrent_requests_cannot_overshoot_a_budget(metered):
    server, d, _, admin = metered
    # Each request reserves prompt + 16 completion tokens at list price, about $0.00007; the
    # budget fits about 8 such reservations.
    budget = 0.0006
    secret, key_id = d.create_key("frugal", "--budget-usd", budget, "--budget-period", "total")
    time.sleep(1.2)  # let the server notice (keys are re-read at most once a second)

    def ask(i):
        status, _, parsed, _ = helpers.post_json(
            server.url,
            "/v1/completions",
            {"model": MODEL, "prompt": f"Count to {i}:", "max_tokens": 16, "ignore_eos": True},
            headers=bearer(secret),
        )
        return status, parsed

    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        results = list(pool.map(ask, range(100)))
    ok = [p for s, p in results if s == 200]
    refused = [p for s, p in results if s == 429]
    assert len(ok) + len(refused) == 100, [s for s, _ in results]
    assert ok and refused
    assert all(p["error"]["code"] == "insufficient_quota" for p in refused)
    p = PRICES["models"][MODEL]
    one_reservation = (10 * p["input_usd_per_mtok"] + 16 * p["output_usd_per_mtok"]) / 1e6
    db = d.ledger()
    spent = db.execute("SELECT COALESCE(SUM(charge_usd), 0) FROM usage_ledger WHERE key_id = ?", (key_id,)).fetchone()[0]
    assert spent <= budget + one_reservation
    # No lost updates: the ledger charged exactly what the clients were told they used.
    from types import SimpleNamespace

    billed = 0.0
    for body in ok:
        u = body["usage"]
        billed += charge(
            SimpleNamespace(
                prompt_tokens=u["prompt_tokens"],
                completion_tokens=u["completion_tokens"],
                prompt_tokens_details=SimpleNamespace(cached_tokens=u["prompt_tokens_details"]["cached_tokens"]),
            )
        )
    assert spent == pytest.approx(billed, rel=1e-9, abs=1e-12)


# --- fair share -----------------------------------------------------------------------------


def ttft(url, key, prompt, max_tokens=8):
    client = openai_client(url, key)
    t0 = time.monotonic()
    stream = client.completions.create(
        model=MODEL, prompt=prompt, max_tokens=max_tokens, stream=True, extra_body={"ignore_eos": True}
    )
    first = None
    for c in stream:
        if first is None and c.choices and c.choices[0].text:
            first = time.monotonic() - t0
    return first


def p99(xs):
    return sorted(xs)[max(0, int(round(0.99 * len(xs))) - 1)]


@pytest.mark.slow
def test_a_flooding_tenant_does_not_starve_another(start_server):
    d = DataDir()
    flood, _ = d.create_key("flood")
    quiet, _ = d.create_key("quiet")
    server = start_server("--data-dir", d.path, name="fair")
    prompt = "Tell me a story about the sea and the stars, " * 2
    rate_b = 2.0  # B's requests per second; A sends ten times as many

    def paced_b(n):
        out = []
        for _ in range(n):
            t0 = time.monotonic()
            out.append(ttft(server.url, quiet, prompt))
            time.sleep(max(0.0, 1 / rate_b - (time.monotonic() - t0)))
        return out

    def measure():
        ttft(server.url, quiet, prompt)  # warm-up
        alone = paced_b(20)
        stop = threading.Event()

        def flood_one():
            helpers.post_json(
                server.url,
                "/v1/completions",
                {"model": MODEL, "prompt": prompt, "max_tokens": 8, "ignore_eos": True},
                headers=bearer(flood),
                timeout=120,
            )

        pool = concurrent.futures.ThreadPoolExecutor(64)
        futures = []

        def flooder():
            next_t = time.monotonic()
            while not stop.is_set():
                futures.append(pool.submit(flood_one))
                next_t += 1 / (10 * rate_b)
                time.sleep(max(0.0, next_t - time.monotonic()))

        t = threading.Thread(target=flooder)
        t.start()
        time.sleep(2)
        contended = paced_b(20)
        stop.set()
        t.join()
        for f in futures:
            f.result()
        pool.shutdown()
        print(f"B TTFT alone p50 {statistics.median(alone):.3f} p99 {p99(alone):.3f}; "
              f"with A flooding p50 {statistics.median(contended):.3f} p99 {p99(contended):.3f}")
        return alone, contended

    # The bar: B's p99 TTFT under A's flood within 2x of B alone. Measured on this
    # 2-core machine kind, quiet: 1.34-1.54x (and 0.89x) in four runs. p99 of 20 samples is a
    # maximum, and one scheduling hiccup of the shared machine can exceed the bar, so CI measures
    # again (at most three times in all) before failing; a broken fair share fails every time
    # (B then queues behind A's backlog: seconds, not tens of ms).
    # TOKENMILL_STRICT_FAIRNESS=1 allows one measurement only.
    attempts = 1 if os.environ.get("TOKENMILL_STRICT_FAIRNESS") == "1" else 3
    for attempt in range(attempts):
        alone, contended = measure()
        if p99(contended) <= 2 * p99(alone):
            break
    assert p99(contended) <= 2 * p99(alone), (alone, contended)


@pytest.mark.slow
def test_backlogged_tenants_share_by_weight(start_server):
    d = DataDir()
    heavy, _ = d.create_key("heavy", "--weight", 3)
    light, _ = d.create_key("light", "--weight", 1)
    admin, _ = d.create_key("ops", "--admin")
    server = start_server("--data-dir", d.path, "--parallel", "4", name="weights")
    stop = threading.Event()
    served = {"heavy": 0, "light": 0}
    lock = threading.Lock()

    def worker(name, key):
        client = openai_client(server.url, key)
        while not stop.is_set():
            r = client.completions.create(
                model=MODEL, prompt="Once upon a time", max_tokens=16, extra_body={"ignore_eos": True}
            )
            with lock:
                served[name] += r.usage.completion_tokens + r.usage.prompt_tokens

    threads = [threading.Thread(target=worker, args=("heavy", heavy)) for _ in range(8)]
    threads += [threading.Thread(target=worker, args=("light", light)) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(3)  # warm up: both backlogged
    with lock:
        start = dict(served)
    time.sleep(12)
    with lock:
        end = dict(served)
    stop.set()
    for t in threads:
        t.join()
    h = end["heavy"] - start["heavy"]
    l = end["light"] - start["light"]
    share = h / (h + l)
    assert share == pytest.approx(0.75, abs=0.075), (h, l)


# --- durability -----------------------------------------------------------------------------


@pytest.mark.slow
def test_every_answered_request_survives_kill_9(start_server):
    d = DataDir()
    key, _ = d.create_key("durable")
    port = helpers.free_port()
    rng = random.Random(7)
    answered = []
    lock = threading.Lock()
    for round_ in range(3):
        server = start_server("--data-dir", d.path, name=f"durable-{round_}", port=port)
        stop = threading.Event()

        def worker(seed):
            r = random.Random(seed)
            while not stop.is_set():
                body = {"model": MODEL, "prompt": "Hello " * r.randint(1, 8), "max_tokens": r.randint(1, 6)}
                try:
                    status, _, parsed, _ = helpers.post_json(
                        server.url, "/v1/completions", body, headers=bearer(key), timeout=10
                    )
                except OSError:
                    return
                if status == 200:
                    with lock:
                        answered.append(parsed["id"])

        threads = [threading.Thread(target=worker, args=(rng.random(),)) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(1.0, 4.0))
        server.kill()  # SIGKILL: no shutdown path runs
        stop.set()
        for t in threads:
            t.join()
    assert len(answered) > 20
    db = d.ledger()
    ids = {row[0] for row in db.execute("SELECT request_id FROM usage_ledger")}
    missing = [i for i in answered if i not in ids]
    assert not missing, f"{len(missing)} answered requests are not in the ledger"
    total, distinct = db.execute(
        "SELECT COUNT(*), COUNT(DISTINCT request_id || ':' || part) FROM usage_ledger"
    ).fetchone()
    assert total == distinct
