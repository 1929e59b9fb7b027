"""Property tests: each reader opsctl points at a file or a server, fed 1,000 generated hostile inputs.

Every input either reads as something valid or fails with one OpsctlError:
a documented exit code, one line, no secret, within the per-example deadline.
"""

from __future__ import annotations

import functools
import io
import json
import math
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsctl.errors import ExitCode, OpsctlError
from tests.hostile.conftest import MASTER_KEY, assert_no_secret

MANY = settings(max_examples=1000, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])
DOCUMENTED = {code for code in ExitCode}
SECRET = "sk-propsecret-4f9a1c7e"


def assert_one_line_error(error: OpsctlError, *codes: ExitCode) -> None:
    assert error.exit_code in (codes or DOCUMENTED)
    assert "\n" not in error.message and "\r" not in error.message
    assert len(error.message) < 600, error.message[:200]
    assert_no_secret(error.message, SECRET)


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="opsctl-prop-"))


# --- the policy file

def toml_number(kind):
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(lambda f: "nan" if math.isnan(f) else
                                                           ("inf" if f == math.inf else "-inf" if f == -math.inf else repr(f))),
        st.integers(min_value=-10**30, max_value=10**30).map(str),
        st.integers(4300, 4400).map(lambda digits: "7" * digits),  # past Python's int() limit
        st.sampled_from(["1e309", "-0.0", "true", '"30"', f'"{SECRET}"', "[]", "{}", "0x1F", "1_000", "+inf", "-nan"]),
    )


@st.composite
def policy_texts(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=300))  # anything at all
    lines = []
    if draw(st.booleans()):
        lines += ["[keys]", f"rpm_limit = {draw(toml_number(int))}", f"max_budget = {draw(toml_number(float))}"]
    for index in range(draw(st.integers(0, 3))):
        lines += ["[[tiers]]", f'name = "{draw(st.sampled_from(["t", SECRET, "x[/b]"]))}"',
                  f"timeout = {draw(toml_number(float))}", f"num_retries = {draw(toml_number(int))}",
                  f'models = ["{draw(st.sampled_from(["%cloud%", "m", "*"]))}"]']
        if draw(st.integers(0, 4)) == 0:
            lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(
                [f"{SECRET} = 1", "[[tiers]]", "x = [[[[[[1]]]]]]", "timeout = 1", "tiers = 5", "\x00"])))
    return "\n".join(lines) + "\n"


@MANY
@given(policy_texts())
def test_policy_file(text):
    from opsctl.policy import MAX_RETRIES, MAX_TIMEOUT, parse_policy

    started = time.monotonic()
    try:
        policy = parse_policy(text, "p.toml")
    except OpsctlError as error:
        assert_one_line_error(error, ExitCode.USAGE)
        assert error.message.startswith("p.toml:") and error.message.split(":")[1].isdigit()
    else:
        for rule in policy.rules:
            assert math.isfinite(rule.timeout) and 0 < rule.timeout <= MAX_TIMEOUT
            assert isinstance(rule.num_retries, int) and 0 <= rule.num_retries <= MAX_RETRIES
        for value in [*policy.key_defaults.values(), *policy.team_defaults.values()]:
            assert isinstance(value, str) or math.isfinite(value)
    assert time.monotonic() - started < 1


# --- the backup file

VALID_ROW = {"model_id": "id-1", "model_name": "chat-default", "timeout": "10", "num_retries": None,
             "updated_at": "2026-11-27T12:00:00", "updated_by": "seed", "applied_digest": "0" * 32}
VALID = {"format": "opsctl-db-backup/2", "database": {"system_identifier": "1", "name": "litellm"},
         "transaction": "1234", "created_at": "2026-11-27T12:00:00+00:00", "rows": [VALID_ROW]}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.sampled_from([SECRET, "\x00", "\ud800", "1e5000", "9" * 5000, "null", "[]", '"x"', "{\"a\": 1}"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def backup_bytes(draw):
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.binary(max_size=300))
    if choice == 1:
        depth = draw(st.integers(1, 5000))
        return b"[" * depth + b"]" * depth
    document = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 4))):
        rows = document.get("rows")
        holders = [document, *[h for h in (rows[0] if isinstance(rows, list) and rows else None,
                                           document.get("database")) if isinstance(h, dict)]]
        holder = draw(st.sampled_from(holders))
        key = draw(st.sampled_from([*holder, "litellm_params", "api_key", SECRET]))
        if draw(st.integers(0, 5)) == 0:
            holder.pop(key, None)
        else:
            holder[key] = draw(json_values)
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate written raw: invalid UTF-8 on disk
        return text.encode("utf-8", "surrogatepass")


