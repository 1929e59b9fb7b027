"""How proxy failures reach the user: retries, ambiguity, auth, no database, no proxy."""

import json
import socket


def test_reads_are_retried_on_503_and_dropped_connections(fake_target):
    fake = fake_target.fake
    fake.inject("/key/list", "503")
    fake.inject("/key/list", "drop")
    result = fake_target.run("keys", "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert len(fake.seen("/key/list")) == 3


def test_generate_is_not_retried_after_an_ambiguous_drop(fake_target):
    fake = fake_target.fake
    fake.inject("/key/generate", "drop_after")  # the key is minted, the answer is lost
    result = fake_target.run("keys", "create", "--alias", "lost")
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: the proxy at {fake.url} dropped the connection during POST /key/generate; it may have been applied;"
        " check `opsctl keys list --alias` and re-run with --rotate if it exists\n"
    )
    assert len(fake.seen("/key/generate")) == 1 and fake.key_aliases() == ["lost"]
    rerun = fake_target.run("keys", "create", "--alias", "lost", "--rotate")  # what the message advises
    assert rerun.exit_code == 0 and rerun.stdout.startswith("sk-")
    assert fake.key_aliases() == ["lost"]


def test_wrong_master_key(target):
    for args in (("keys", "list"), ("teams", "list"), ("keys", "create", "--alias", f"{target.prefix}-x")):
        result = target.run(*args, LITELLM_MASTER_KEY="sk-wrong-master-key-123")
        assert result.exit_code == 4, (args, result.stderr)
        assert result.stderr == f"Error: the proxy at {target.url} rejected the master key (HTTP 401): check LITELLM_MASTER_KEY\n"
        assert "sk-wrong" not in result.stdout + result.stderr
    assert target.rows('SELECT 1 FROM "LiteLLM_VerificationToken" WHERE key_alias = %s', f"{target.prefix}-x") == []


def test_missing_master_key_fails_before_any_request(fake_target):
    result = fake_target.run("teams", "list", LITELLM_MASTER_KEY="")
    assert result.exit_code == 2
    assert result.stderr == "Error: no master key: set LITELLM_MASTER_KEY (environment, .env or ~/.007) or pass --master-key\n"
    assert fake_target.fake.requests == []


def test_proxy_without_database(fake_target):
    fake_target.fake.db_connected = False
    result = fake_target.run("keys", "create", "--alias", "x")
    assert result.exit_code == 3
    assert result.stderr == f"Error: the proxy at {fake_target.url} has no database (set DATABASE_URL on the proxy); GET /key/list needs one\n"
    teams = fake_target.run("teams", "list")  # LiteLLM says it with a 400 on this route
    assert teams.stderr == f"Error: the proxy at {fake_target.url} has no database (set DATABASE_URL on the proxy); GET /team/list needs one\n"


def test_unreachable_proxy_is_retried_then_reported(fake_target):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens
    url = f"http://user:secret@127.0.0.1:{port}"
    result = fake_target.run("keys", "create", "--alias", "x", LITELLM_PROXY_URL=url)
    assert result.exit_code == 3
    assert result.stderr == f"Error: cannot reach the proxy at http://127.0.0.1:{port} (ConnectError)\n"


def test_secrets_never_appear_in_other_commands(fake_target):
    created = fake_target.run("keys", "create", "--alias", "s", "--team", "sec")
    assert created.exit_code == 2  # no such team yet
    assert fake_target.run("teams", "create", "--team-id", "sec").exit_code == 0
    key = fake_target.run("keys", "create", "--alias", "s", "--team", "sec").stdout.strip()
    outputs = [
        fake_target.run(*args)
        for args in (
            ("keys", "list"), ("keys", "list", "--json"), ("keys", "info", key), ("keys", "info", key, "--json"),
            ("teams", "info", "sec", "--json"), ("teams", "list", "--json"), ("keys", "create", "--alias", "s", "--json"),
            ("keys", "revoke", key, "--dry-run", "--json"), ("keys", "revoke", key, "--yes"), ("keys", "info", key),
        )
    ]
    assert [o.exit_code for o in outputs] == [0] * 9 + [1]
    for output in outputs:
        text = output.stdout + output.stderr
        assert key not in text and key[3:] not in text and fake_target.master_key not in text
        assert "sk-..." not in text  # nor LiteLLM's key_name fragment
    # `keys info KEY` and `keys revoke KEY` sent the hash: the plaintext never went over the wire
    assert all(key not in json.dumps([s.query, s.body]) for s in fake_target.fake.requests)
