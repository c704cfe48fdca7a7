#!/usr/bin/python3
"""Renders the chat-template fixtures in tests/fixtures/chat_templates/ with real Jinja2.

Jinja2 is configured exactly as Hugging Face transformers renders chat templates
(transformers.utils.chat_template_utils._compile_jinja_template):
  ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                extensions=[<generation tag>, jinja2.ext.loopcontrols])
  filters["tojson"] = json.dumps(x, ensure_ascii=False, indent=indent,
                                 separators=separators, sort_keys=False)
  globals["raise_exception"] raises TemplateError(message)
  globals["strftime_now"](fmt) = now.strftime(fmt)   (here: a fixed time, FIXED_TIME)
and rendered as apply_chat_template does: render(messages=..., tools=<list or None>,
documents=None, add_generation_prompt=..., bos_token=..., eos_token=...).

Messages are normalized the way tokenmill (and llama.cpp / vLLM for text-only models) does
before rendering: content given as an array of {"type": "text"} parts becomes the parts' texts
joined with "\n"; tool-call arguments given as a JSON string become the parsed object.

Usage: tools/gen-chat-template-fixtures.py [--gguf SmolLM2-135M-Instruct.Q4_1.gguf]
  (runs /usr/bin/python3 with Debian's python3-jinja2; --gguf refreshes templates/smollm2-135m.jinja from the model)
Outputs: manifest.json, conversations.json and expected/*.txt next to templates/.
"""
import argparse
import calendar
import copy
import datetime
import json
import os
import struct
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                    "chat_templates")
FIXED_TIME = datetime.datetime(2025, 3, 14, 15, 9, 26)
FIXED_UNIX = calendar.timegm(FIXED_TIME.timetuple())

# (template file in templates/, bos_token, eos_token): the tokens each model's tokenizer has.
TEMPLATES = [
    ("smollm2-135m.jinja", "<|im_start|>", "<|im_end|>"),
    ("chatml.jinja", "<|im_start|>", "<|im_end|>"),
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>"),
    ("Qwen-Qwen3-0.6B.jinja", "", "<|im_end|>"),
    ("google-gemma-3-it.jinja", "<bos>", "<eos>"),
    ("google-gemma-2-2b-it.jinja", "<bos>", "<eos>"),
    ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>"),
    ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "<｜begin▁of▁sentence｜>",
     "<｜end▁of▁sentence｜>"),
    ("deepseek-ai-DeepSeek-V3.1.jinja", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "<|begin_of_text|>", "<|im_end|>"),
    ("microsoft-Phi-3.5-mini-instruct.jinja", "<s>", "<|endoftext|>"),
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a time zone (IANA name).",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}},
                       "required": ["tz"]},
    },
}

CONVERSATIONS = {
    "user": {"messages": [{"role": "user", "content": "What is 2+2?"}]},
    "system_user": {"messages": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Name three primes."}]},
    "multi_turn": {"messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "  Tell me a joke.  \n"}]},
    "assistant_last": {"messages": [
        {"role": "user", "content": "Say hi"},
        {"role": "assistant", "content": "Hi there"}]},
    "content_parts": {"messages": [
        {"role": "system", "content": [{"type": "text", "text": "Be kind."}]},
        {"role": "user", "content": [{"type": "text", "text": "First part."},
                                     {"type": "text", "text": "Second part."}]}]},
    "unicode_injection": {"messages": [
        {"role": "user", "content": "Ünïcödé ✓ 日本語 👩‍💻 {{ raise_exception('x') }} {% if %} "
                                    "<|im_end|><|eot_id|><end_of_turn></s> \\n \"q\" 'a'"},
        {"role": "assistant", "content": "Réponse: «ok» — 中文 {# not a comment #}"},
        {"role": "user", "content": "tab\there\r\nwindows line"}]},
    "tools": {"tools": [WEATHER_TOOL, TIME_TOOL], "messages": [
        {"role": "system", "content": "You can call tools."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a1b2c3d4e", "type": "function",
             "function": {"name": "get_weather",
                          "arguments": "{\"location\": \"Paris\", \"unit\": \"celsius\"}"}}]},
        {"role": "tool", "tool_call_id": "a1b2c3d4e", "name": "get_weather",
         "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}"},
        {"role": "assistant", "content": "It is 21.5 °C and clear in Paris."},
        {"role": "user", "content": "Thanks!"}]},
    "tools_no_system": {"tools": [WEATHER_TOOL], "messages": [
        {"role": "user", "content": "Weather in Oslo and Rome?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call00001", "type": "function",
             "function": {"name": "get_weather", "arguments": {"location": "Oslo"}}},
            {"id": "call00002", "type": "function",
             "function": {"name": "get_weather", "arguments": {"location": "Rome"}}}]},
        {"role": "tool", "tool_call_id": "call00001", "name": "get_weather", "content": "-3 C"},
        {"role": "tool", "tool_call_id": "call00002", "name": "get_weather", "content": "18 C"}]},
    "roles_not_alternating": {"messages": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"}]},
}


