"""opsctl init: the reference stack on disk, rendered from the policy, and validated by Compose."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner
from dotenv import dotenv_values

from opsctl.cli import cli
from opsctl.stack.compose import compose_command
from opsctl.policy import load_policy

FILES = [".env", ".env.example", "docker-compose.yml", "litellm/config.yaml", "litellm/custom_callbacks.py"]


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def models(stack) -> dict:
    config = yaml.safe_load((stack / "litellm/config.yaml").read_text())
    return {m["model_name"]: m["litellm_params"] for m in config["model_list"]}


def test_init_writes_the_stack_with_fresh_secrets_and_policy_timeouts(tmp_path):
    stack = tmp_path / "stack"
    result = run("init", str(stack), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(f["path"], f["action"]) for f in report["files"]] == [(name, "create") for name in FILES]

    assert stat.S_IMODE((stack / ".env").stat().st_mode) == 0o600
    env = dotenv_values(stack / ".env")
    assert env["LITELLM_MASTER_KEY"].startswith("sk-") and len(env["LITELLM_MASTER_KEY"]) >= 40
    secrets = [env[k] for k in ("LITELLM_MASTER_KEY", "LITELLM_SALT_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD")]
    assert len(set(secrets)) == 4 and all(len(s) >= 40 for s in secrets)
    assert env["DATABASE_URL"] == f"postgresql://litellm:{env['POSTGRES_PASSWORD']}@postgres:5432/litellm"
    assert set(dotenv_values(stack / ".env.example")) == set(env)  # the example names every variable

    policy = load_policy(None)
    rendered = models(stack)
    assert len(rendered) == 11
    for name, params in rendered.items():
        rule = policy.rule_for(name)
        assert (params["timeout"], params["num_retries"]) == (rule.timeout, rule.num_retries), name
    assert rendered["local-rerank"]["timeout"] == 30 and rendered["chat-default"]["num_retries"] == 2

    # A second init changes nothing, including the secrets.
    again = run("init", str(stack), "--json")
    assert again.exit_code == 0
    assert {f["action"] for f in json.loads(again.stdout)["files"]} == {"keep"}
    assert dotenv_values(stack / ".env") == env


def test_init_refuses_to_overwrite_and_force_keeps_the_secrets(tmp_path):
    stack = tmp_path / "stack"
    assert run("init", str(stack)).exit_code == 0
    env = dotenv_values(stack / ".env")
    compose = stack / "docker-compose.yml"
    compose.write_text(compose.read_text() + "# local edit\n")

    result = run("init", str(stack))
    assert result.exit_code == 9
    assert result.stderr == f"Error: refusing to overwrite docker-compose.yml in {stack} (use --force; .env keeps its values)\n"
    assert compose.read_text().endswith("# local edit\n")

    dry = run("init", str(stack), "--force", "--dry-run")
    assert dry.exit_code == 0
    assert f"would overwrite: {compose}" in dry.stderr
    assert compose.read_text().endswith("# local edit\n")

    assert run("init", str(stack), "--force").exit_code == 0
    assert not compose.read_text().endswith("# local edit\n")
    assert dotenv_values(stack / ".env") == env


def test_init_renders_an_operators_policy_and_names_uncovered_models(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[[tiers]]\nname = "all"\ntimeout = 12.5\nnum_retries = 0\nmodels = ["*"]\n')
    assert run("--policy", str(policy), "init", "a").exit_code == 0
    assert {(p["timeout"], p["num_retries"]) for p in models(tmp_path / "a").values()} == {(12.5, 0)}

    policy.write_text('[[tiers]]\nname = "some"\ntimeout = 5\nnum_retries = 0\nmodels = ["%cloud%", "*-default", "local-*"]\n')
    result = run("--policy", str(policy), "init", "b")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: policy {policy} has no tier for model(s) gemma3-1b-local, llama3.2-1b-local, llamacpp-local, "
        "vllm-qwen2.5-0.5b-instruct: add them to a [[tiers]] models list\n"
    )
    assert not (tmp_path / "b").exists()


def test_compose_validates_the_reference_stack_with_every_profile(tmp_path):
    assert run("init", "stack").exit_code == 0
    checked = subprocess.run(
        [*compose_command(), "--profile", "rerank", "--profile", "gpu", "config", "--format", "json"],
        cwd=tmp_path / "stack", capture_output=True, text=True,
    )
    assert checked.returncode == 0, checked.stderr
    services = json.loads(checked.stdout)["services"]
    assert set(services) == {"postgres", "redis", "migrate", "litellm", "rerank", "vllm"}
    published = [(name, port["host_ip"]) for name, spec in services.items() for port in spec.get("ports", [])]
    assert published and all(ip == "127.0.0.1" for _, ip in published)
    assert services["litellm"]["environment"]["LITELLM_MODE"] == "PRODUCTION"
    assert services["litellm"]["environment"]["DISABLE_SCHEMA_UPDATE"] == "true"
    assert services["litellm"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert all("healthcheck" in spec for name, spec in services.items() if name != "migrate")
    assert services["litellm"]["environment"]["SEPARATE_HEALTH_APP"] == "1"
    assert {(p["host_ip"], p["published"]) for p in services["litellm"]["ports"]} == {("127.0.0.1", "4000"), ("127.0.0.1", "4001")}
    # Postgres for opsctl on the host: loopback only, and not 5432 (a host Postgres may hold it).
    assert [(p["host_ip"], p["published"], p["target"]) for p in services["postgres"]["ports"]] == [("127.0.0.1", "15432", 5432)]
    # Host upstreams by one name on any engine; the cloud tier gets its key.
    assert services["litellm"]["extra_hosts"] in (["host.docker.internal:host-gateway"], ["host.docker.internal=host-gateway"])
    env = dotenv_values(tmp_path / "stack" / ".env")
    host_bases = {name: value for name, value in env.items() if name.endswith("_API_BASE") and "host." in value}
    assert set(host_bases) == {"OLLAMA_LOCAL_API_BASE", "LLAMACPP_API_BASE"}
    assert all(value.startswith("http://host.docker.internal:") for value in host_bases.values())
    assert "OLLAMA_API_KEY" in env and "OLLAMA_API_KEY" in services["litellm"]["environment"]
    cloud = [params for params in models(tmp_path / "stack").values() if params.get("api_base") == "os.environ/OLLAMA_API_BASE"]
    assert len(cloud) == 3 and all(params["api_key"] == "os.environ/OLLAMA_API_KEY" for params in cloud)

    # The one-shot runs the pinned LiteLLM's migration module, with schema updates on.
    migrate = services["migrate"]
    assert migrate["entrypoint"] == ["python", "-m", "litellm.proxy.prisma_migration"]
    assert importlib.util.find_spec("litellm.proxy.prisma_migration") is not None
    assert (migrate["environment"]["DISABLE_SCHEMA_UPDATE"], migrate["restart"]) == ("false", "no")


NOBODY = 65534


def test_init_never_writes_through_a_planted_symlink_or_into_a_foreign_file(tmp_path):
    """Before: a planted `..env.opsctl-tmp` symlink made init write every stack secret into another user's file."""
    victim = tmp_path / "victim"
    victim.write_text("theirs\n")
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "..env.opsctl-tmp").symlink_to(victim)  # the old fixed temporary name
    (stack / ".env.example.opsctl-tmp").symlink_to(victim)
    assert run("init", str(stack)).exit_code == 0
    assert victim.read_text() == "theirs\n"
    assert stat.S_IMODE((stack / ".env").stat().st_mode) == 0o600 and not (stack / ".env").is_symlink()

    for planted, message in [
        (".env", "is a symlink: refusing to write the stack through it"),
        ("litellm", "is a symlink: refusing to write the stack through it"),
    ]:
        other = tmp_path / f"other-{planted}"
        other.mkdir()
        target = other / ".env" if planted == ".env" else other
        if planted == ".env":
            target.write_text("A=1\n")
        fresh = tmp_path / f"s-{planted}"
        fresh.mkdir()
        (fresh / planted).symlink_to(target)
        result = run("init", str(fresh), "--force")
        assert result.exit_code == 9
        assert result.stderr == f"Error: {fresh / planted} {message}\n"
        assert sorted(p.name for p in fresh.iterdir()) == [planted]  # nothing else was written
        assert sorted(p.name for p in other.iterdir()) == ([".env"] if planted == ".env" else [])

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / ".env").write_text("POSTGRES_PASSWORD=x\n")
    os.chown(theirs / ".env", NOBODY, NOBODY)
    result = run("init", str(theirs), "--force")
    assert (result.exit_code, result.stderr) == (
        9, f"Error: {theirs / '.env'} is owned by another user: refusing to write the stack into it\n")

    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / ".env")  # reading it would block forever
    result = run("init", str(fifo))
    assert (result.exit_code, result.stderr) == (9, f"Error: {fifo / '.env'} is not a regular file: refusing to write there\n")


