"""The audit reads values as the container receives them (strings) and judges them by LiteLLM's own rules, checked here against LiteLLM's code."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from opsctl.audit import masterkey
from opsctl.audit.checks.db_config import schema_updates_disabled
from opsctl.audit.checks.logging_privacy import CLICK_TRUE
from opsctl.audit.services import MIGRATE, PROXY, Service

STRINGS = ["true", "True", " TRUE ", "false", "yes", "y", "1", "on", "0", "", "no", "maybe", "t", "TRUE\n"]


def test_disable_schema_update_is_read_as_litellm_reads_it():
    from litellm.proxy.db.prisma_client import should_update_prisma_schema

    for value in STRINGS + [True, False, 1, 0]:  # a value from the config may be a bool or a number too
        assert schema_updates_disabled(value) is (not should_update_prisma_schema(value)), value
    # The case: compose passes "yes" (YAML 1.2), LiteLLM keeps schema updates on.
    assert schema_updates_disabled("yes") is False and schema_updates_disabled("true") is True


def test_debug_variables_are_read_as_litellms_click_options_read_them(monkeypatch):
    """LiteLLM's --debug/--detailed_debug are click flags with envvar=DEBUG/DETAILED_DEBUG (litellm/proxy/proxy_cli.py)."""

    @click.command()
    @click.option("--detailed_debug", default=False, is_flag=True, type=bool, envvar="DETAILED_DEBUG")
    def probe(detailed_debug):
        click.echo("on" if detailed_debug else "off")

    for value in STRINGS:
        result = CliRunner().invoke(probe, [], env={"DETAILED_DEBUG": value})
        on = result.exit_code == 0 and result.output.strip() == "on"
        assert (value.strip().lower() in CLICK_TRUE) is on, repr(value)


def test_json_logs_variable_is_read_as_litellm_reads_it():
    from litellm._logging import _parse_json_logs_env

    for value in STRINGS:
        assert _parse_json_logs_env(value) is (value.lower() == "true"), value  # the rule json-logs applies


@pytest.mark.parametrize("key, weak", [
    ("x", True), ("sk-" + "a" * 40, True), ("sk-" + "ab" * 30, True), ("correct-horse-battery", True),
    ("sk-" + "0123456789abcdef" * 2, False), ("sk-Qm2Xw9Lr4Tz8Vb1Nc6Hd3Kf5Jg0PsA7eYu", False),
])
def test_master_key_strength(key, weak):
    assert (masterkey.weakness(key) is not None) is weak, masterkey.weakness(key)
    assert key not in (masterkey.weakness(key) or "")


def test_every_key_opsctl_init_writes_is_strong():
    from opsctl.stack.render import new_secret

    for _ in range(200):
        for name in ("LITELLM_MASTER_KEY", "LITELLM_SALT_KEY"):
            assert masterkey.weakness(new_secret(name)) is None


def _service(name, **spec):
    return Service(name, spec, [], {}, "docker-compose.yml")


@pytest.mark.parametrize("spec, role", [
    ({"image": "ghcr.io/berriai/litellm-database:main-v1.108.7", "command": ["--config", "/app/config.yaml"]}, PROXY),
    ({"image": "localhost/opsctl-litellm:1.108.7"}, PROXY),
    ({"image": "busybox", "command": ["sleep", "infinity"]}, None),  # a decoy named litellm
    ({"image": "python:3.11", "command": ["litellm", "--config", "/c.yaml"]}, PROXY),
    ({"image": "python:3.11", "command": ["sh", "-c", "pip install litellm && exec litellm --port 4000"]}, PROXY),
    ({"image": "python:3.11", "entrypoint": ["python", "-m", "litellm.proxy.proxy_cli"]}, PROXY),
    ({"image": "ghcr.io/berriai/litellm:main", "entrypoint": ["python", "-m", "litellm.proxy.prisma_migration"]}, MIGRATE),
    ({"image": "ghcr.io/berriai/litellm:main", "entrypoint": ["sleep", "infinity"]}, None),
    ({"image": "ghcr.io/berriai/litellm:main", "entrypoint": ["docker/prod_entrypoint.sh"]}, PROXY),
])
def test_the_proxy_is_found_by_what_it_runs(spec, role):
    assert _service("litellm", **spec).role == role
