"""StreamGuard in a real proxy: typed terminal error events instead of a dead or
stalled upstream reaching the client, and a byte-identical stream when its
model list is empty (the default)."""

import json
import re
import time

import httpx
import openai
import pytest

from tests.callbacks.test_early_chunk import events as stream_events


def frames(body: bytes) -> list[str]:
    return [frame for frame in body.decode().split("\n\n") if frame]


def error_of(frame: str) -> dict:
    return json.loads(frame.removeprefix("data: "))["error"]


def test_upstream_death_mid_stream_becomes_one_typed_error_event(tuned_proxy):
    body = tuned_proxy.stream_bytes("guarded-dies")  # read to a clean end: no cut connection

    sent = frames(body)
    assert [json.loads(f.removeprefix("data: "))["choices"][0]["delta"].get("content") for f in sent[:2]] == ["ok", " 1"]
    assert len(sent) == 3
    error = error_of(sent[2])
    assert error["type"] == "upstream_stream_error"
    assert error["code"] == "502"
    assert error["message"].startswith("upstream stream failed after 2 chunks: APIConnectionError")


def test_without_stream_guard_litellm_sends_an_untyped_500(tuned_proxy):
    """The baseline StreamGuard improves on (pinned so a LiteLLM change shows up here)."""
    sent = frames(tuned_proxy.stream_bytes("dies"))

    assert error_of(sent[-1])["type"] is None
    assert error_of(sent[-1])["code"] == "500"


def test_guarded_death_is_logged_as_a_failure(tuned_proxy):
    payload = {"model": "guarded-dies", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream("POST", tuned_proxy.proxy.url + "/v1/chat/completions", headers=tuned_proxy.headers, json=payload, timeout=30) as response:
        response.read()

    logged = tuned_proxy.logged(response.headers["x-litellm-call-id"])
    assert logged["ok"] is False


def test_idle_gap_ends_a_stalled_stream(tuned_proxy):
    started = time.perf_counter()
    sent = frames(tuned_proxy.stream_bytes("guarded-stall"))  # the upstream waits 3 s between chunks
    elapsed = time.perf_counter() - started

    assert elapsed < 2.0, f"{elapsed:.2f}s"
    assert len(sent) == 2
    assert error_of(sent[1]) == {
        "message": "upstream sent nothing for 0.5s after 1 chunk; stream closed by StreamGuard",
        "type": "stream_idle_timeout", "param": None, "code": "504",
    }


def test_early_chunk_does_not_start_the_idle_clock(tuned_proxy):
    """guarded-slow-cloud: EarlyChunk's role chunk, then 1 s to the first token, idle gap 0.5 s."""
    sent = stream_events(tuned_proxy.stream_bytes("guarded-slow-cloud"))

    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in sent) == "ok 1 2"
    assert sent[-1]["choices"][0]["finish_reason"] == "stop"


def normalised(body: bytes) -> bytes:
    # `created` is the upstream's clock at send time; everything else is fixed by the fake upstream.
    return re.sub(rb'"created": ?\d+', b'"created": 0', body)


def test_empty_default_list_is_byte_identical(default_proxy, no_stream_guard_proxy):
    for model in ("plain", "dies"):
        with_guard = default_proxy.stream_bytes(model)
        without_guard = no_stream_guard_proxy.stream_bytes(model)

        assert normalised(with_guard) == normalised(without_guard), model


def test_openai_client_raises_the_typed_error(tuned_proxy):
    client = openai.OpenAI(base_url=tuned_proxy.proxy.url + "/v1", api_key=tuned_proxy.proxy.master_key, max_retries=0)
    stream = client.chat.completions.create(model="guarded-dies", messages=[{"role": "user", "content": "hi"}], stream=True)

    with pytest.raises(openai.APIError) as raised:
        list(stream)
    assert raised.value.message.startswith("upstream stream failed after 2 chunks")
    assert raised.value.type == "upstream_stream_error"