@MANY
@given(data=backup_bytes())
def test_backup_file(data):
    from opsctl import jsonsafe
    from opsctl.db.undo import RESTORED_KEYS, read_backup

    directory = scratch_dir()
    path = directory / "b.json"
    path.write_bytes(data)
    path.chmod(0o600)
    started = time.monotonic()
    try:
        backup = read_backup(path)
    except OpsctlError as error:
        assert_one_line_error(error, ExitCode.USAGE)
        assert error.message.startswith(f"{path}: ")
    else:  # what restore would send to Postgres is storable, and only the two keys
        for row in backup.rows:
            assert set(row) >= set(RESTORED_KEYS) and "litellm_params" not in row
            for key in RESTORED_KEYS:
                if row[key] is not None:
                    jsonsafe.validate(row[key])
            assert "\x00" not in json.dumps(row) and "\\u0000" not in json.dumps(row)
    finally:
        path.unlink()
        directory.rmdir()
    assert time.monotonic() - started < 1


# --- dotenv files: the settings reader and `opsctl init`'s

PASSWORD = "PWSECRET-" + "q7"

env_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "'", '"', "\\", "$HOME", "${X}", "#c", " spaced ", "a\nb", "é", "\x00", "sk-x"]),
    st.builds(lambda pw, host, tail: f"postgresql://litellm:{PASSWORD}{pw}@{host}{tail}",
              st.sampled_from(["", "/", "@", ":", "%zz", "%40", "%99", "[", "]", "?", "#", " "]),
              st.sampled_from(["db", "[::1", "[::1]", "db:99999", "db:0", "", "db:5432"]),
              st.sampled_from(["/litellm", "", "?password=x", "/d?sslmode=require", "/@x"])),
)


@st.composite
def dotenv_bytes(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(["DATABASE_URL", "LITELLM_MASTER_KEY", "LITELLM_PROXY_URL", "POSTGRES_PASSWORD",
                                     "OPSCTL_DEADLINE", "export X", "A B", "'Q'", "#", ""]))
        value = draw(env_values)
        quote = draw(st.sampled_from(["", "'", '"']))
        lines.append(f"{name}={quote}{value}{quote}")
    lines.append(f"LITELLM_MASTER_KEY={SECRET}")
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


@functools.cache
def default_policy():
    from opsctl.policy import load_policy

    return load_policy(None)


@MANY
@given(data=dotenv_bytes())
def test_dotenv_settings_and_init(data):
    from opsctl.backup.pgtools import split_password
    from opsctl.db.connection import connect_error, describe_url
    from opsctl.settings import load_settings
    from opsctl.stack.render import ENV, parse_env, plan_init

    import psycopg

    directory = scratch_dir()
    try:
        (directory / ".env").write_bytes(data)
        (directory / ".env").chmod(0o600)
        started = time.monotonic()
        try:
            loaded = load_settings(environ={}, home=directory / "nohome", cwd=directory)
        except OpsctlError as error:
            assert_one_line_error(error, ExitCode.USAGE)
        else:
            shown = json.dumps(loaded.describe())
            assert_no_secret(shown, SECRET)
            assert PASSWORD not in shown
            if loaded.database_url:
                try:
                    loaded.require_database_url()
                except OpsctlError as error:
                    assert_one_line_error(error, ExitCode.USAGE)
                    assert PASSWORD not in error.message
                assert PASSWORD not in describe_url(loaded.database_url)
                # libpq quotes what it cannot parse: the message must not carry it on.
                echoed = connect_error(psycopg.ProgrammingError(f'invalid URI: "{loaded.database_url}"'), loaded.database_url)
                assert PASSWORD not in echoed.message and SECRET not in echoed.message
                # What pg_dump, pg_restore and psql get: the password only in their environment.
                try:
                    conninfo, env = split_password(loaded.database_url)
                except OpsctlError as error:
                    assert_one_line_error(error, ExitCode.USAGE)
                    assert PASSWORD not in error.message
                else:
                    assert PASSWORD not in conninfo and set(env) <= {"PGPASSWORD"}

        try:
            plan = plan_init(directory, default_policy(), force=True)
        except OpsctlError as error:
            assert_one_line_error(error, ExitCode.USAGE, ExitCode.REFUSED)
        else:  # what init would write reads back, in python-dotenv, as every value it keeps
            written = next(p for p in plan if p.relative == ENV).content
            kept = parse_env(data.decode("utf-8"))
            again = dotenv_values(stream=io.StringIO(written))
            for name, value in kept.items():
                if value and name in again:
                    assert again[name] == value, name
        assert time.monotonic() - started < 1.5
    finally:
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()


