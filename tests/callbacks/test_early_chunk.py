"""EarlyChunk: the upstream sends its headers at once and holds its first token
for 2 s (`first_token_delay`); the client's time to first byte is measured."""

import json
import time

import httpx
import openai


def time_to_first_byte(handle, model: str) -> tuple[float, bytes]:
    payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    started = time.perf_counter()
    with httpx.stream("POST", handle.proxy.url + "/v1/chat/completions", headers=handle.headers, json=payload, timeout=30) as response:
        raw = response.iter_raw()
        body = next(raw)
        elapsed = time.perf_counter() - started
        return elapsed, body + b"".join(raw)


def events(body: bytes) -> list:
    frames = [frame for frame in body.decode().split("\n\n") if frame]
    assert frames[-1] == "data: [DONE]"
    return [json.loads(frame.removeprefix("data: ")) for frame in frames[:-1]]


def test_first_byte_arrives_before_the_first_token(tuned_proxy):
    with_early, early_body = time_to_first_byte(tuned_proxy, "slow-cloud")
    without, plain_body = time_to_first_byte(tuned_proxy, "slow-plain")

    assert with_early < 0.3, f"{with_early:.3f}s with EarlyChunk"
    assert without > 1.9, f"{without:.3f}s without"
    early, plain = events(early_body), events(plain_body)
    assert early[0]["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""}}]
    # After the role-only chunk, the upstream's chunks follow unchanged.
    assert [e["choices"] for e in early[1:]] == [p["choices"] for p in plain]


def test_openai_client_accepts_the_early_chunk(tuned_proxy):
    client = openai.OpenAI(base_url=tuned_proxy.proxy.url + "/v1", api_key=tuned_proxy.proxy.master_key)

    stream = client.chat.completions.create(model="slow-cloud", messages=[{"role": "user", "content": "hi"}], stream=True)
    chunks = list(stream)

    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "ok 1 2"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_models_not_configured_stream_unchanged(tuned_proxy, default_proxy):
    """Default settings (EarlyChunk on no model) and other models get no extra chunk."""
    assert not any(e["choices"][0]["delta"] == {"role": "assistant", "content": ""}
                   for e in events(default_proxy.stream_bytes("slow-cloud")))
    assert events(tuned_proxy.stream_bytes("plain"))[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hello"}


def test_a_failure_before_the_first_token_still_falls_back(tuned_proxy):
    """The role chunk carries no content, so LiteLLM's mid-stream fallback still
    moves the request to the fallback group (here: early-dies -> plain)."""
    sent = events(tuned_proxy.stream_bytes("early-dies"))

    assert sent[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in sent) == "Hello 1 2 3 4 5"
    assert sent[-1]["choices"][0]["finish_reason"] == "stop"