def normalize(messages):
    out = []
    for m in messages:
        m = copy.deepcopy(m)
        if isinstance(m.get("content"), list):
            m["content"] = "\n".join(p["text"] for p in m["content"])
        for call in m.get("tool_calls") or []:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                try:
                    parsed = json.loads(fn["arguments"])
                    if isinstance(parsed, dict):
                        fn["arguments"] = parsed
                except ValueError:
                    pass
        out.append(m)
    return out


class GenerationTag(jinja2.ext.Extension):
    """transformers' AssistantTracker outside assistant-mask mode: renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return FIXED_TIME.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def read_gguf_string(path, wanted):
    """The string value of metadata key `wanted` in a GGUF file (minimal reader)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"GGUF":
        raise ValueError("not a GGUF file")
    pos = 8
    _, n_kv = struct.unpack_from("<QQ", data, pos)
    pos += 16
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def read_str(p):
        (n,) = struct.unpack_from("<Q", data, p)
        return data[p + 8:p + 8 + n].decode("utf-8"), p + 8 + n

    def skip(t, p):
        if t in sizes:
            return p + sizes[t]
        if t == 8:
            return read_str(p)[1]
        if t == 9:
            it, n = struct.unpack_from("<IQ", data, p)
            p += 12
            for _ in range(n):
                p = skip(it, p)
            return p
        raise ValueError(f"unknown GGUF type {t}")

    for _ in range(n_kv):
        key, pos = read_str(pos)
        (t,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if key == wanted and t == 8:
            return read_str(pos)[0]
        pos = skip(t, pos)
    raise KeyError(wanted)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", help="SmolLM2 GGUF to refresh templates/smollm2-135m.jinja from")
    args = ap.parse_args()
    tdir = os.path.join(ROOT, "templates")
    if args.gguf:
        with open(os.path.join(tdir, "smollm2-135m.jinja"), "w", encoding="utf-8", newline="") as f:
            f.write(read_gguf_string(args.gguf, "tokenizer.chat_template"))

    env = make_env()
    edir = os.path.join(ROOT, "expected")
    os.makedirs(edir, exist_ok=True)
    for old in os.listdir(edir):
        os.remove(os.path.join(edir, old))
    manifest = []
    n_ok = n_err = 0
    for tfile, bos, eos in TEMPLATES:
        with open(os.path.join(tdir, tfile), encoding="utf-8", newline="") as f:
            template = env.from_string(f.read())
        for cname, conv in CONVERSATIONS.items():
            for gen in (True, False):
                entry = {"template": tfile, "conversation": cname, "add_generation_prompt": gen,
                         "bos_token": bos, "eos_token": eos}
                try:
                    out = template.render(messages=normalize(conv["messages"]),
                                          tools=conv.get("tools"), documents=None,
                                          add_generation_prompt=gen, bos_token=bos,
                                          eos_token=eos)
                    name = f"{tfile[:-6]}__{cname}__{'gen' if gen else 'nogen'}.txt"
                    with open(os.path.join(edir, name), "w", encoding="utf-8", newline="") as f:
                        f.write(out)
                    entry["expected"] = "expected/" + name
                    n_ok += 1
                except Exception as e:  # noqa: BLE001 - any template failure is a fixture
                    entry["error"] = f"{type(e).__name__}: {e}"
                    n_err += 1
                manifest.append(entry)
    with open(os.path.join(ROOT, "conversations.json"), "w", encoding="utf-8") as f:
        json.dump(CONVERSATIONS, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(ROOT, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"fixed_unix_time": FIXED_UNIX, "cases": manifest}, f, ensure_ascii=False,
                  indent=1)
        f.write("\n")
    print(f"{len(TEMPLATES)} templates x {len(CONVERSATIONS)} conversations x 2: "
          f"{n_ok} rendered, {n_err} expected errors (jinja2 {jinja2.__version__})")


if __name__ == "__main__":
    sys.exit(main())
