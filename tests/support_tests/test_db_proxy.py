"""The `db_proxy` fixture is a real LiteLLM proxy on a real database: keys it issues
are rows in Postgres, their limits are enforced, and models written into the
database are served after one reload interval."""

from __future__ import annotations

import hashlib
import secrets
import time
from pathlib import Path

import httpx

from tests.support.db_proxy import DB_RELOAD_SECONDS, FAKE_CHAT_MODEL
from tests.support.litellm_db import seed_deployments


def chat(db_proxy, key: str, model: str = FAKE_CHAT_MODEL) -> httpx.Response:
    request = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    return httpx.post(db_proxy.url + "/v1/chat/completions", headers=db_proxy.headers(key), json=request, timeout=60)


def generate_key(db_proxy, **body) -> str:
    answer = httpx.post(db_proxy.url + "/key/generate", headers=db_proxy.headers(), json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()["key"]


def test_readiness_reports_the_database_connected(db_proxy):
    answer = httpx.get(db_proxy.url + "/health/readiness", timeout=10)
    assert answer.status_code == 200
    assert answer.json()["db"] == "connected"


def child_command_lines(pid: int) -> list[list[str]]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                children.append((stat.parent / "cmdline").read_bytes().decode().split("\0")[:-1])
        except (OSError, IndexError, ValueError):
            continue  # a process that ended while we looked
    return children


def test_the_proxy_runs_the_chosen_query_engine_and_it_answers(db_proxy):
    [engine] = [command for command in child_command_lines(db_proxy.proxy.process.pid)
                if str(db_proxy.engine.path) in command]
    port = engine[engine.index("-p") + 1]  # prisma-client-py starts it as `ENGINE -p PORT ...`
    answer = httpx.get(f"http://127.0.0.1:{port}/status", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_generated_key_is_a_row_holding_its_sha256(db_proxy):
    alias = f"support-{secrets.token_hex(4)}"
    key = generate_key(db_proxy, key_alias=alias, rpm_limit=7, models=[FAKE_CHAT_MODEL], metadata={"owner": "tests"})
    assert key.startswith("sk-")
    with db_proxy.connect() as connection:
        row = connection.execute(
            'SELECT token, rpm_limit, models, jsonb_typeof(metadata), metadata '
            'FROM "LiteLLM_VerificationToken" WHERE key_alias = %s', (alias,)
        ).fetchall()
    # The plaintext key is never stored; Json columns hold objects, not JSON text in a string.
    assert row == [(hashlib.sha256(key.encode()).hexdigest(), 7, [FAKE_CHAT_MODEL], "object", {"owner": "tests"})]


def test_rpm_limit_of_a_key_is_enforced(db_proxy):
    key = generate_key(db_proxy, key_alias=f"rpm-{secrets.token_hex(4)}", rpm_limit=2)
    before = len(db_proxy.upstream.requests_for(FAKE_CHAT_MODEL))
    answers = [chat(db_proxy, key) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429], [a.text for a in answers]
    assert answers[0].json()["choices"][0]["message"]["content"] == "ok"  # the fake upstream's answer
    assert len(db_proxy.upstream.requests_for(FAKE_CHAT_MODEL)) - before == 2  # the third never left the proxy


def test_a_model_written_into_the_database_is_served_after_a_reload(db_proxy):
    name = f"db-chat-{secrets.token_hex(4)}"
    # Written as LiteLLM writes it: api_base and api_key encrypted with the proxy's salt key.
    params = {"model": "openai/db-chat", "api_base": db_proxy.upstream.url + "/v1", "api_key": "sk-fake-upstream"}
    [model_id] = seed_deployments(db_proxy.database_url, [{"model_name": name, "litellm_params": params}])
    started = time.monotonic()
    deadline = started + DB_RELOAD_SECONDS + 30
    while True:
        info = httpx.get(db_proxy.url + "/model/info", headers=db_proxy.headers(), timeout=30).json()
        if model_id in {m["model_info"]["id"] for m in info["data"]}:
            break
        assert time.monotonic() < deadline, f"{name} not served {deadline - started:.0f} s after it was written"
        time.sleep(0.25)
    served = next(m for m in info["data"] if m["model_info"]["id"] == model_id)
    assert served["model_name"] == name
    assert served["model_info"]["db_model"] is True
    # It answers through the decrypted api_base.
    answer = chat(db_proxy, db_proxy.master_key, model=name)
    assert answer.status_code == 200, answer.text
    assert db_proxy.upstream.requests_for("db-chat")
