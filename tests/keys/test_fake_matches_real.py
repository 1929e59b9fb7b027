"""The fake answers the routes opsctl uses in the shapes the real LiteLLM proxy does.

One sequence of requests (generate, info, list, delete, team new/info/list, and
the errors opsctl reads) goes to both; each answer is reduced to its shape: the
status code and, recursively, the field names and JSON types."""

import secrets

import httpx


def shape(value):
    if isinstance(value, dict):
        return {name: shape(item) for name, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def conversation(url: str, master_key: str, prefix: str) -> dict[str, tuple[int, object]]:
    answers = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {master_key}"}, timeout=30) as http:
        def ask(name, method, path, **kwargs):
            answer = http.request(method, path, **kwargs)
            answers[name] = (answer.status_code, answer.json())
            return answer.json()

        team = f"{prefix}-team"
        ask("team/new", "POST", "/team/new", json={"team_id": team, "rpm_limit": 120, "tpm_limit": 60000})
        ask("team/new duplicate", "POST", "/team/new", json={"team_id": team})
        ask("team/info", "GET", "/team/info", params={"team_id": team})
        ask("team/info missing", "GET", "/team/info", params={"team_id": f"{prefix}-none"})
        ask("team/list", "GET", "/team/list")
        key = ask("key/generate", "POST", "/key/generate",
                  json={"key_alias": f"{prefix}-k", "team_id": team, "rpm_limit": 2, "metadata": {"o": "p"}})["key"]
        ask("key/info", "GET", "/key/info", params={"key": key})
        ask("key/info missing", "GET", "/key/info", params={"key": "0" * 64})
        params = {"team_id": team, "size": 100, "page": 1, "return_full_object": "true"}
        ask("key/list", "GET", "/key/list", params=params)
        ask("key/list by alias", "GET", "/key/list", params={**params, "key_alias": f"{prefix}-k"})
        ask("key/delete", "POST", "/key/delete", json={"keys": [key]})
        ask("key/delete missing", "POST", "/key/delete", json={"keys": [key]})
        ask("key/info deleted", "GET", "/key/info", params={"key": key})
        ask("key/list empty", "GET", "/key/list", params=params)
    # team/list: every team on the shared proxy; one entry's shape is enough.
    status, teams = answers["team/list"]
    answers["team/list"] = (status, [next(t for t in teams if t["team_id"] == team)])
    return {name: (status, shape(body)) for name, (status, body) in answers.items()}


def test_fake_answers_in_the_shapes_of_the_real_proxy(db_proxy, fake):
    real = conversation(db_proxy.url, db_proxy.master_key, f"shape-{secrets.token_hex(4)}")
    faked = conversation(fake.url, fake.master_key, "shape")
    for name in real:
        assert faked[name][0] == real[name][0], name
        assert_same_shape(faked[name][1], real[name][1], name)


def assert_same_shape(fake, real, where):
    """Every field the fake sends the real proxy sends too, as the same JSON type (null matches any)."""
    if "NoneType" in (fake, real):
        return
    if isinstance(real, dict):
        assert isinstance(fake, dict), where
        assert set(fake) <= set(real), (where, sorted(set(fake) - set(real)))
        for name in fake:
            assert_same_shape(fake[name], real[name], f"{where}.{name}")
    elif isinstance(real, list):
        assert isinstance(fake, list), where
        if fake and real:
            assert_same_shape(fake[0], real[0], f"{where}[0]")
    elif {fake, real} != {"int", "float"}:
        assert fake == real, where
