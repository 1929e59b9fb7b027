"""`opsctl upgrade`'s refusals before anything runs: one line, exit 2, nothing written."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from opsctl.upgrade.target import image_for


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("args,message", [
    ((), "Error: say where to go: --to VERSION (e.g. 1.108.7) or --image REF"),
    (("--to", "latest; rm -rf /"), "Error: --to wants a LiteLLM version like 1.108.7, not 'latest; rm -rf /'"),
    (("--image", "-v /:/host"), "Error: --image must be an image reference like registry/name:tag"),
])
def test_bad_targets_are_one_line_exit_2(args, message):
    result = run("--database-url", "postgresql://u@127.0.0.1:1/x", "upgrade", *args)
    assert (result.exit_code, result.stderr) == (2, message + "\n")


def test_versions_name_the_official_database_image():
    assert image_for("1.108.7", None) == "ghcr.io/berriai/litellm-database:main-v1.108.7"
    assert image_for("v1.109.0-rc1", None) == "ghcr.io/berriai/litellm-database:main-v1.109.0-rc1"
    assert image_for("1.108.7", "localhost/litellm:mine") == "localhost/litellm:mine"


def test_litellm_image_in_the_environment_is_refused(tmp_path, monkeypatch):
    stack = tmp_path / "gw"
    assert run("init", str(stack)).exit_code == 0
    before = (stack / ".env").read_bytes()
    monkeypatch.setenv("LITELLM_IMAGE", "somewhere/else:1")
    result = run("--stack-dir", str(stack), "--database-url", "postgresql://u@127.0.0.1:1/x", "upgrade", "--to", "1.109.0")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith("Error: LITELLM_IMAGE is set in the environment, and it wins over .env")
    assert (stack / ".env").read_bytes() == before