# --- proxy answers, through the client, from the CLI

COMMANDS = [
    ["keys", "list"], ["keys", "list", "--json"], ["keys", "info", "a" * 64], ["keys", "create", "--alias", "a"],
    ["keys", "create", "--alias", "a", "--json"], ["keys", "revoke", "--alias", "a", "--yes"],
    ["teams", "list"], ["teams", "info", "t"], ["teams", "create", "--team-id", "t"], ["teams", "create"],
]
ROUTES = ["/key/list", "/key/info", "/key/generate", "/key/delete", "/team/list", "/team/info", "/team/new"]
# 502-504 are retried with backoff: tests/keys/test_proxy_errors.py covers them, here they would only cost time.
STATUSES = [200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 422, 500]

names = st.sampled_from(["a", "t", MASTER_KEY, "chat[/bold]-x", "\x1b[2J", "[red]", "a" * 64, ""]) | st.text(max_size=10)
rows = st.fixed_dictionaries({}, optional={
    "token": names | json_values, "key_alias": names | json_values, "team_id": names | json_values,
    "models": st.lists(names, max_size=2) | json_values, "metadata": json_values, "rpm_limit": json_values})
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"keys": st.lists(rows, max_size=3) | json_values},
                          optional={"total_pages": st.integers(-2, 10**13) | json_values}),
    st.fixed_dictionaries({"key": st.sampled_from(["sk-abcdefgh12345678", "sk-\x1b]0;x\x07", MASTER_KEY]) | json_values,
                           "token_id": names | json_values}),
    st.fixed_dictionaries({"team_info": rows | json_values, "keys": st.lists(rows, max_size=2) | json_values}),
    st.lists(rows, max_size=3),
    st.fixed_dictionaries({"error": st.fixed_dictionaries({"message": names | json_values})}),
    st.binary(max_size=40),
    st.builds(lambda depth: b"[" * depth + b"]" * depth, st.integers(60, 300)),
)


@pytest.fixture(scope="module")
def scripted():
    from tests.support.hostile_server import HostileServer

    with HostileServer("answers") as server:
        yield server


@MANY
@given(command=st.sampled_from(COMMANDS), answers=st.dictionaries(st.sampled_from(ROUTES), st.tuples(
    st.sampled_from(STATUSES), bodies), min_size=1, max_size=2))
def test_proxy_answers_through_the_client(scripted, command, answers):
    scripted.answers = {route: (status, body if isinstance(body, bytes) else _jsonable(body))
                        for route, (status, body) in answers.items()}
    started = time.monotonic()
    result = CliRunner().invoke(
        __import__("opsctl.cli", fromlist=["cli"]).cli, command,
        env={"LITELLM_PROXY_URL": scripted.url, "LITELLM_MASTER_KEY": MASTER_KEY, "OPSCTL_DEADLINE": "10"})
    assert time.monotonic() - started < 2
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2, 3, 4), result.output
    assert_no_secret(result.output)
    assert "\x1b" not in result.output and "\x07" not in result.output
    if result.exit_code:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    elif "--json" in command:
        json.loads(result.stdout)
    if command[:2] == ["keys", "create"] and result.exit_code == 0:
        assert "created" in result.stderr or "exists" in result.stderr
        # "created" only with a key LiteLLM could have minted
        if "created" in result.stderr and "--json" not in command:
            assert result.stdout.startswith("sk-") and len(result.stdout.split()) == 1


def _jsonable(body):
    """Hypothesis floats may be inf in nested places json.dumps writes as Infinity: that is a hostile server too."""
    return json.dumps(body, allow_nan=True).encode()
