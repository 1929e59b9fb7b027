"""`opsctl state diff` on a large gateway vs fetching its objects one by one.

1,000 keys, 100 teams and 500 DB models on the wire-level fake of LiteLLM's
admin routes (tests/support/fake_admin.py) with 50 ms of server latency per
request. The gateway is built by `state apply` itself (no latency), then a
few objects are edited through the admin API so the diff has work to show.
The diff reads lists (100 keys a page, all teams, all models in one answer);
the baseline asks /key/info, /team/info and /model/info?litellm_model_id=
once per object, one after the other. Run: .venv/bin/python bench/state.py
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsctl.admin.client import ProxyClient  # noqa: E402
from opsctl.policy import load_policy  # noqa: E402
from opsctl.settings import Settings  # noqa: E402
from opsctl.state.apply import apply_plan  # noqa: E402
from opsctl.state.diff import build_plan  # noqa: E402
from opsctl.state.document import load_state, render  # noqa: E402
from opsctl.state.live import fetch  # noqa: E402
from tests.support.fake_admin import FakeAdmin  # noqa: E402

KEYS, TEAMS, MODELS, LATENCY, TARGET = 1000, 100, 500, 0.05, 5.0


def document() -> dict:
    teams = [{"team_id": f"team-{t:03d}", "team_alias": f"Team {t}", "models": [f"group-{t % 50:02d}"],
              "max_budget": 100.0, "budget_duration": "30d", "metadata": {"owner": f"o{t}"}} for t in range(TEAMS)]
    keys = [{"key_alias": f"key-{k:04d}", "team_id": f"team-{k % TEAMS:03d}", "models": [f"group-{k % 50:02d}"],
             "rpm_limit": 60, "metadata": {"app": f"a{k}"}} for k in range(KEYS)]
    models = [{"id": f"model-{m:03d}", "model_name": f"group-{m % 50:02d}",
               "litellm_params": {"model": "openai/local-model", "api_base": f"http://10.0.0.{m % 250}:8000/v1",
                                  "api_key": "os.environ/UPSTREAM_KEY", "timeout": 30, "num_retries": 1},
               "model_info": {"mode": "chat"}} for m in range(MODELS)]
    return {"version": 1, "teams": teams, "keys": keys, "models": models}


def load(path: Path):
    policy = load_policy(None)
    return load_state(path, policy.key_defaults, policy.team_defaults)


def diff(settings: Settings, path: Path, times: dict | None = None):
    times = {} if times is None else times
    start = time.perf_counter()
    desired = load(path)
    times["read the file"] = time.perf_counter() - start
    with ProxyClient(settings) as proxy:
        live = fetch(proxy)
    times["fetch"] = time.perf_counter() - start - times["read the file"]
    plan = build_plan(desired, live, prune=True)
    times["plan"] = time.perf_counter() - start - times["read the file"] - times["fetch"]
    return plan


def one_by_one(settings: Settings, fake: FakeAdmin) -> int:
    requests = 0
    with ProxyClient(settings) as proxy:
        for token in list(fake.keys):
            proxy.get("/key/info", {"key": token})
            requests += 1
        for team_id in list(fake.teams):
            proxy.get("/team/info", {"team_id": team_id})
            requests += 1
        for model_id in list(fake.models):
            proxy.get("/model/info", {"litellm_model_id": model_id})
            requests += 1
    return requests


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeAdmin() as fake:
        path = Path(tmp) / "gateway.yaml"
        path.write_text(render(document()))
        settings = Settings(proxy_url=fake.url, master_key=fake.master_key)
        built = apply_plan(settings, diff(settings, path), keys_file=Path(tmp) / "keys.csv")
        assert built.count("done") == KEYS + TEAMS + MODELS, built.to_json()["failed"]
        for k in range(0, KEYS, 100):  # drift: ten keys and five models edited by hand
            token = next(t for t, row in fake.keys.items() if row["key_alias"] == f"key-{k:04d}")
            fake.keys[token]["rpm_limit"] = 999
        for m in range(0, MODELS, 100):
            fake.models[f"model-{m:03d}"]["litellm_params"]["timeout"] = 5

        fake.latency = LATENCY
        seen = len(fake.requests)
        times: dict = {}
        start = time.perf_counter()
        plan = diff(settings, path, times)
        listed = time.perf_counter() - start
        list_requests = len(fake.requests) - seen
        counts = plan.counts()
        assert (counts["update"], counts["unchanged"]) == (15, KEYS + TEAMS + MODELS - 15), counts

        start = time.perf_counter()
        single_requests = one_by_one(settings, fake)
        single = time.perf_counter() - start

    print(f"{KEYS} keys, {TEAMS} teams, {MODELS} models; {LATENCY * 1000:.0f} ms server latency per request")
    print(f"state diff (lists):   {listed:6.2f} s  ({list_requests} requests; found {counts['update']} updates)  target < {TARGET:.0f} s")
    print("                      (" + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in times.items()) + ")")
    print(f"one object at a time: {single:6.2f} s  ({single_requests} requests, fetch only, no diff)")
    print(f"speed-up:             {single / listed:6.1f}x")


if __name__ == "__main__":
    main()
