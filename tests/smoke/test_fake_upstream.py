"""The fake upstream (tests/support/upstream.py) answers like a real
OpenAI-compatible server in the ways the probe and LiteLLM's /health depend
on, checked against llama.cpp's server with SmolLM2: the SSE framing and
chunk shape, the non-streamed answer, the error body, and what a client
sees when the server hangs (SIGSTOP) or dies mid-answer (SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.llamacpp import SERVER_MAIN, smollm2_gguf
from tests.support.proxy import free_port, stop_process
from tests.support.upstream import Behavior, run_upstream

CHAT = {"messages": [{"role": "user", "content": "Count from one to one hundred in words."}]}
# SmolLM2's end tokens banned: a long answer is certain to be under way when the server is killed (300 tokens: ~5 s).
LONG = {"max_tokens": 300, "logit_bias": {"0": -100, "1": -100, "2": -100}}


def start_real() -> tuple[subprocess.Popen, str]:
    """llama.cpp's server, as tests/support/llamacpp.py runs it, but a process this module may stop and kill."""
    port = free_port()
    log = open(Path(tempfile.mkdtemp(prefix="opsctl-llamacpp-")) / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-c", SERVER_MAIN, "--model", str(smollm2_gguf()), "--model_alias", "smollm2",
                                "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512", "--n_threads", "1"],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/models", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    stop_process(process)
    raise RuntimeError("llama.cpp server did not start")


@pytest.fixture
def real():
    process, url = start_real()
    yield process, url
    if process.poll() is None:
        os.kill(process.pid, signal.SIGCONT)
        stop_process(process)


@pytest.fixture(scope="module")
def fake():
    with run_upstream() as upstream:
        upstream.behave("dies", Behavior(chunks=5, die_after_chunks=1, cut_body=True))
        upstream.behave("hangs", Behavior(hang=True))
        upstream.behave("fails", Behavior(status=500))
        yield upstream


def stream_events(url: str, model: str) -> tuple[httpx.Headers, list[str]]:
    body = {**CHAT, "model": model, "max_tokens": 4, "stream": True}
    with httpx.stream("POST", url + "/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        return response.headers, [line for line in response.read().decode().split("\n") if line]


def test_a_streamed_answer_is_framed_alike(real, fake):
    for headers, lines in (stream_events(real[1], "smollm2"), stream_events(fake.url + "/v1", "chat")):
        assert headers["content-type"].startswith("text/event-stream")
        assert all(line.startswith("data: ") for line in lines), lines
        assert lines[-1] == "data: [DONE]"
        chunks = [json.loads(line[6:]) for line in lines[:-1]]
        assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
        assert any(c["choices"][0]["delta"].get("content") for c in chunks)
        assert chunks[-1]["choices"][0]["finish_reason"] is not None


def test_a_plain_answer_and_an_error_look_alike(real, fake):
    for url, model in ((real[1], "smollm2"), (fake.url + "/v1", "chat")):
        response = httpx.post(url + "/chat/completions", json={**CHAT, "model": model, "max_tokens": 4}, timeout=60)
        body = response.json()
        assert (response.status_code, body["object"]) == (200, "chat.completion")
        assert int(response.headers["content-length"]) == len(response.content)
        assert isinstance(body["choices"][0]["message"]["content"], str)
        assert set(body["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}
    # llama.cpp answers a malformed request with a 500; the fake's injected 500 has the same shape.
    real_error = httpx.post(real[1] + "/chat/completions", json={"model": "smollm2", "messages": "bad"}, timeout=60)
    fake_error = httpx.post(fake.url + "/v1/chat/completions", json={**CHAT, "model": "fails"}, timeout=60)
    for response in (real_error, fake_error):
        assert (response.status_code, response.headers["content-type"]) == (500, "application/json")
        assert isinstance(response.json()["error"]["message"], str) and "type" in response.json()["error"]


def test_a_hung_server_looks_alike(real, fake):
    process, url = real
    os.kill(process.pid, signal.SIGSTOP)  # the kernel still accepts the connection; nothing answers
    try:
        for base, model in ((url, "smollm2"), (fake.url + "/v1", "hangs")):
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(base + "/chat/completions", json={**CHAT, "model": model, "max_tokens": 4}, timeout=1.5)
    finally:
        os.kill(process.pid, signal.SIGCONT)


def test_a_server_dying_mid_stream_looks_alike(real, fake):
    process, url = real
    outcomes = []
    for base, model, kill in ((url, "smollm2", True), (fake.url + "/v1", "dies", False)):
        body = {**CHAT, **LONG, "model": model, "stream": True}
        with httpx.stream("POST", base + "/chat/completions", json=body, timeout=60) as response:
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("data: ")) != "data: [DONE]"
            if kill:
                process.kill()
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                for _line in lines:
                    pass
            outcomes.append(type(caught.value))
    assert outcomes == [httpx.RemoteProtocolError, httpx.RemoteProtocolError]


def test_a_server_dying_mid_answer_looks_alike(real, fake):
    """Not streamed: llama.cpp killed while it generates; the fake cut halfway through its body."""
    process, url = real
    for base, model, kill in ((url, "smollm2", True), (fake.url + "/v1", "dies", False)):
        with httpx.Client(timeout=60) as client:
            request = client.build_request("POST", base + "/chat/completions", json={**CHAT, **LONG, "model": model})
            killer = threading.Timer(1.0, process.kill)  # well inside the generation
            if kill:
                killer.start()
            try:
                with pytest.raises(httpx.RemoteProtocolError):
                    client.send(request)
            finally:
                killer.cancel()
