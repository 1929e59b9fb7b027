"""Every HTTP command against a proxy that drips, stalls, floods, redirects, echoes secrets or answers
the wrong shape: a documented exit code, one `Error:` line, a bounded time, no secret."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from tests.hostile.conftest import DEADLINE, MASTER_KEY, assert_no_secret, run_all
from tests.support.hostile_server import HostileServer, Recorder

TOKEN = "a" * 64


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    result = CliRunner().invoke(cli, ["init", str(home / "stack")])
    assert result.exit_code == 0, result.output
    return home


def commands(home) -> dict[str, list[str]]:
    return {
        "keys create": ["keys", "create", "--alias", "a"],
        "keys list": ["keys", "list"],
        "keys info": ["keys", "info", TOKEN],
        "keys revoke": ["keys", "revoke", "--alias", "a", "--yes"],
        "teams create": ["teams", "create", "--team-id", "t"],
        "teams list": ["teams", "list"],
        "teams info": ["teams", "info", "t"],
        "smoke health": ["smoke", "health"],
        "audit --live": ["audit", str(home / "stack"), "--live"],
    }


REPORTS = {"smoke health", "audit --live"}  # these print a report, not one line


ROOMY = 20.0


def env_for(server, deadline: float = ROOMY) -> dict:
    return {"LITELLM_PROXY_URL": server.url, "LITELLM_MASTER_KEY": MASTER_KEY, "OPSCTL_DEADLINE": str(deadline)}


def check_common(ran, name: str, deadline: float = ROOMY) -> None:
    assert "Traceback" not in ran.stderr, (name, ran.stderr)
    assert_no_secret(ran.output)
    # The deadline, a python start-up and slack for a loaded machine; unbounded was minutes to hours.
    assert ran.seconds < deadline + 15, (name, ran.seconds)
    if name not in REPORTS:
        assert ran.stderr.count("\n") == 1 and ran.stderr.startswith("Error: "), (name, ran.stderr)


# mode -> (exit code of the one-line commands, what their line says, exit codes of the reports)
BOUNDING = {
    "drip": (3, "within the command's 2 s deadline (OPSCTL_DEADLINE)", {"smoke health": 3, "audit --live": 3}),
    "stall": (3, "within the command's 2 s deadline (OPSCTL_DEADLINE)", {"smoke health": 3, "audit --live": 3}),
    "huge": (1, "sent more than 32 MiB in answer to", {"smoke health": 3, "audit --live": 1}),
    "huge_declared": (1, "sent more than 32 MiB in answer to", {"smoke health": 3, "audit --live": 1}),
}


@pytest.mark.parametrize("mode", BOUNDING)
def test_every_http_command_is_bounded_in_time_and_memory(stack, mode):
    """Before: a byte a second kept keys, smoke health and audit --live running past 150 s; an endless body reached 3 GB."""
    exit_code, says, reports = BOUNDING[mode]
    # Where the deadline is not what should stop the command, it is long enough not to on a busy machine.
    deadline = DEADLINE if mode in ("drip", "stall") else ROOMY
    with HostileServer(mode) as server:
        results = run_all(commands(stack), env_for(server, deadline), stack)
    for name, ran in results.items():
        check_common(ran, name, deadline)
        if name in REPORTS:
            assert ran.exit_code == reports[name], (name, ran.exit_code, ran.output[-500:])
        else:
            assert ran.exit_code == exit_code, (name, ran.stderr)
            assert says in ran.stderr, (name, ran.stderr)


def test_redirects_are_not_followed_so_the_master_key_stays_home(stack):
    with Recorder() as elsewhere, HostileServer("redirect", redirect_to=elsewhere.url) as server:
        results = run_all(commands(stack), env_for(server), stack)
    assert elsewhere.requests == []
    for name, ran in results.items():
        check_common(ran, name)
        if name == "smoke health":
            assert ran.exit_code == 3
        elif name == "audit --live":
            # 3 unless a check FAILs: the stack's .env names its Postgres (audit DIR reads DIR/.env), not running here.
            assert ran.exit_code in (1, 3) and "307" in ran.stdout, ran.stdout
        else:
            assert ran.exit_code == 1, (name, ran.stderr)
            assert "with a redirect (HTTP 307); opsctl does not follow redirects" in ran.stderr


def test_a_server_echoing_the_master_key_never_gets_it_printed(stack):
    with HostileServer("echo") as server:
        results = run_all({**commands(stack), "keys list --json": ["keys", "list", "--json"],
                           "teams list --json": ["teams", "list", "--json"]}, env_for(server), stack)
    for name, ran in results.items():
        assert "Traceback" not in ran.stderr and ran.seconds < ROOMY
        assert_no_secret(ran.output)
    assert results["keys list"].exit_code == 0 and "****" in results["keys list"].stdout
    listed = json.loads(results["keys list --json"].stdout)
    assert {row["key_alias"] for row in listed} == {"****"}
    assert results["keys create"].exit_code == 2
    assert results["keys create"].stderr.startswith("Error: the proxy rejected POST /key/generate: invalid key ****")


# --- wrong shapes, in process (they answer at once)

def invoke(server, *args):
    return CliRunner().invoke(cli, list(args), env={"LITELLM_PROXY_URL": server.url, "LITELLM_MASTER_KEY": MASTER_KEY})


PAGE = {"keys": [], "total_pages": 1}
TEAM = {"team_id": "t", "team_info": {"team_id": "t"}, "keys": []}
NOT_OBJECTS = [[1, 2, 3], "ok", None, 5]

# (command, answers, the route whose answer is wrong, why)
WRONG = [
    *[(["keys", "list"], {"/key/list": (200, body)}, "GET /key/list", "instead of an object") for body in NOT_OBJECTS],
    (["keys", "list"], {"/key/list": (200, {"error": "x"})}, "GET /key/list", "a bad or missing 'keys'"),
    (["keys", "list"], {"/key/list": (200, {"keys": "x"})}, "GET /key/list", "a bad or missing 'keys'"),
    (["keys", "list"], {"/key/list": (200, {"keys": [{"token": 5}]})}, "GET /key/list", "a bad or missing 'keys'"),
    (["keys", "list"], {"/key/list": (200, {"keys": [{"token": "t", "models": 5}]})}, "GET /key/list", "'keys'"),
    (["keys", "list"], {"/key/list": (200, {"keys": [], "total_pages": "5"})}, "GET /key/list", "'total_pages'"),
    (["keys", "list"], {"/key/list": (200, {"keys": [{"token": "t"}], "total_pages": 10**12})}, "GET /key/list",
     "total_pages 1000000000000 (opsctl reads at most 10000 pages)"),
    (["keys", "list"], {"/key/list": (200, b"<html>not json</html>")}, "GET /key/list", "not JSON"),
    (["keys", "list"], {"/key/list": (200, b'{"keys": [], "total_pages": 1' + b"0" * 5000 + b"}")}, "GET /key/list",
     "a number of 5001 digits"),
    (["keys", "list"], {"/key/list": (200, b"[" * 50_000 + b"]" * 50_000)}, "GET /key/list", "nesting deeper"),
    (["keys", "create", "--alias", "a"], {"/key/list": (200, PAGE), "/key/generate": (200, {})}, "POST /key/generate",
     "a bad or missing 'key', not what LiteLLM sends; it may have been applied"),
    (["keys", "create", "--alias", "a"], {"/key/list": (200, PAGE), "/key/generate": (200, {"key": "sk-\x1b]0;x\x07"})},
     "POST /key/generate", "a bad or missing 'key'"),
    (["keys", "create", "--alias", "a"], {"/key/list": (200, PAGE), "/key/generate": (200, [1, 2, 3])},
     "POST /key/generate", "JSON list instead of an object"),
    (["keys", "info", TOKEN], {"/key/info": (200, {"info": "x"})}, "GET /key/info", "a bad or missing 'info'"),
    (["teams", "list"], {"/team/list": (200, {"teams": []})}, "GET /team/list", "JSON dict instead of a list"),
    (["teams", "list"], {"/team/list": (200, [{"team_id": 5}])}, "GET /team/list", "a team with a bad or missing 'team_id'"),
    (["teams", "list"], {"/team/list": (200, [{"team_id": "t", "keys": 3}])}, "GET /team/list", "'keys'"),
    (["teams", "info", "t"], {"/team/info": (200, {"team_id": "t"})}, "GET /team/info", "a bad or missing 'team_info'"),
    (["teams", "create"], {"/team/new": (200, {"ok": True})}, "POST /team/new",
     "a bad or missing 'team_id', not what LiteLLM sends; it may have been applied"),
    (["teams", "create", "--team-id", "t"], {"/team/info": (404, {}), "/team/new": (200, "ok")}, "POST /team/new",
     "JSON str instead of an object"),
]


@pytest.mark.parametrize(("args", "answers", "route", "why"), WRONG, ids=[f"{w[2]} {i}" for i, w in enumerate(WRONG)])
def test_a_200_of_the_wrong_shape_is_one_line_never_created(args, answers, route, why):
    with HostileServer("answers", answers=answers) as server:
        result = invoke(server, *args)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""  # no key, no team id, no table
        assert result.stderr.startswith(f"Error: the proxy at {server.url} answered {route} with "), result.stderr
        assert why in result.stderr and result.stderr.count("\n") == 1, result.stderr
        if "total_pages 1000000000000" in why:
            assert len(server.requests) == 1  # not 10**12 of them


def test_names_with_markup_and_control_characters_print_literally():
    """Before: `chat[/bold]-x` crashed `keys list` with MarkupError, and ESC sequences reached the terminal."""
    alias, team = "chat[/bold]-x\x1b[2J", "[red]team\x07"
    row = {"token": TOKEN, "key_alias": alias, "team_id": team, "models": ["m[/]"], "metadata": {"k": "\x1b]0;t\x07"}}
    answers = {"/key/list": (200, {"keys": [row], "total_pages": 1}), "/key/info": (200, {"info": row}),
               "/team/list": (200, [{"team_id": team, "team_alias": alias, "keys": []}]),
               "/team/info": (200, {"team_info": {"team_id": team, "team_alias": alias}, "keys": [{"key_alias": alias, "token": TOKEN}]}),
               "/key/delete": (200, {"deleted_keys": [TOKEN]})}
    with HostileServer("answers", answers=answers) as server:
        outputs = [invoke(server, *args) for args in (
            ("keys", "list"), ("keys", "info", TOKEN), ("teams", "list"), ("teams", "info", "x"),
            ("keys", "revoke", "--alias", "a", "--yes"))]
    for result in outputs:
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output
    assert "chat[/bold]-x\\x1b[2J" in outputs[0].stdout and "m[/]" in outputs[0].stdout
    assert "[red]team\\x07" in outputs[2].stdout
    assert "revoke: alias chat[/bold]-x\\x1b[2J, token aaaaaaaaaaaa…, team [red]team\\x07" in outputs[4].stderr
