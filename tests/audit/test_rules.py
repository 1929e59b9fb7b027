"""The parts of the checks that read files the way compose and LiteLLM do."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from opsctl.audit import masterkey
from opsctl.audit.checks.boundaries import no_inline_secrets, ports_loopback
from opsctl.audit.registry import Status
from opsctl.audit.stackfiles import load_stack
from opsctl.policy import load_policy
from tests.audit.stacks import failing, init_stack, run_audit, statuses


def _compose_only(tmp_path, compose: str, dotenv: str = ""):
    (tmp_path / "docker-compose.yml").write_text(compose)
    (tmp_path / ".env").write_text(dotenv)
    return load_stack(tmp_path, load_policy(), tmp_path / "home")


@pytest.mark.parametrize("port, status, fix", [
    ('"127.0.0.1:4000:4000"', Status.PASS, None),
    ('"[::1]:4000:4000"', Status.PASS, None),
    ('"${BIND:-127.0.0.1}:4000:4000"', Status.PASS, None),
    ('"4000:4000"', Status.FAIL, 'publish "127.0.0.1:4000:4000" instead of "4000:4000" at docker-compose.yml:5'),
    ('"4000"', Status.FAIL, 'publish "127.0.0.1::4000" instead of "4000" at docker-compose.yml:5'),  # random host port
    ('"0.0.0.0:4000:4000/tcp"', Status.FAIL,
     'publish "127.0.0.1:4000:4000/tcp" instead of "0.0.0.0:4000:4000/tcp" at docker-compose.yml:5'),
    ("{target: 4000, published: 4000}", Status.FAIL, "set host_ip: 127.0.0.1 at docker-compose.yml:5"),
    ("{target: 4000, published: 4000, host_ip: 127.0.0.1}", Status.PASS, None),
])
def test_port_bindings(tmp_path, port, status, fix):
    files = _compose_only(tmp_path, f"services:\n  litellm:\n    image: litellm\n    ports:\n      - {port}\n")
    result = ports_loopback(files)
    assert result.status is status
    assert result.evidence[0].path == "docker-compose.yml" and result.evidence[0].line == 5
    assert result.fix == fix


def test_a_port_interpolated_from_dotenv_onto_every_interface_fails(tmp_path):
    files = _compose_only(tmp_path, 'services:\n  litellm:\n    ports: ["${BIND:-127.0.0.1}:4000:4000"]\n', "BIND=0.0.0.0\n")
    result = ports_loopback(files)
    assert result.status is Status.FAIL
    assert str(result.evidence[0]) == "docker-compose.yml:3: litellm publishes 0.0.0.0:4000:4000 on every interface"
    assert result.fix == "make the host IP in ${BIND:-127.0.0.1}:4000:4000 at docker-compose.yml:3 resolve to 127.0.0.1 (it is 0.0.0.0 now)"


def test_host_networking_fails(tmp_path):
    files = _compose_only(tmp_path, "services:\n  litellm:\n    network_mode: host\n")
    assert str(ports_loopback(files).evidence[0]) == (
        "docker-compose.yml:3: service litellm uses network_mode: host (every port is public)")


@pytest.mark.parametrize("entry, inline", [
    ("DATABASE_URL: postgresql://llm:hunter22@db:5432/litellm", True),
    ("DATABASE_URL: postgresql://llm:${POSTGRES_PASSWORD}@db:5432/litellm", False),
    ("LITELLM_MASTER_KEY: ${LITELLM_MASTER_KEY:-sk-fallback-key}", True),  # a literal default is inline
    ("LITELLM_MASTER_KEY: ${LITELLM_MASTER_KEY:?set it in .env}", False),
    ("REDIS_PASSWORD: ''", False),
    ("UI_PASSWORD: changeme", True),
])
def test_inline_secrets_in_compose(tmp_path, entry, inline):
    files = _compose_only(tmp_path, f"services:\n  litellm:\n    environment:\n      {entry}\n")
    result = no_inline_secrets(files)
    assert result.status is (Status.FAIL if inline else Status.PASS)
    if inline:
        assert result.evidence[0].line == 4 and "hunter22" not in str(result.evidence[0])


def test_a_dotenv_secret_copied_into_a_command_fails_without_showing_it(tmp_path):
    files = _compose_only(tmp_path, "services:\n  redis:\n    image: redis\n    command: redis-server --requirepass s3cr3t-redis-pw\n",
                          "REDIS_PASSWORD=s3cr3t-redis-pw\n")
    result = no_inline_secrets(files)
    assert result.status is Status.FAIL
    assert {str(e) for e in result.evidence} == {
        "docker-compose.yml:4: services.redis.command holds a password on a command line",
        "docker-compose.yml:4: the value of REDIS_PASSWORD from .env is written inline",
    }


def test_the_master_key_rule_is_litellms():
    from litellm.proxy.auth import master_key_boot_check as litellm_rule

    assert masterkey.PUBLICLY_KNOWN_MASTER_KEY_SHA256_DIGESTS == litellm_rule.PUBLICLY_KNOWN_MASTER_KEY_SHA256_DIGESTS
    assert masterkey.OVERRIDE_SETTING == litellm_rule.WEAK_OR_UNSET_MASTER_KEY_OVERRIDE_SETTING
    assert masterkey.OVERRIDE_ENV_VAR == litellm_rule.WEAK_OR_UNSET_MASTER_KEY_OVERRIDE_ENV_VAR
    for key in (None, "", "   ", "sk-1234", " sk-1234 ", "sk-a-real-looking-key-0123456789"):
        theirs = litellm_rule._unsafe_reason(key)
        assert masterkey.unsafe_reason(key) == (theirs.value if theirs else None), key


def test_the_weak_key_override_fails_even_with_a_good_key(tmp_path):
    stack = init_stack(tmp_path / "stack")
    from tests.audit.stacks import set_proxy_env

    set_proxy_env(stack, "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY", "true")
    result, data = run_audit("audit", str(stack), "--json")
    assert statuses(data)["master-key"] == "FAIL" and result.exit_code == 1


def test_an_operator_policy_with_other_key_defaults_fails_at_its_line(tmp_path):
    stack = init_stack(tmp_path / "stack")
    policy = tmp_path / "policy.toml"
    policy.write_text("[keys]\nrpm_limit = 60\ntpm_limit = 60000\n")
    result, data = run_audit("--policy", str(policy), "audit", str(stack), "--json")
    check = next(c for c in data["checks"] if c["check"] == "key-defaults")
    assert check["status"] == "FAIL"
    # [teams] mirrors [keys] when the file has none, so both say 60.
    assert [(e["path"], e["line"], e["text"]) for e in check["evidence"]] == [
        (str(policy), 2, "[keys] rpm_limit is 60, not 120"),
        (str(policy), None, "[teams] rpm_limit is 60, not 120"),
    ]
    assert result.exit_code == 1


def test_broken_yaml_is_a_usage_error_with_its_line(tmp_path):
    stack = init_stack(tmp_path / "stack")
    (stack / "litellm" / "config.yaml").write_text("general_settings:\n  ui_access_mode: admin_only\n bad: [\n")
    result, _ = run_audit("audit", str(stack))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith("Error: litellm/config.yaml:3: not valid YAML: ")


def test_a_directory_without_a_stack_is_a_usage_error(tmp_path):
    result, _ = run_audit("audit", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: not a stack directory: {tmp_path} has neither docker-compose.yml nor litellm/config.yaml"
        f" (create one: opsctl init {tmp_path})")


def test_secret_file_mode_fix_names_the_file(tmp_path, isolated_env):
    stack = init_stack(tmp_path / "stack")
    os.chmod(stack / ".env", 0o640)
    result, data = run_audit("audit", str(stack), "--json")
    check = next(c for c in data["checks"] if c["check"] == "secret-file-modes")
    assert check["evidence"] == [{"path": ".env", "line": None, "text": "mode 0640: readable by group or others"}]
    assert check["fix"] == f"chmod 600 {stack / '.env'}"


def test_files_of_the_wrong_shape_are_findings_not_tracebacks(tmp_path):
    (tmp_path / "litellm").mkdir()
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  litellm:\n    environment: LITELLM_MODE\n    ports: 4000\n  redis: null\n")
    (tmp_path / "litellm" / "config.yaml").write_text(
        "model_list: {chat-default: 1}\nrouter_settings: [fallbacks]\ngeneral_settings: admin_only\n"
        "litellm_settings:\n  callbacks: dynamic_rate_limiter_v3\n  cache_params: redis\n")
    result, data = run_audit("audit", str(tmp_path), "--json")
    assert result.exit_code == 1
    seen = statuses(data)
    assert seen["ui-admin-only"] == "FAIL" and seen["callbacks"] == "FAIL" and seen["fallbacks"] == "FAIL"


def _paths(node, path=()):
    if path:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, path + (index,))


@pytest.mark.parametrize("use_compose", [False, True], ids=["builtin", "compose"])
def test_no_value_of_the_wrong_type_anywhere_crashes_a_check(tmp_path, use_compose):
    """Every node of the reference files (3 levels deep) replaced by null, a number, a list, in turn.

    Our resolver on every node; the real compose (whose answer the checks then read) on a fifth of them.
    """
    import yaml

    from opsctl.audit.runner import run_checks

    stack = init_stack(tmp_path / "stack")
    crashes = []
    for rel in ("docker-compose.yml", "litellm/config.yaml"):
        original = (stack / rel).read_text()
        data = yaml.load(original, Loader=yaml.CSafeLoader)
        paths = [p for p in _paths(data) if len(p) <= 3]
        for path in paths[::5] if use_compose else paths:  # the compose run is the slower one: a sample of it
            for odd in (None, 42, [{"x": [1]}]):
                node = changed = yaml.load(original, Loader=yaml.CSafeLoader)
                for part in path[:-1]:
                    node = node[part]
                node[path[-1]] = odd
                (stack / rel).write_text(yaml.dump(changed, Dumper=yaml.CSafeDumper))
                try:
                    run_checks(load_stack(stack, load_policy(), tmp_path / "home"))
                except Exception as error:  # noqa: BLE001 - collecting every crash is the point
                    crashes.append((rel, path, odd, repr(error)))
        (stack / rel).write_text(original)
    assert crashes == []


def test_a_dotenv_that_is_not_text_is_a_usage_error(tmp_path):
    stack = init_stack(tmp_path / "stack")
    (stack / ".env").write_bytes(b"\xff\xfe\x00binary")
    result, _ = run_audit("audit", str(stack))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == "Error: cannot read .env: not UTF-8 text"


def _shell(command: str, tmp_path) -> subprocess.CompletedProcess:
    """Run a fix as an operator pastes it, with `opsctl` on PATH meaning this checkout."""
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "opsctl").write_text(f'#!/bin/sh\nPYTHONPATH={Path(__file__).resolve().parents[2]} exec {sys.executable} -m opsctl "$@"\n')
    (shim / "opsctl").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}", "HOME": str(tmp_path / "home")}
    return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", ["master-key-from-weak-variable", "one-character-master-key", "well-known-master-key-in-dotenv",
                                  "salt-key-short", "empty-master-key"])
def test_a_key_fix_works_when_pasted(tmp_path, isolated_env, name):
    """The commands before `opsctl up` (which needs an engine) put a strong key where the proxy reads it."""
    from tests.audit.mutations import MUTATIONS

    mutation = next(m for m in MUTATIONS if m.name == name)
    stack = init_stack(tmp_path / "stack")
    mutation.apply(stack, isolated_env)
    _, data = run_audit("audit", str(stack), "--json")
    fix = next(c for c in data["checks"] if c["check"] == mutation.check)["fix"]
    commands = fix.split("then run: ")[-1].split(" && opsctl --stack-dir")[0]
    if "then run: " in fix:  # first the edit of the compose line the fix names
        edit = re.match(r"set (\w+): (.+?) at docker-compose.yml:(\d+)", fix)
        lines = (stack / "docker-compose.yml").read_text().splitlines()
        indent = lines[int(edit[3]) - 1][: len(lines[int(edit[3]) - 1]) - len(lines[int(edit[3]) - 1].lstrip())]
        lines[int(edit[3]) - 1] = f"{indent}{edit[1]}: {edit[2]}"
        (stack / "docker-compose.yml").write_text("\n".join(lines) + "\n")
    assert _shell(commands, tmp_path).returncode == 0
    result, data = run_audit("audit", str(stack), "--json")
    assert failing(data) == set() and result.exit_code == 0, fix


def test_a_missing_config_is_one_fail_naming_it_and_its_fix_restores_it(tmp_path, isolated_env):
    stack = init_stack(tmp_path / "stack")
    (stack / "litellm" / "config.yaml").unlink()
    result, data = run_audit("audit", str(stack), "--json")
    assert failing(data) == {"stack-files"} and result.exit_code == 1
    check = next(c for c in data["checks"] if c["check"] == "stack-files")
    assert [e["text"] for e in check["evidence"]] == ["litellm/config.yaml not found (mounted at /app/config.yaml in service litellm)"]
    skipped = {c["check"] for c in data["checks"] if c["status"] == "SKIP"}
    assert {"ui-admin-only", "fallbacks", "callbacks", "cache-ttl", "config-model-timeouts"} <= skipped
    assert _shell(check["fix"], tmp_path).returncode == 0
    result, data = run_audit("audit", str(stack), "--json")
    assert failing(data) == set() and result.exit_code == 0


def test_a_config_compose_turned_into_a_directory_is_one_fail(tmp_path, isolated_env):
    """Compose creates a directory where a bind-mounted file is missing; the proxy then runs without its config."""
    stack = init_stack(tmp_path / "stack")
    (stack / "litellm" / "config.yaml").unlink()
    (stack / "litellm" / "config.yaml").mkdir()
    result, data = run_audit("audit", str(stack), "--json")
    assert failing(data) == {"stack-files"} and result.exit_code == 1
    check = next(c for c in data["checks"] if c["check"] == "stack-files")
    assert len(check["evidence"]) == 1 and "is a directory" in check["evidence"][0]["text"]
    assert _shell(check["fix"], tmp_path).returncode == 0
    assert failing(run_audit("audit", str(stack), "--json")[1]) == set()
