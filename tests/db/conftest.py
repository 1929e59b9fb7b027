"""Deployments seeded into a fresh LiteLLM-schema database, through LiteLLM's own encryption."""

from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg
import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from tests.support.litellm_db import raw_rows, seed_deployments

# label -> (model_name, plaintext litellm_params); labels let tests name rows.
DEPLOYMENTS = {
    "chat-a": ("chat-default", {"model": "openai/gpt-4o", "api_key": "sk-chat-a", "api_base": "https://a.example/v1",
                                "timeout": 10, "rpm": 100, "tags": ["core"]}),
    "chat-b": ("chat-default", {"model": "openai/gpt-4o", "api_key": "sk-chat-b", "api_base": "https://b.example/v1"}),
    "qwen-cloud": ("qwen3-coder-480b-cloud", {"model": "ollama_chat/qwen3-coder:480b-cloud", "api_key": "sk-qwen"}),
    "deepseek": ("deepseek-r1-cloud", {"model": "deepseek/deepseek-reasoner", "api_key": "sk-deep", "num_retries": 5}),
    "llamacpp": ("llamacpp-local", {"model": "openai/smollm2", "api_base": "http://127.0.0.1:8080/v1",
                                    "timeout": 30, "num_retries": 1}),
    # A string "30" is read by LiteLLM as ciphertext: it must become the number 30.
    "embeddings": ("local-embeddings", {"model": "openai/bge", "api_base": "http://127.0.0.1:8081/v1"}),
    "uncovered": ("gpt-4o-mini", {"model": "openai/gpt-4o-mini", "api_key": "sk-mini", "timeout": 15}),
}

# What the default policy must leave: label -> (timeout, num_retries); None: untouched.
EXPECTED = {
    "chat-a": (90, 2), "chat-b": (90, 2), "qwen-cloud": (90, 2), "deepseek": (90, 2),
    "llamacpp": (30, 1), "embeddings": (30, 1), "uncovered": None,
}


@dataclass
class Seeded:
    url: str
    ids: dict[str, str]  # label -> model_id
    before: dict  # raw_rows right after seeding

    def label_of(self, model_id: str) -> str:
        return next(label for label, i in self.ids.items() if i == model_id)


def seed(url: str) -> Seeded:
    labels = list(DEPLOYMENTS)
    rows = [{"model_id": f"id-{label}", "model_name": DEPLOYMENTS[label][0],
             "litellm_params": DEPLOYMENTS[label][1]} for label in labels]
    ids = dict(zip(labels, seed_deployments(url, rows)))
    with psycopg.connect(url) as connection:
        # The broken string value is written as LiteLLM would never write it: raw, unencrypted.
        connection.execute(
            """UPDATE "LiteLLM_ProxyModelTable" SET litellm_params = litellm_params || '{"timeout": "30"}'
               WHERE model_id = %s""",
            (ids["embeddings"],),
        )
    return Seeded(url, ids, raw_rows(url))


@pytest.fixture
def seeded(litellm_db) -> Seeded:
    return seed(litellm_db)


@pytest.fixture
def run():
    """Invoke opsctl in-process; returns the click Result (stdout and stderr apart)."""

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, list(args), input=input)

    return invoke


def stored_params(url: str) -> dict[str, dict]:
    """model_id -> litellm_params as stored (ciphertext and all)."""
    return {model_id: json.loads(row[0]) for model_id, row in raw_rows(url).items()}
