"""The fake's update, delete and model routes refuse and answer as LiteLLM 1.108.7 does.

The error bodies below are the ones a real DB-backed proxy answered to the same
requests (checked by hand on litellm 1.108.7; test_real_proxy.py runs the
scenarios that depend on them against the real thing).
"""

import httpx
import pytest


def call(fake, method, path, body=None):
    answer = httpx.request(method, fake.url + path, json=body, headers={"Authorization": f"Bearer {fake.master_key}"})
    return answer.status_code, answer.json()


def message(body):
    if "error" in body:
        return body["error"]["message"]
    detail = body["detail"]
    return detail["error"] if isinstance(detail, dict) else "; ".join(f"{d['loc'][-1]}: {d['msg']}" for d in detail)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "text"),
    [
        ("POST", "/key/update", {"rpm_limit": 1}, 422, "body: Value error, either key or key_alias must be provided"),
        ("POST", "/key/update", {"key": "0" * 64, "rpm_limit": 1}, 404, "Key not found."),
        ("POST", "/key/update", {"key_alias": "a", "rpm": 1}, 422, "rpm: unknown field (LiteLLM would ignore it)"),
        ("POST", "/team/update", {"rpm_limit": 1}, 422, "team_id: Field required"),
        ("POST", "/team/update", {"team_id": "nope", "rpm_limit": 1}, 404, "{'error': 'Team not found, passed team_id=nope'}"),
        ("POST", "/team/delete", {"team_ids": ["nope"]}, 404, "Team not found, passed team_id=nope"),
        # LiteLLM itself answers this one with a 500 (Deployment.__init__ raises a TypeError inside
        # FastAPI's validation); the fake names the fields instead.
        ("POST", "/model/new", {"model_name": "m"}, 422, "litellm_params: Field required; model_info: Field required"),
        ("POST", "/model/delete", {"id": "nope"}, 400, "{'error': 'Model with id=nope not found in db'}"),
        ("PATCH", "/model/nope/update", {"litellm_params": {"timeout": 1}}, 404, "Model nope not found on proxy."),
        ("PATCH", "/model/nope/update", {"model_info": {"mode": "chat"}}, 422,
         "id: give the model's own id: LiteLLM's ModelInfo would store a random one"),
        ("GET", "/model/info?litellm_model_id=nope", None, 400, "Model id = nope not found on litellm proxy"),
    ],
)
def test_refusals(fake, method, path, body, status, text):
    assert (lambda s, b: (s, message(b)))(*call(fake, method, path, body)) == (status, text)


def test_a_second_create_of_one_model_id_is_a_500_as_in_litellm(fake):
    model = {"model_name": "m", "litellm_params": {"model": "openai/x"}, "model_info": {"id": "m-1"}}
    assert call(fake, "POST", "/model/new", model)[0] == 200
    status, body = call(fake, "POST", "/model/new", model)
    assert (status, message(body)) == (500, "{'error': 'Failed to add model to db. Check your server logs for more details.'}")


def test_updates_are_merge_patches_and_team_delete_takes_the_keys(fake):
    call(fake, "POST", "/team/new", {"team_id": "t", "rpm_limit": 5, "metadata": {"a": 1}})
    call(fake, "POST", "/key/generate", {"key_alias": "k", "team_id": "t", "rpm_limit": 5, "tpm_limit": 9})
    assert call(fake, "POST", "/key/update", {"key_alias": "k", "rpm_limit": None})[0] == 200
    (row,) = fake.keys.values()
    assert (row["rpm_limit"], row["tpm_limit"]) == (None, 9)  # explicit null clears, left out keeps
    call(fake, "POST", "/team/update", {"team_id": "t", "metadata": {"b": 2}})
    assert fake.teams["t"]["metadata"] == {"b": 2} and fake.teams["t"]["rpm_limit"] == 5  # metadata replaced whole
    assert call(fake, "POST", "/team/delete", {"team_ids": ["t"]})[0] == 200
    assert fake.teams == {} and fake.keys == {}


def test_model_info_hides_secrets_and_keeps_litellms_defaults(fake):
    call(fake, "POST", "/model/new", {"model_name": "m", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_key": "os.environ/K", "azure_ad_token": "abcdefghijklmnop", "timeout": 3},
        "model_info": {"id": "m-1", "mode": "chat"}})
    call(fake, "PATCH", "/model/m-1/update", {"litellm_params": {"num_retries": 2}, "model_info": {"id": "m-1", "tier": "paid"}})
    (listed,) = call(fake, "GET", "/model/info")[1]["data"]
    params = listed["litellm_params"]
    assert "api_key" not in params and params["azure_ad_token"] == "abcd********mnop"
    assert (params["timeout"], params["num_retries"], params["use_in_pass_through"]) == (3.0, 2, False)
    info = listed["model_info"]
    assert (info["id"], info["db_model"], info["mode"], info["tier"]) == ("m-1", True, "chat", "paid")
    assert info["input_cost_per_token"] > 0  # gpt-4o-mini's price from LiteLLM's cost map, mixed in
