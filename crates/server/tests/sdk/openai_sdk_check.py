"""Drives a running Kobo gateway with the official OpenAI Python SDK.

Reads KOBO_SDK_BASE_URL (e.g. http://127.0.0.1:8080/v1) and KOBO_SDK_API_KEY, runs every
check against the built-in `mock-echo` model, and the chat checks also against each model
named in KOBO_SDK_UPSTREAM_MODELS (comma-separated; models that echo the last user
message). Prints one JSON object: for each check `{"ok": bool, ...what was observed}`,
plus `"error"` when it failed. Exits 1 when a check failed (naming them on stderr), 2
when it cannot start.

Besides the SDK's own parsing (which is lenient: a missing field only shows when read),
every answer is validated strictly against the SDK's pydantic types, so a field the
SDK declares required but Kobo leaves out fails here.
"""

import json
import os
import sys
import traceback

try:
    import openai
    from openai import OpenAI
except ImportError as e:  # the venv is not set up
    print(f"openai_sdk_check: cannot import the openai package: {e}", file=sys.stderr)
    sys.exit(2)

MODEL = "mock-echo"


class CheckFailed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckFailed(what)


def strict(obj):
    """Re-validates an SDK object from only the fields the server sent."""
    type(obj).model_validate(obj.model_dump(exclude_unset=True))


def usage_of(u):
    if u is None:
        return None
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": getattr(u, "completion_tokens", None),
        "total_tokens": u.total_tokens,
    }


def expect_usage(u, completion=True):
    expect(u is not None, "usage is present")
    expect(u.prompt_tokens > 0, f"prompt_tokens > 0 (got {u.prompt_tokens})")
    if completion:
        expect(u.completion_tokens > 0, f"completion_tokens > 0 (got {u.completion_tokens})")
        expect(
            u.total_tokens == u.prompt_tokens + u.completion_tokens,
            "total_tokens = prompt_tokens + completion_tokens",
        )
    else:
        expect(u.total_tokens == u.prompt_tokens, "total_tokens = prompt_tokens")


def check_models(client, out):
    page = client.models.list()
    models = list(page)
    for m in models:
        strict(m)
    out["ids"] = [m.id for m in models]
    expect(MODEL in out["ids"], f"{MODEL} is listed")
    expect(all(m.object == "model" for m in models), 'every entry has object "model"')


def check_chat(client, out, model=MODEL):
    text = "Hello from Lagos, via the OpenAI SDK"
    r = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}]
    )
    strict(r)
    out["content"] = r.choices[0].message.content
    out["finish_reason"] = r.choices[0].finish_reason
    out["model"] = r.model
    out["usage"] = usage_of(r.usage)
    expect(r.object == "chat.completion", f"object is chat.completion (got {r.object!r})")
    expect(out["content"] == text, "the content echoes the message")
    expect(r.choices[0].message.role == "assistant", "the role is assistant")
    expect(out["finish_reason"] == "stop", "finish_reason is stop")
    expect(r.model == model, "the model is the one asked for")
    expect_usage(r.usage)


def check_chat_stream(client, out, model=MODEL):
    text = "one two  three, streamed"
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    for c in chunks:
        strict(c)
    out["chunks"] = len(chunks)
    expect(len(chunks) >= 2, f"several chunks arrive (got {len(chunks)})")
    assembled = "".join(
        c.choices[0].delta.content or "" for c in chunks if c.choices
    )
    out["text"] = assembled
    last = chunks[-1]
    out["last_usage"] = usage_of(last.usage)
    out["finish_reasons"] = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    expect(all(c.object == "chat.completion.chunk" for c in chunks), "every chunk is a chat.completion.chunk")
    expect(all(c.model == model for c in chunks), "every chunk names the model asked for")
    expect(assembled == text, "the deltas assemble to the echo")
    expect(last.choices == [], "the usage chunk has no choices")
    expect_usage(last.usage)
    expect(all(c.usage is None for c in chunks[:-1]), "only the last chunk carries usage")
    expect(out["finish_reasons"] == ["stop"], "one choice finishes, with stop")


def check_chat_stream_without_usage(client, out):
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "no usage please"}], stream=True
    )
    chunks = list(stream)
    out["chunks"] = len(chunks)
    out["text"] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    expect(out["text"] == "no usage please", "the deltas assemble to the echo")
    expect(all(c.usage is None for c in chunks), "no chunk carries usage when not asked for")