def test_kept_env_values_read_back_the_same_in_dotenv_and_compose(tmp_path):
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / ".env").write_text("POSTGRES_PASSWORD='pa$$ w#rd \"x\"'\nREDIS_PASSWORD=\"two words\"\nEXTRA=a=b\n")
    (stack / ".env").chmod(0o600)
    assert run("init", str(stack), "--force").exit_code == 0
    env = dotenv_values(stack / ".env")
    assert (env["POSTGRES_PASSWORD"], env["REDIS_PASSWORD"], env["EXTRA"]) == ('pa$$ w#rd "x"', "two words", "a=b")
    checked = subprocess.run([*compose_command(), "config", "--format", "json"], cwd=stack, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    environment = json.loads(checked.stdout)["services"]["postgres"]["environment"]
    # `compose config` prints a literal "$" as "$$" (so its output reads back the same): no interpolation happened.
    assert environment["POSTGRES_PASSWORD"].replace("$$", "$") == 'pa$$ w#rd "x"'

    (stack / ".env").write_text("POSTGRES_PASSWORD=\"it's\\nmultiline\"\n")
    result = run("init", str(stack), "--force")
    assert result.exit_code == 2
    assert result.stderr == ("Error: .env: the value of POSTGRES_PASSWORD holds a quote, backslash or control character "
                             "that Compose and python-dotenv read differently: edit .env by hand\n")
    assert (stack / ".env").read_text() == "POSTGRES_PASSWORD=\"it's\\nmultiline\"\n"


def fresh_shell_env(tmp_path) -> dict:
    """A new login's environment: no venv on PATH; PYTHONPATH only so the code under test is the one run."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "LANG": "C.UTF-8"}


def venv_opsctl() -> str:
    script = os.path.join(os.path.dirname(sys.executable), "opsctl")
    assert os.access(script, os.X_OK), f"{script}: opsctl is not installed in this venv"
    return script


def test_inits_closing_hint_runs_as_printed_from_a_fresh_shell(tmp_path):
    """Before: `opsctl --stack-dir stack up`, which a shell without the venv activated does not find."""
    env = fresh_shell_env(tmp_path)
    done = subprocess.run([venv_opsctl(), "init", "stack"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    hint = done.stderr.strip().splitlines()[-1]
    assert hint == f"next: review stack/.env, then `{venv_opsctl()} --stack-dir stack up`"
    command = hint.split("`")[1]
    # The same command with a verb that needs no engine: it runs, and reads the stack's own .env.
    shown = subprocess.run(["sh", "-c", command.removesuffix(" up") + " config show --json"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    rows = {row["name"]: row for row in json.loads(shown.stdout)}
    assert (rows["master_key"]["source"], rows["database_url"]["source"]) == ("stack/.env", "stack/.env")
    assert rows["database_url"]["value"].endswith("@127.0.0.1:15432/litellm")


def test_readmes_next_step_runs_as_written_from_a_fresh_shell(tmp_path):
    """README: step 1 makes .venv and stack in the checkout; the next step must work without activating it."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    step = re.search(r"Compose v2 plugin exist: `([^`]+)`", readme)
    assert step, "README's next step moved: update this test"
    assert step.group(1) == "cd stack && ../.venv/bin/opsctl up"
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "opsctl").symlink_to(venv_opsctl())  # the checkout's venv, as step 1 leaves it
    env = fresh_shell_env(tmp_path)
    subprocess.run([".venv/bin/opsctl", "init", "stack"], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=60)
    shown = subprocess.run(["sh", "-c", step.group(1).removesuffix(" up") + " config show --json"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert {row["name"]: row["source"] for row in json.loads(shown.stdout)}["master_key"] == ".env"


def test_the_hint_says_opsctl_only_when_path_finds_this_one(tmp_path):
    from opsctl.invocation import opsctl_command

    script = tmp_path / "venv" / "bin" / "opsctl"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert opsctl_command(str(script), path="/usr/bin:/bin") == str(script)
    assert opsctl_command(str(script), path=f"{script.parent}:/usr/bin") == "opsctl"
    assert opsctl_command("/x/opsctl/__main__.py", path="/usr/bin") == f"{sys.executable} -m opsctl"
    spaced = tmp_path / "my venv" / "opsctl"
    spaced.parent.mkdir()
    spaced.write_text("")
    assert opsctl_command(str(spaced), path="/usr/bin") == f"'{spaced}'"
