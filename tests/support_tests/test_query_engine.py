"""The query-engine stand-in (tests/support/prisma-engine/query-engine.mjs), spoken to
as prisma-client-py speaks to the native engine: GraphQL over HTTP, on LiteLLM's schema.

Each answer is checked against the rows Postgres holds, read with psycopg."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.db_proxy import ENGINE_HASH, STAND_IN_ENGINE, QueryEngine
from tests.support.litellm_db import create_database, drop_database, unique_name
from tests.support.proxy import free_port, stop_process


def litellm_schema() -> Path:
    import litellm.proxy

    return Path(litellm.proxy.__file__).parent / "schema.prisma"


@pytest.fixture(scope="module")
def engine(litellm_template, tmp_path_factory):
    """The stand-in on a clone of the migrated template, started as prisma-client-py starts it."""
    name = unique_name("prisma_engine")
    database_url = create_database(name, template=litellm_template)
    port = free_port()
    log = tmp_path_factory.mktemp("query-engine") / "engine.log"
    env = {
        **os.environ,
        **QueryEngine(STAND_IN_ENGINE).environment(),
        "PRISMA_DML_PATH": str(litellm_schema()),
        "DATABASE_URL": database_url,
    }
    with open(log, "wb") as out:
        process = subprocess.Popen([str(STAND_IN_ENGINE), "-p", str(port), "--enable-metrics", "--enable-raw-queries"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"the stand-in exited with {process.returncode}: {log.read_text()}"
            assert time.monotonic() < deadline, f"the stand-in did not answer in 30 s: {log.read_text()}"
            try:
                httpx.get(url + "/status", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, database_url
    finally:
        stop_process(process)
        drop_database(name)


def gql(url: str, query: str, transaction: str | None = None) -> dict:
    headers = {"X-transaction-id": transaction} if transaction else {}
    answer = httpx.post(url + "/", json={"query": query, "variables": {}}, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def literal(value: str) -> str:
    """A GraphQL string literal (its escapes are JSON's)."""
    return json.dumps(value)


def create_config(name: str, value: dict) -> str:
    # prisma-client-py sends a Json field as its JSON text
    return (f"mutation {{ result: createOneLiteLLM_Config(data: {{param_name: {literal(name)}, "
            f"param_value: {literal(json.dumps(value))}}}) {{ param_name param_value }} }}")


def stored_config(database_url: str, name: str):
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            'SELECT jsonb_typeof(param_value), param_value FROM "LiteLLM_Config" WHERE param_name = %s', (name,)
        ).fetchone()


def test_version_is_the_one_prisma_client_py_expects():
    result = subprocess.run([str(STAND_IN_ENGINE), "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout == f"query-engine {ENGINE_HASH}\n"


def test_status_answers_ok(engine):
    url, _ = engine
    answer = httpx.get(url + "/status", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_json_field_is_stored_as_json_not_as_a_string(engine):
    url, database_url = engine
    answer = gql(url, create_config("json-field", {"store_model_in_db": True, "n": 3}))
    # The answer comes back under the client's alias, the Json value as JSON text.
    assert json.loads(answer["data"]["result"]["param_value"]) == {"store_model_in_db": True, "n": 3}
    assert stored_config(database_url, "json-field") == ("object", {"store_model_in_db": True, "n": 3})


def test_json_filter_matches_the_stored_value(engine):
    url, _ = engine
    gql(url, create_config("json-filter", {"k": "v"}))
    query = (f'query {{ result: findManyLiteLLM_Config(where: {{param_value: {{equals: {literal(json.dumps({"k": "v"}))}}}}}) '
             "{ param_name } }")
    assert gql(url, query)["data"]["result"] == [{"param_name": "json-filter"}]


def test_catalog_columns_of_types_adapter_pg_lacks_come_back_as_text(engine):
    url, _ = engine
    # relname is `name`, relkind is "char": adapter-pg 5.17 alone refuses both.
    sql = 'SELECT relname, relkind, ARRAY[relname] AS names FROM pg_class WHERE relname = $1'
    query = f"mutation {{ result: queryRaw(query: {literal(sql)}, parameters: {literal(json.dumps(['LiteLLM_Config']))}) }}"
    result = gql(url, query)["data"]["result"]
    assert result["columns"] == ["relname", "relkind", "names"]
    assert result["types"] == ["string", "string", "string-array"]
    assert result["rows"] == [["LiteLLM_Config", "r", ["LiteLLM_Config"]]]


def test_transaction_rollback_and_commit(engine):
    url, database_url = engine
    for verb, name in (("rollback", "tx-rolled-back"), ("commit", "tx-committed")):
        started = httpx.post(url + "/transaction/start", json={"max_wait": 2000, "timeout": 5000}, timeout=30)
        assert started.status_code == 200, started.text
        transaction = started.json()["id"]
        gql(url, create_config(name, {"verb": verb}), transaction=transaction)
        assert stored_config(database_url, name) is None  # not visible outside the transaction yet
        ended = httpx.post(url + f"/transaction/{transaction}/{verb}", timeout=30)
        assert ended.status_code == 200, ended.text
    assert stored_config(database_url, "tx-rolled-back") is None
    assert stored_config(database_url, "tx-committed") == ("object", {"verb": "commit"})


def test_batch_in_one_transaction(engine):
    url, database_url = engine
    batch = {"batch": [{"query": create_config(f"batch-{i}", {"i": i}), "variables": {}} for i in range(2)],
             "transaction": True}
    answer = httpx.post(url + "/", json=batch, timeout=30).json()
    assert [item["data"]["result"]["param_name"] for item in answer["batchResult"]] == ["batch-0", "batch-1"]
    assert [stored_config(database_url, f"batch-{i}") for i in range(2)] == [("object", {"i": 0}), ("object", {"i": 1})]


def test_a_failing_query_is_an_error_answer_and_the_engine_goes_on(engine):
    url, _ = engine
    gql(url, create_config("duplicate", {}))
    answer = gql(url, create_config("duplicate", {}))
    assert answer["errors"][0]["user_facing_error"]["error_code"] == "P2002"  # unique constraint, as prisma-client-py maps it
    assert httpx.get(url + "/status", timeout=5).json() == {"status": "ok"}


def test_json_in_nested_writes_relation_filters_and_included_relations(engine):
    url, database_url = engine
    metadata, budget = literal(json.dumps({"k": "v"})), literal(json.dumps({"gpt": 5}))
    nested = f'{{create: {{budget_id: "nested-budget", model_max_budget: {budget}, created_by: "t", updated_by: "t"}}}}'
    create = ("mutation { result: createOneLiteLLM_VerificationToken("
              f'data: {{token: "nested-token", metadata: {metadata}, litellm_budget_table: {nested}}}) {{ token }} }}')
    assert gql(url, create)["data"]["result"] == {"token": "nested-token"}
    with psycopg.connect(database_url) as connection:
        assert connection.execute(
            'SELECT jsonb_typeof(model_max_budget), model_max_budget FROM "LiteLLM_BudgetTable" WHERE budget_id = %s',
            ("nested-budget",),
        ).fetchone() == ("object", {"gpt": 5})
    # A to-many relation filter on a Json field, and a relation in the selection.
    where = f"{{keys: {{some: {{metadata: {{equals: {metadata}}}}}}}}}"
    find = f"query {{ result: findManyLiteLLM_BudgetTable(where: {where}) {{ budget_id keys {{ token }} }} }}"
    answer = gql(url, find)
    assert answer.get("data", {}).get("result") == [{"budget_id": "nested-budget", "keys": [{"token": "nested-token"}]}], answer
