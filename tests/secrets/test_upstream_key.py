"""The fake upstream's key check answers like OpenAI: what LiteLLM's OpenAI client gets
from a wrong key is its own AuthenticationError, and the fake records the key it saw."""

from __future__ import annotations

import httpx
import pytest

from tests.support.upstream import Behavior, run_upstream


def test_a_wrong_or_missing_key_is_openais_401_and_the_right_one_is_served():
    with run_upstream() as upstream:
        upstream.behave("paid", Behavior(api_key="sk-right-key-1234"))
        body = {"model": "paid", "messages": [{"role": "user", "content": "hi"}]}
        url = upstream.url + "/v1/chat/completions"
        missing = httpx.post(url, json=body)
        wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer sk-wrong-key-9999"})
        right = httpx.post(url, json=body, headers={"Authorization": "Bearer sk-right-key-1234"})
        assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
        assert wrong.json()["error"]["code"] == "invalid_api_key"
        assert wrong.json()["error"]["message"].startswith("Incorrect API key provided: sk-...9999.")
        assert upstream.keys_seen("paid") == [None, "sk-wrong-key-9999", "sk-right-key-1234"]


def test_litellm_reads_the_fakes_401_as_an_authentication_error():
    import litellm

    with run_upstream() as upstream:
        upstream.behave("paid", Behavior(api_key="sk-right-key-1234"))
        messages = [{"role": "user", "content": "hi"}]
        with pytest.raises(litellm.AuthenticationError):
            litellm.completion(model="openai/paid", api_base=upstream.url + "/v1", api_key="sk-wrong", messages=messages,
                               num_retries=0)
        answer = litellm.completion(model="openai/paid", api_base=upstream.url + "/v1", api_key="sk-right-key-1234",
                                    messages=messages, num_retries=0)
        assert answer.choices[0].message.content == "ok"
