"""opsctl's idea of a secret param is LiteLLM's: exactly the params /model/info does not return as stored.

/model/info calls remove_sensitive_info_from_deployment with
excluded_keys={"litellm_credential_name"} (litellm 1.108.7 proxy_server.py
_enrich_model_info_with_litellm_data); so do these tests.
"""

from litellm.proxy.common_utils.openai_endpoint_utils import remove_sensitive_info_from_deployment
from litellm.types.router import LiteLLMParamsTypedDict

from opsctl.state.secret_params import is_secret_param, nested_secret

def hide(params):
    return remove_sensitive_info_from_deployment({"litellm_params": params}, excluded_keys={"litellm_credential_name"})["litellm_params"]


EXTRA_NAMES = ["azure_ad_token", "aws_session_token", "vertex_credentials", "client_secret", "api-key", "Private_Key",
               "input_cost_per_token", "max_tokens", "litellm_credential_name", "default_api_key_tpm_limit", "tenancy",
               "use_in_pass_through", "keepalive_seconds", "access_token", "cache_read_input_token_cost", "oci_key"]


def test_secret_params_are_the_ones_litellm_hides_or_masks():
    names = sorted(set(LiteLLMParamsTypedDict.__annotations__) | set(EXTRA_NAMES))
    value = "a-value-long-enough-to-mask"
    shown = hide({name: value for name in names})
    litellm_hides = {name for name in names if shown.get(name) != value}
    assert {name for name in names if is_secret_param(name)} == litellm_hides
    assert {"api_key", "aws_secret_access_key", "azure_ad_token", "access_token"} <= litellm_hides  # the test can fail
    assert "input_cost_per_token" not in litellm_hides and "litellm_credential_name" not in litellm_hides


def test_nested_secrets_are_found_where_litellm_masks_them():
    params = {"extra_headers": {"X-Request-Source": "ci", "Authorization": "Bearer abcdefghijkl"}}
    shown = hide(dict(params))
    assert shown["extra_headers"]["Authorization"] != params["extra_headers"]["Authorization"]
    assert shown["extra_headers"]["X-Request-Source"] == "ci"
    assert nested_secret(params["extra_headers"]) == "Authorization"
    assert nested_secret([{"ok": 1}, {"client_secret": "x"}]) == "[1].client_secret"
    assert nested_secret({"ok": {"fine": [1, 2]}}) is None
