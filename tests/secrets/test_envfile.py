"""One KEY=value line replaced, appended or removed; every other byte kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsctl.errors import OpsctlError
from opsctl.secrets import envfile

PATH = Path("/stack/.env")
TEXT = ("# secrets\r\nexport LITELLM_MASTER_KEY=sk-old  \r\n  LITELLM_SALT_KEY = 'old salt' # why\r\n"
        "#LITELLM_SALT_KEY=commented\r\nOTHER=\xe9t\xe9\r\nEMPTY=\r\nLAST=no-newline")


def test_replace_keeps_every_other_byte_and_the_line_layout():
    out = envfile.with_value(TEXT, "LITELLM_SALT_KEY", "new-salt", PATH)
    assert out == TEXT.replace("'old salt' # why", "new-salt # why")  # the comment stays
    assert envfile.parse(out)["LITELLM_SALT_KEY"] == "new-salt"
    out = envfile.with_value(TEXT, "LITELLM_MASTER_KEY", "sk-new", PATH)
    assert out == TEXT.replace("sk-old  ", "sk-new  ")
    assert envfile.parse(out)["LITELLM_MASTER_KEY"] == "sk-new"
    assert envfile.with_value(TEXT, "EMPTY", "x", PATH) == TEXT.replace("EMPTY=\r\n", "EMPTY=x\r\n")


def test_append_uses_the_files_line_ending_and_remove_takes_the_whole_line():
    out = envfile.with_value(TEXT, "NEW_KEY", "v", PATH)
    assert out == TEXT + "\r\nNEW_KEY=v\r\n"
    assert envfile.with_value("A=1\n", "B", "2", PATH) == "A=1\nB=2\n"
    assert envfile.with_value("", "B", "2", PATH) == "B=2\n"
    assert envfile.with_value(TEXT, "OTHER", None, PATH) == TEXT.replace("OTHER=\xe9t\xe9\r\n", "")
    assert envfile.with_value(TEXT, "ABSENT", None, PATH) == TEXT


def test_values_are_quoted_only_when_needed_and_unwritable_ones_refused():
    assert envfile.with_value("", "K", "postgresql://u:p@h:5432/db?sslmode=require&x=1", PATH).startswith("K=postgresql://")
    assert envfile.with_value("", "K", "has $dollar and space", PATH) == "K='has $dollar and space'\n"
    assert envfile.parse(envfile.with_value("", "K", "has $dollar and space", PATH))["K"] == "has $dollar and space"
    with pytest.raises(OpsctlError, match="a value with a quote or a line break"):
        envfile.with_value("", "K", "it's", PATH)


@pytest.mark.parametrize("text, message", [
    ("K=1\nK=2\n", "/stack/.env sets K 2 times: keep one line and re-run"),
    ('K="first line\nsecond line"\n', "/stack/.env: K spans several lines; write it on one line and re-run"),
])
def test_ambiguous_files_are_refused(text, message):
    with pytest.raises(OpsctlError) as raised:
        envfile.with_value(text, "K", "v", PATH)
    assert raised.value.message == message


def test_write_refuses_a_symlink_and_keeps_mode_0600(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("K=1\n")
    link = tmp_path / ".env"
    link.symlink_to(target)
    with pytest.raises(OpsctlError, match="is a symlink: refusing to write the env file through it"):
        envfile.write_text(link, "K=2\n")
    assert target.read_text() == "K=1\n"
    real = tmp_path / "real.env"
    envfile.write_text(real, "K=\udce9\n")  # an undecodable byte read earlier survives
    assert real.read_bytes() == b"K=\xe9\n" and oct(real.stat().st_mode & 0o777) == "0o600"
