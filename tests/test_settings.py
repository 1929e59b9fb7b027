"""Settings: source precedence, .env and ~/.007, LITELLM_MODE=PRODUCTION, and `opsctl config show`."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from dotenv import dotenv_values
from hypothesis import given, settings, strategies as st

from opsctl.cli import cli
from opsctl.errors import OpsctlError
from opsctl.settings import load_settings, plain_dotenv_values

MASTER_KEY = "sk-master-0123456789abcdef"


def show(*args: str) -> tuple[dict, str]:
    result = CliRunner().invoke(cli, [*args, "config", "show", "--json"])
    assert result.exit_code == 0, result.output
    assert MASTER_KEY not in result.output and "dbpass-secret" not in result.output
    return {row["name"]: row for row in json.loads(result.stdout)}, result.stderr


def test_config_show_masks_secrets_and_reports_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("LITELLM_MASTER_KEY", MASTER_KEY)
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://litellm:dbpass-secret@db:5432/litellm\n")
    rows, stderr = show("--proxy-url", "http://127.0.0.1:4100")
    assert rows["master_key"] == {"name": "master_key", "env": "LITELLM_MASTER_KEY", "value": "sk-****",
                                  "source": "environment", "note": None}
    # the password is masked, which database it is stays visible
    assert rows["database_url"]["value"] == "postgresql://litellm:****@db:5432/litellm"
    assert rows["database_url"]["source"] == ".env"
    assert (rows["proxy_url"]["value"], rows["proxy_url"]["source"]) == ("http://127.0.0.1:4100", "option")
    assert (rows["stack_dir"]["value"], rows["stack_dir"]["source"]) == (".", "default")
    assert (rows["policy_file"]["value"], rows["policy_file"]["source"]) == (None, "default")
    assert stderr == "Sources consulted, highest first: option, environment, .env, default\n"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://postgres@127.0.0.1:5432/litellm", "postgresql://postgres@127.0.0.1:5432/litellm"),
        ("postgresql://u:p%40ss@db/litellm", "postgresql://u:****@db/litellm"),
        ("postgresql://db/litellm?password=dbpass-secret", "pos****"),  # libpq reads a password here too
        ("host=db password=dbpass-secret", "hos****"),  # a key=value DSN
    ],
)
def test_database_url_shows_where_not_the_password(url, shown, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", url)
    rows, _ = show()
    assert rows["database_url"]["value"] == shown


def test_config_show_table_never_prints_the_secret(monkeypatch):
    monkeypatch.setenv("LITELLM_MASTER_KEY", MASTER_KEY)
    result = CliRunner().invoke(cli, ["config", "show"])
    assert result.exit_code == 0
    assert "LITELLM_MASTER_KEY" in result.stdout and "sk-****" in result.stdout
    assert MASTER_KEY not in result.output


def test_real_environment_beats_dotenv_which_beats_secrets_file(tmp_path, isolated_env, monkeypatch):
    (isolated_env / ".007").write_text("LITELLM_MASTER_KEY=from-007-xxxxxxxx\nOPSCTL_STACK_DIR=/srv/007\n"
                                       "COMPOSE_PROJECT_NAME=from007\n")
    (isolated_env / ".007").chmod(0o600)
    (tmp_path / ".env").write_text("LITELLM_MASTER_KEY=from-dotenv-xxxxxxx\nOPSCTL_STACK_DIR=/srv/dotenv\n")
    monkeypatch.setenv("LITELLM_MASTER_KEY", "from-environment-xx")
    settings = load_settings()
    assert settings.master_key == "from-environment-xx" and settings.source_of("master_key") == "environment"
    assert settings.stack_dir == "/srv/dotenv" and settings.source_of("stack_dir") == ".env"
    assert settings.compose_project == "from007" and settings.source_of("compose_project") == "~/.007"
    assert settings.warnings == ()
    # and an option beats them all
    assert load_settings({"master_key": "from-option-xxxxxx"}).source_of("master_key") == "option"


def test_production_mode_skips_dotenv_but_reads_secrets_file(tmp_path, isolated_env, monkeypatch):
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://from-dotenv/db\n")
    (tmp_path / "other.env").write_text("DATABASE_URL=postgresql://from-other/db\n")
    (isolated_env / ".007").write_text("LITELLM_MASTER_KEY=from-007-xxxxxxxx\n")
    (isolated_env / ".007").chmod(0o600)
    monkeypatch.setenv("LITELLM_MODE", "PRODUCTION")
    settings = load_settings()
    assert settings.database_url is None
    assert settings.master_key == "from-007-xxxxxxxx"
    rows, stderr = show("--env-file", "other.env")
    assert rows["database_url"]["value"] is None
    assert "Warning: LITELLM_MODE=PRODUCTION: ignoring other.env" in stderr
    assert "Sources consulted, highest first: option, environment, ~/.007, default" in stderr.splitlines()


@pytest.mark.parametrize(("mode", "reads_dotenv"), [("DEV", True), ("production", False), ("", False)])
def test_dotenv_is_read_only_in_litellms_dev_mode(tmp_path, monkeypatch, mode, reads_dotenv):
    """LiteLLM loads .env only while LITELLM_MODE is unset or exactly DEV (litellm/__init__.py)."""
    (tmp_path / ".env").write_text("OPSCTL_STACK_DIR=/from/dotenv\n")
    monkeypatch.setenv("LITELLM_MODE", mode)
    assert (load_settings().stack_dir == "/from/dotenv") is reads_dotenv


def test_env_file_option_replaces_dotenv(tmp_path):
    (tmp_path / ".env").write_text("OPSCTL_STACK_DIR=/from/dotenv\n")
    (tmp_path / "other.env").write_text("OPSCTL_STACK_DIR=/from/other\n")
    settings = load_settings(env_file="other.env")
    assert (settings.stack_dir, settings.source_of("stack_dir")) == ("/from/other", "other.env")


def test_missing_env_file_is_a_usage_error():
    result = CliRunner().invoke(cli, ["--env-file", "nope.env", "config", "show"])
    assert result.exit_code == 2
    assert "Error: env file not found: nope.env" in result.stderr
    with pytest.raises(OpsctlError):
        load_settings(env_file="nope.env")


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o640, True), (0o600, False)])
def test_secrets_file_readable_by_others_is_warned_about(isolated_env, mode, warned):
    secrets = isolated_env / ".007"
    secrets.write_text(f"LITELLM_MASTER_KEY={MASTER_KEY}\n")
    secrets.chmod(mode)
    rows, stderr = show()
    assert rows["master_key"]["source"] == "~/.007"
    expected = f"Warning: {secrets} is readable by group or others (mode {mode:04o}); run: chmod 600 {secrets}"
    assert (expected in stderr.splitlines()) is warned
    assert ("Warning" in stderr) is warned


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgresql://postgres:PWSECRET99@[::1/db", "its [IPv6] host is not closed"),
        ("postgresql://postgres:PWSECRET99@db:99999/db", "its port is not a number from 1 to 65535"),
        ("mysql://root:PWSECRET99@db/x", "it must start with postgresql:// or postgres://"),
        ("PWSECRET99", "expected postgresql://user:password@host:port/dbname"),
        # Before: a traceback (psycopg cannot decode it) from every DB command.
        ("postgresql://%99:PWSECRET99@db/litellm", "a %-escape in it is not UTF-8 text"),
    ],
)
def test_a_malformed_database_url_is_never_echoed(url, why, monkeypatch):
    """Before: `postgresql://postgres:PWSECRET99@[::1/db` printed the password in the error."""
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["db", "status"])
    assert result.exit_code == 2
    assert result.stderr == f"Error: DATABASE_URL is not a valid Postgres URL: {why}\n"
    assert "PWSECRET99" not in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--proxy-url", "http://127.0.0.1:99999"], {},
         "Error: --proxy-url is not a usable proxy URL: its port is not a number from 1 to 65535 (expected e.g. http://127.0.0.1:4000)\n"),
        (["--proxy-url", "http://[::1"], {},
         "Error: --proxy-url is not a usable proxy URL: its [IPv6] host is not closed (expected e.g. http://127.0.0.1:4000)\n"),
        ([], {"LITELLM_PROXY_URL": "ftp://u:PWSECRET99@h"},
         "Error: LITELLM_PROXY_URL is not a usable proxy URL: it must start with http:// or https:// (expected e.g. http://127.0.0.1:4000)\n"),
        (["--master-key", "sk-clé-PWSECRET99"], {},
         "Error: --master-key holds characters an HTTP header cannot carry (non-ASCII, spaces or control characters): check the key\n"),
        ([], {"LITELLM_MASTER_KEY": "sk-PWSECRET99\r\nX-Injected: 1"},
         "Error: LITELLM_MASTER_KEY holds characters an HTTP header cannot carry (non-ASCII, spaces or control characters): check the key\n"),
        ([], {"OPSCTL_DEADLINE": "nan"}, "Error: OPSCTL_DEADLINE must be a number of seconds from 0 to 86400\n"),
    ],
)
def test_bad_proxy_url_master_key_or_deadline_is_a_usage_error(args, env, message, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if "LITELLM_MASTER_KEY" not in env and "--master-key" not in args:
        monkeypatch.setenv("LITELLM_MASTER_KEY", MASTER_KEY)
    result = CliRunner().invoke(cli, [*args, "keys", "list"])
    assert (result.exit_code, result.stderr) == (2, message)
    assert "PWSECRET99" not in result.output


def test_a_dotenv_file_that_is_not_text_or_not_a_file(tmp_path):
    import os

    (tmp_path / "bad.env").write_bytes(b"A=caf\xe9\n")
    result = CliRunner().invoke(cli, ["--env-file", "bad.env", "config", "show"])
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (2, "Error: env file bad.env is not UTF-8 text (byte 5)")
    os.mkfifo(tmp_path / "fifo.env")  # reading it would block forever
    result = CliRunner().invoke(cli, ["--env-file", "fifo.env", "config", "show"])
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (2, "Error: env file fifo.env is not a regular file")


STACK_ENV = "DATABASE_URL=postgresql://litellm:dbpass-secret@postgres:5432/litellm?connect_timeout=10\n"


def test_the_stacks_in_container_database_url_is_used_host_side(tmp_path):
    """Before: `cd stack && opsctl db status` tried host `postgres` and failed to resolve it."""
    (tmp_path / ".env").write_text(STACK_ENV + "POSTGRES_HOST_PORT=25433\n")
    settings = load_settings(environ={}, cwd=tmp_path, home=tmp_path / "nohome")
    assert settings.database_url == "postgresql://litellm:dbpass-secret@127.0.0.1:25433/litellm?connect_timeout=10"
    assert settings.source_of("database_url") == ".env"
    rows, _ = show()
    assert rows["database_url"]["value"] == "postgresql://litellm:****@127.0.0.1:25433/litellm?connect_timeout=10"
    assert rows["database_url"]["note"] == (".env names the compose service 'postgres': using the port compose publishes "
                                            "on the host, 127.0.0.1:25433 (POSTGRES_HOST_PORT from .env)")
    table = CliRunner().invoke(cli, ["config", "show"])
    assert "127.0.0.1:25433" in table.stdout and "compose service" in table.stdout and "dbpass-secret" not in table.output


def test_the_host_port_defaults_to_the_templates_and_the_shell_wins_as_in_compose(tmp_path):
    from opsctl.settings import DEFAULT_DB_HOST_PORT
    from opsctl.stack.render import template_files

    (tmp_path / ".env").write_text(STACK_ENV)
    compose = template_files()["docker-compose.yml"]
    assert f'"127.0.0.1:${{POSTGRES_HOST_PORT:-{DEFAULT_DB_HOST_PORT}}}:5432"' in compose
    assert f"POSTGRES_HOST_PORT={DEFAULT_DB_HOST_PORT}\n" in template_files()[".env.example"]
    settings = load_settings(environ={}, cwd=tmp_path, home=tmp_path / "nohome")
    assert settings.database_url.startswith(f"postgresql://litellm:dbpass-secret@127.0.0.1:{DEFAULT_DB_HOST_PORT}/")
    assert settings.notes["database_url"].endswith("(POSTGRES_HOST_PORT from default)")
    settings = load_settings(environ={"POSTGRES_HOST_PORT": "25999"}, cwd=tmp_path, home=tmp_path / "nohome")
    assert "@127.0.0.1:25999/" in settings.database_url


@pytest.mark.parametrize("url", [
    "postgresql://litellm:pw@db:5432/litellm",          # another host: a database of the operator's own
    "postgresql://litellm:pw@postgres:6543/litellm",    # not the service's port
    "host=postgres dbname=litellm",                     # a DSN: left to libpq
])
def test_other_database_urls_are_used_as_written(tmp_path, url):
    (tmp_path / ".env").write_text(f"DATABASE_URL={url}\n")
    settings = load_settings(environ={}, cwd=tmp_path, home=tmp_path / "nohome")
    assert (settings.database_url, settings.notes) == (url, {})


def test_only_a_dotenv_url_is_rewritten_not_the_environment_or_an_option(tmp_path):
    url = "postgresql://litellm:pw@postgres:5432/litellm"  # inside a container on the stack's network, as given
    assert load_settings(environ={"DATABASE_URL": url}, cwd=tmp_path, home=tmp_path / "nohome").database_url == url
    assert load_settings({"database_url": url}, environ={}, cwd=tmp_path, home=tmp_path / "nohome").database_url == url


def test_a_bad_host_port_leaves_the_url_and_says_why(tmp_path):
    (tmp_path / ".env").write_text(STACK_ENV + "POSTGRES_HOST_PORT=fifteen\n")
    settings = load_settings(environ={}, cwd=tmp_path, home=tmp_path / "nohome")
    assert "@postgres:5432/" in settings.database_url
    assert settings.notes["database_url"].endswith("but POSTGRES_HOST_PORT (from .env) is not a port: used as written")


@pytest.mark.parametrize("how", ["option", "environment"])
def test_pointed_at_a_stack_directory_its_env_is_read(tmp_path, how):
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / ".env").write_text(STACK_ENV + f"LITELLM_MASTER_KEY={MASTER_KEY}\n")
    (tmp_path / ".env").write_text("LITELLM_MASTER_KEY=sk-not-the-stacks-key-xxxx\n")
    options, environ = ({"stack_dir": "stack"}, {}) if how == "option" else ({}, {"OPSCTL_STACK_DIR": "stack"})
    settings = load_settings(options, environ=environ, cwd=tmp_path, home=tmp_path / "nohome")
    assert settings.master_key == MASTER_KEY and settings.source_of("master_key") == "stack/.env"
    assert settings.database_url.startswith("postgresql://litellm:dbpass-secret@127.0.0.1:15432/")
    assert settings.read_from == ("option", "environment", "stack/.env")


# The plain-file reader (settings.plain_dotenv_values) against python-dotenv itself.
_PLAIN_KEY = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
# Plain characters, and the few that make python-dotenv read a line differently (quotes, comments,
# interpolation, escapes, spaces, a lone carriage return), so a wrong shortcut is found.
_VALUE = st.text(alphabet="aZ09_./:@%+,=-" + " #$\"'\\\r\t{}", max_size=12)
_ASCII = st.text(alphabet=st.characters(max_codepoint=127), max_size=16)
_LINE = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", _PLAIN_KEY, _VALUE),
    st.builds(lambda k, v, q: f"{k}={q}{v}{q}", _PLAIN_KEY, _VALUE, st.sampled_from(["'", '"'])),
    st.builds(lambda pad, text: f"{pad}#{text}", st.sampled_from(["", " ", "\t "]), _VALUE),
    st.sampled_from(["", " ", "\t", "export A=1", "A = 1", " A=1"]),
    _ASCII,
    st.text(max_size=8),  # not ASCII at all
)


@settings(max_examples=600, deadline=None)
@given(lines=st.lists(_LINE, max_size=8), ending=st.sampled_from(["\n", "\r\n"]), last=st.sampled_from(["", "\n"]))
def test_plain_files_read_exactly_as_python_dotenv_reads_them(lines, ending, last):
    text = ending.join(lines) + last
    plain = plain_dotenv_values(text)
    if plain is not None:
        assert plain == {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


def test_the_env_file_init_writes_is_plain(tmp_path):
    written = tmp_path / "stack"
    CliRunner().invoke(cli, ["init", str(written)], catch_exceptions=False)
    text = (written / ".env").read_text()
    assert plain_dotenv_values(text) == dict(dotenv_values(written / ".env"))
    assert plain_dotenv_values('KEY="quoted value"\n') is None and plain_dotenv_values("A=${B}\n") is None
