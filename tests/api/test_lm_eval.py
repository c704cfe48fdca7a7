"""lm-evaluation-harness against the running server: its `local-completions` model (the
loglikelihood path: echo + logprobs, token-id prompts) on 50 examples of a local 4-way
multiple-choice task (lm_eval_task/), with no network besides localhost.

local-completions needs a tokenizer to split context from continuation. Its Hugging Face and
tiktoken backends would download one, so the LM gets a small tokenizer that runs
`tokenmill tokenize` (the server's own tokenizer, so the split matches the server's tokens);
requests still go over HTTP exactly as local-completions sends them."""

import json
import os
import subprocess

import pytest

import conftest

TASK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lm_eval_task")
LIMIT = 50


class CliTokenizer:
    """The few members lm-eval's "remote" tokenizer path uses, backed by the tokenmill CLI."""

    def __init__(self, binary, model):
        self.binary = binary
        self.model = model
        self.cache = {}
        self.eos_token_id = None
        self.bos_token_id = None
        self.eos_token = None

    def encode(self, text):
        if text not in self.cache:
            out = subprocess.run([self.binary, "tokenize", "-m", self.model, "--ids"], input=text,
                                 capture_output=True, text=True, check=True)
            self.cache[text] = json.loads(out.stdout)
        return list(self.cache[text])

    def decode(self, ids):
        out = subprocess.run([self.binary, "detokenize", "-m", self.model], input=json.dumps(ids),
                             capture_output=True, text=True, check=True)
        return out.stdout

    def batch_decode(self, batch):
        return [self.decode(ids) for ids in batch]


@pytest.mark.slow
def test_lm_eval_local_completions(server, base_url, model, monkeypatch):
    if conftest.EXTERNAL_URL:
        pytest.skip("uses the tokenmill CLI tokenizer; needs a tokenmill server")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(conftest.REPO)  # the task's data path is relative to the repository
    import lm_eval
    from lm_eval.models.openai_completions import LocalCompletionsAPI
    from lm_eval.tasks import TaskManager

    lm = LocalCompletionsAPI(base_url=base_url + "/v1/completions", model=model,
                             tokenizer_backend=None, num_concurrent=4, max_retries=1,
                             max_length=2048, timeout=300)
    # Swap in the CLI tokenizer through the "remote" path, which only calls encode/batch_decode,
    # and send token ids (tokenized_requests), as local-completions does with a tokenizer.
    lm.tokenizer = CliTokenizer(conftest.BIN, conftest.MODEL)
    lm.tokenizer_backend = "remote"
    lm.tokenized_requests = True

    results = lm_eval.simple_evaluate(
        model=lm, tasks=["tokenmill_mc"], task_manager=TaskManager(include_path=TASK_DIR),
        limit=LIMIT, num_fewshot=0, log_samples=False, bootstrap_iters=0,
    )
    res = results["results"]["tokenmill_mc"]
    acc = res["acc,none"]
    print(f"lm-eval tokenmill_mc acc={acc:.3f} on {LIMIT} examples")
    with open(os.path.join(conftest.REPO, "build-logs", "lm-eval-score.txt") if os.path.isdir(
            os.path.join(conftest.REPO, "build-logs")) else os.devnull, "w") as f:
        f.write(f"tokenmill_mc acc={acc:.4f} limit={LIMIT}\n")
    assert results["n-samples"]["tokenmill_mc"]["effective"] == LIMIT
    # 4 choices: chance is 0.25. A 135M model knows most capitals and small sums; well below
    # chance means the logprobs are wrong (e.g. misaligned with the tokens), not a weak model.
    assert 0.3 <= acc <= 1.0, res