def check_completions(client, out):
    prompt = "Say this is a test"
    r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=16)
    strict(r)
    out["text"] = r.choices[0].text
    out["usage"] = usage_of(r.usage)
    expect(r.object == "text_completion", f"object is text_completion (got {r.object!r})")
    expect(out["text"] == prompt, "the text echoes the prompt")
    expect(r.model == MODEL, "the model is the one asked for")
    expect_usage(r.usage)


def check_embeddings(client, out):
    inputs = ["first input", "second input"]
    # The SDK asks for base64 unless told otherwise and accepts floats back; ask both ways.
    default = client.embeddings.create(model=MODEL, input=inputs)
    floats = client.embeddings.create(model=MODEL, input=inputs, encoding_format="float")
    for r in (default, floats):
        strict(r)
    out["count"] = len(default.data)
    out["dimensions"] = [len(d.embedding) for d in default.data]
    out["usage"] = usage_of(default.usage)
    expect(out["count"] == 2, "one embedding per input")
    expect([d.index for d in default.data] == [0, 1], "indexes follow the inputs")
    expect(all(n > 0 for n in out["dimensions"]), "vectors are not empty")
    expect(
        all(isinstance(x, float) for d in default.data for x in d.embedding),
        "vectors are lists of floats",
    )
    expect(default.data[0].embedding != default.data[1].embedding, "inputs give different vectors")
    same = all(
        abs(a - b) < 1e-6
        for da, db in zip(default.data, floats.data)
        for a, b in zip(da.embedding, db.embedding)
    )
    expect(same, "the default and float encodings give the same vectors")
    expect_usage(default.usage, completion=False)


def check_bad_key(client, base_url, out):
    bad = OpenAI(base_url=base_url, api_key="kobo_sk_not_a_real_key", max_retries=0)
    try:
        bad.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    except openai.AuthenticationError as e:
        out["status"] = e.status_code
        out["code"] = e.code
        expect(e.status_code == 401, "status is 401")
        return
    raise CheckFailed("a bad key was accepted")


def check_unknown_model(client, out):
    try:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    except openai.NotFoundError as e:
        out["status"] = e.status_code
        out["code"] = e.code
        expect(e.status_code == 404, "status is 404")
        return
    raise CheckFailed("an unknown model was served")


def main():
    base_url = os.environ.get("KOBO_SDK_BASE_URL")
    api_key = os.environ.get("KOBO_SDK_API_KEY")
    if not base_url or not api_key:
        print("openai_sdk_check: set KOBO_SDK_BASE_URL and KOBO_SDK_API_KEY", file=sys.stderr)
        sys.exit(2)
    # No retries: a failure shows as the first answer, not after the SDK's backoff.
    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=30)
    checks = {
        "models": lambda out: check_models(client, out),
        "chat": lambda out: check_chat(client, out),
        "chat_stream": lambda out: check_chat_stream(client, out),
        "chat_stream_without_usage": lambda out: check_chat_stream_without_usage(client, out),
        "completions": lambda out: check_completions(client, out),
        "embeddings": lambda out: check_embeddings(client, out),
        "bad_key": lambda out: check_bad_key(client, base_url, out),
        "unknown_model": lambda out: check_unknown_model(client, out),
    }
    # Models served through real upstream adapters (OpenAI-compatible, Anthropic
    # translated): the chat checks again, over each.
    for model in filter(None, os.environ.get("KOBO_SDK_UPSTREAM_MODELS", "").split(",")):
        checks[f"chat@{model}"] = lambda out, m=model: check_chat(client, out, m)
        checks[f"chat_stream@{model}"] = lambda out, m=model: check_chat_stream(client, out, m)
    results = {"openai_version": openai.__version__}
    failed = []
    for name, run in checks.items():
        out = {}
        try:
            run(out)
            out["ok"] = True
        except CheckFailed as e:
            out["ok"] = False
            out["error"] = f"expected {e}"
        except Exception as e:  # an SDK error or a parse failure: report it, go on
            out["ok"] = False
            out["error"] = f"{type(e).__name__}: {e}"
            out["traceback"] = traceback.format_exc()
        if not out["ok"]:
            failed.append(f"{name}: {out['error']}")
        results[name] = out
    print(json.dumps(results))
    if failed:
        print("openai_sdk_check: failed checks:\n  " + "\n  ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
