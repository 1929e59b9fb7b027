"""Shared fixtures. Every test runs with HOME and the working directory in
tmp_path and without the caller's LiteLLM/opsctl settings, so nothing on the
developer's machine leaks in and nothing is written outside tmp_path."""

import os

import pytest

from opsctl.settings import FIELDS

pytest_plugins: list[str] = ["tests.support.litellm_db", "tests.support.db_proxy", "tests.support.kube"]

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for env_var, _default, _secret in FIELDS.values():
        monkeypatch.delenv(env_var, raising=False)
    monkeypatch.delenv("LITELLM_MODE", raising=False)
    return home
