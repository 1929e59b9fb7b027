"""Reading the gateway: what the state file can describe, and one line for answers LiteLLM would not send."""

import httpx
import pytest

from opsctl.admin.client import ProxyClient
from opsctl.errors import OpsctlError
from opsctl.settings import Settings
from opsctl.state.live import fetch

URL = "http://proxy.test"


def serve(teams=(), keys=(), models=()):
    """A proxy at the wire answering the three list routes with what it is given."""
    def handler(request):
        if request.url.path == "/team/list":
            return httpx.Response(200, json=list(teams) if not isinstance(teams, (str, dict)) else teams)
        if request.url.path == "/key/list":
            return httpx.Response(200, json={"keys": list(keys), "total_count": len(keys), "current_page": 1, "total_pages": 1})
        if request.url.path == "/model/info":
            return httpx.Response(200, json=models if isinstance(models, (str, dict)) else {"data": list(models)})
        return httpx.Response(404, json={"detail": "Not Found"})

    return ProxyClient(Settings(proxy_url=URL, master_key="sk-test-master-123"), transport=httpx.MockTransport(handler))


def model(model_id, db_model=True, **info):
    return {"model_name": "m", "litellm_params": {"model": "openai/x", "use_in_pass_through": False},
            "model_info": {"id": model_id, "db_model": db_model, **info}}


def test_config_and_team_models_are_counted_not_managed():
    with serve(models=[model("a"), model("cfg", db_model=False), model("byok", team_id="t1")]) as proxy:
        snapshot = fetch(proxy)
    assert list(snapshot.models) == ["a"] and snapshot.config_models == 1 and snapshot.team_models == ["byok"]
    assert snapshot.models["a"].fields["litellm_params"] == {"model": "openai/x", "use_in_pass_through": False}
    assert snapshot.models["a"].managed is False and snapshot.models["a"].unknown_secrets is True


def test_secrets_are_known_only_as_recorded_references():
    row = model("a", opsctl_managed=True, opsctl_env_refs={"api_key": "os.environ/K", "timeout": "os.environ/T",
                                                         "client_secret": "literal-not-a-ref"}, opsctl_info_keys=["mode"], mode="chat")
    row["litellm_params"]["azure_ad_token"] = "abcd****wxyz"  # what /model/info shows of a secret
    with serve(models=[row]) as proxy:
        live = fetch(proxy).models["a"]
    assert live.fields["litellm_params"] == {"model": "openai/x", "use_in_pass_through": False, "api_key": "os.environ/K"}
    assert live.fields["model_info"] == {"mode": "chat"} and live.info_keys == ["mode"] and live.managed


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"models": ["not", "a", "mapping"]}, "the proxy at http://proxy.test answered GET /model/info with an unexpected shape"),
        ({"models": {"data": "nope"}}, "the proxy at http://proxy.test answered GET /model/info with an unexpected shape"),
        ({"models": [{"model_name": "m", "litellm_params": {}, "model_info": {"db_model": True}}]},
         "the proxy at http://proxy.test listed a model with a malformed model_info.id"),
        # admin.teams checks what it computes with (team_id, models) before state's own checks run
        ({"teams": [{"team_id": "t", "models": "all"}]}, "the proxy at http://proxy.test answered GET /team/list with a "
                                                          "team with a bad or missing 'models', not what LiteLLM sends"),
        ({"teams": [{"team_id": "t", "rpm_limit": "5"}]}, "the proxy at http://proxy.test listed a team with a malformed rpm_limit"),
        ({"teams": [{"team_alias": "no id"}]}, "the proxy at http://proxy.test answered GET /team/list with a "
                                                "team with a bad or missing 'team_id', not what LiteLLM sends"),
        ({"keys": [{"token": "a" * 64, "key_alias": "x", "metadata": ["m"]}]},
         "the proxy at http://proxy.test listed a key with a malformed metadata"),
        ({"keys": [{"token": "a" * 64, "key_alias": "same"}, {"token": "b" * 64, "key_alias": "same"}]},
         "two keys on the gateway have the alias 'same'; opsctl names keys by alias: revoke one (opsctl keys revoke HASH)"),
    ],
)
def test_answers_litellm_would_not_send_are_one_line(answers, message):
    with serve(**answers) as proxy, pytest.raises(OpsctlError) as caught:
        fetch(proxy)
    assert caught.value.message == message and caught.value.exit_code == 1
