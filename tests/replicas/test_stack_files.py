"""`opsctl init --replicas N` for compose: N=1 is today's stack byte for byte; N>1 is
litellm-1..N behind an HAProxy `lb`, checked by Compose's own model and haproxy -c."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest
import yaml
from click.testing import CliRunner
from dotenv import dotenv_values

from opsctl.cli import cli
from opsctl.policy import load_policy
from opsctl.stack.compose import compose_command
from opsctl.stack.render import CONFIG, render_config, template_files

SECRETS = ("LITELLM_MASTER_KEY", "LITELLM_SALT_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "DATABASE_URL")


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def tree(stack) -> dict[str, bytes]:
    return {str(p.relative_to(stack)): p.read_bytes() for p in sorted(stack.rglob("*")) if p.is_file()}


def compose_model(stack) -> dict:
    checked = subprocess.run([*compose_command(), "config", "--format", "json"], cwd=stack, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    return json.loads(checked.stdout)["services"]


def test_one_replica_is_todays_stack_byte_for_byte(tmp_path):
    assert run("init", "plain").exit_code == 0
    assert run("init", "one", "--replicas", "1").exit_code == 0
    expected = template_files()
    expected[CONFIG] = render_config(expected[CONFIG], load_policy(None))
    one, plain = tree(tmp_path / "one"), tree(tmp_path / "plain")
    for files in (one, plain):
        assert {rel: files[rel].decode() for rel in expected} == expected
    assert set(one) == set(plain) == {*expected, ".env", ".opsctl-template.lock"}
    assert set(dotenv_values(tmp_path / "one" / ".env")) == set(dotenv_values(tmp_path / "plain" / ".env"))
    assert not (tmp_path / "one" / "haproxy").exists()


def test_three_replicas_behind_the_lb_the_only_published_service(tmp_path):
    result = run("init", "stack", "--replicas", "3", "--json")
    assert result.exit_code == 0, result.output
    stack = tmp_path / "stack"
    written = {f["path"] for f in json.loads(result.stdout)["files"]}
    assert "haproxy/haproxy.cfg" in written
    assert stat.S_IMODE(os.lstat(stack / "haproxy" / "run").st_mode) == 0o700

    services = compose_model(stack)
    assert set(services) == {"postgres", "redis", "migrate", "litellm-1", "litellm-2", "litellm-3", "lb"}
    published = {name: [(p["host_ip"], p["published"], p["target"]) for p in spec.get("ports", [])]
                 for name, spec in services.items() if spec.get("ports")}
    assert published.pop("lb") == [("127.0.0.1", "4000", 4000), ("127.0.0.1", "4001", 4001)]
    assert set(published) <= {"postgres"}  # opsctl's host-side database access (loopback); never a proxy
    env = dotenv_values(stack / ".env")
    assert (env["OPSCTL_REPLICAS"], env["LB_USER"]) == ("3", f"{os.getuid()}:{os.getgid()}")
    assert services["lb"]["user"] == env["LB_USER"]
    for name in ("litellm-1", "litellm-2", "litellm-3"):
        replica = services[name]
        assert replica["environment"]["REDIS_PASSWORD"] == env["REDIS_PASSWORD"]
        assert replica["environment"]["DATABASE_URL"] == env["DATABASE_URL"]
        assert "/health/readiness" in replica["healthcheck"]["test"][-1]
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["litellm-2"]["environment"] == services["litellm-1"]["environment"]
    mounts = {(v["source"].removeprefix(str(stack) + "/"), v["target"]) for v in services["lb"]["volumes"]}
    assert mounts == {("haproxy/haproxy.cfg", "/usr/local/etc/haproxy/haproxy.cfg"), ("haproxy/run", "/run/haproxy")}

    config = yaml.safe_load((stack / "litellm" / "config.yaml").read_text())
    redis_refs = {"host": "os.environ/REDIS_HOST", "port": "os.environ/REDIS_PORT", "password": "os.environ/REDIS_PASSWORD"}
    assert config["general_settings"]["coordination_redis"] == redis_refs
    assert {k: config["router_settings"][f"redis_{k}"] for k in redis_refs} == redis_refs

    cfg = (stack / "haproxy" / "haproxy.cfg").read_text()
    assert "option httpchk GET /health/readiness" in cfg
    for i in (1, 2, 3):
        assert f"server litellm-{i} litellm-{i}:4000 check" in cfg
        assert f"server litellm-{i} litellm-{i}:4001 track litellm/litellm-{i}" in cfg
    if shutil.which("haproxy"):  # the names resolve only on the compose network: a warning, not an error
        checked = subprocess.run(["haproxy", "-c", "-f", str(stack / "haproxy" / "haproxy.cfg")], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_the_count_is_kept_from_env_and_changed_with_force(tmp_path):
    stack = tmp_path / "stack"
    assert run("init", "stack", "--replicas", "3").exit_code == 0
    secrets = {name: dotenv_values(stack / ".env")[name] for name in SECRETS}

    again = run("init", "stack", "--json")  # no --replicas: the count .env records
    assert {f["action"] for f in json.loads(again.stdout)["files"]} == {"keep"}

    result = run("init", "stack", "--replicas", "2")
    assert result.exit_code == 9 and "refusing to overwrite" in result.stderr
    assert run("init", "stack", "--replicas", "2", "--force").exit_code == 0
    assert set(compose_model(stack)) == {"postgres", "redis", "migrate", "litellm-1", "litellm-2", "lb"}
    assert "litellm-3" not in (stack / "haproxy" / "haproxy.cfg").read_text()
    env = dotenv_values(stack / ".env")
    assert env["OPSCTL_REPLICAS"] == "2" and {name: env[name] for name in SECRETS} == secrets

    diff = run("init", "stack", "--diff", "--replicas", "3")
    assert (diff.exit_code, diff.stderr) == (2, "Error: stack/.env records 2 replica(s): change the count with "
                                                "`opsctl init stack --replicas 3 --force` (.env keeps its secrets)\n")

    assert run("init", "stack", "--replicas", "1", "--force").exit_code == 0
    assert (stack / "docker-compose.yml").read_text() == template_files()["docker-compose.yml"]
    env = dotenv_values(stack / ".env")
    assert env["OPSCTL_REPLICAS"] == "1" and {name: env[name] for name in SECRETS} == secrets
    assert run("init", "stack", "--json").exit_code == 0  # 1 is recorded now: still today's stack
    assert (stack / "docker-compose.yml").read_text() == template_files()["docker-compose.yml"]


@pytest.mark.parametrize("args, env_line, error", [
    (["--replicas", "33"], None, "Error: --replicas must be between 1 and 32, not 33\n"),
    ([], "OPSCTL_REPLICAS=three\n", "Error: .env: OPSCTL_REPLICAS='three' is not a number of replicas\n"),
])
def test_a_bad_count_is_one_line_and_writes_nothing(tmp_path, args, env_line, error):
    stack = tmp_path / "stack"
    if env_line:
        stack.mkdir()
        (stack / ".env").write_text(env_line)
    result = run("init", "stack", *args)
    assert (result.exit_code, result.stderr) == (2, error)
    assert sorted(p.name for p in stack.glob("*")) == ([".env"] if env_line else [])
