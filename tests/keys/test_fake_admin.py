"""The fake refuses what LiteLLM 1.108.7 refuses, so a bad body from opsctl fails a test."""

import httpx
import pytest

from opsctl.admin.key_rows import DURATION
from litellm.litellm_core_utils.duration_parser import duration_in_seconds
from litellm.proxy.common_utils.timezone_utils import budget_duration_error


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/key/generate", {"rpm_limit": "lots"}, 422, "rpm_limit: Input should be a valid integer, unable to parse string as an integer"),
        ("/key/generate", {"metadata": ["owner=ops"]}, 422, "metadata: Input should be a valid dictionary"),
        ("/key/generate", {"rpm": 5}, 422, "rpm: unknown field (LiteLLM would ignore it)"),
        ("/key/generate", {"max_budget": -1}, 400, "{'error': 'max_budget must be a non-negative finite number. Received: -1.0'}"),
        ("/key/generate", {"budget_duration": "xyz"}, 400,
         "{'error': \"Invalid budget_duration 'xyz'. Use a format like '1h', '24h', '7d', or '30d'.\"}"),
        ("/key/generate", {"duration": "forever"}, 500, "Invalid duration format"),
        ("/team/new", {"team_id": "t", "budget_duration": "0d"}, 400,
         "{'error': \"Invalid budget_duration '0d'. Use a format like '1h', '24h', '7d', or '30d'.\"}"),
    ],
)
def test_fake_refuses_what_litellm_refuses(fake, path, body, status, message):
    answer = httpx.post(fake.url + path, json=body, headers={"Authorization": f"Bearer {fake.master_key}"})
    assert answer.status_code == status
    error = answer.json()
    text = error["error"]["message"] if "error" in error else "; ".join(
        f"{d['loc'][-1]}: {d['msg']}" for d in error["detail"])
    assert text == message
    assert fake.keys == {} and fake.teams == {}


def test_durations_opsctl_accepts_are_durations_litellm_accepts():
    samples = ["30s", "15m", "12h", "30d", "2w", "1mo", "daily", "monthly", "0d", "30", "30days", "d", "-1d", "1y"]
    accepted = [s for s in samples if DURATION.match(s)]
    assert accepted == ["30s", "15m", "12h", "30d", "2w", "1mo", "daily", "monthly"]
    assert all(duration_in_seconds(s) > 0 and budget_duration_error(s) is None for s in accepted)
