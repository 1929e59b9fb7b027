"""Hostile files in a stack's place end in one line and exit 2, fast, without reading them whole or expanding them.

Each is tried as docker-compose.yml, litellm/config.yaml and .env, through the
real CLI in a subprocess with a timeout (a FIFO that were opened for reading
would block it forever). bench/audit.py times each case (< 1 s).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from tests.audit.stacks import init_stack

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9))


def _write(text: str):
    return lambda path: path.write_text(text)


def _big(path):
    with open(path, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # 50 MB: refused from its size, never read


def _fifo(path):
    os.mkfifo(path)


def _device(path):
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's device: endless zeros if read


def _binary(path):
    path.write_bytes(bytes(range(256)) * 64)


def _symlink_to_zero(path):
    path.symlink_to("/dev/zero")


HOSTILE = {
    "alias-bomb": (_write(ALIAS_BOMB), "an alias bomb"),
    "scalar-document": (_write("just a string\n"), "the document is a scalar, not a mapping"),
    "list-document": (_write("- a\n- b\n"), "the document is a list, not a mapping"),
    "empty-document": (_write(""), "the document is empty, not a mapping"),
    "50-mb": (_big, "more than the 1048576 bytes a stack file may have"),
    "fifo": (_fifo, "not a regular file"),
    "device": (_device, "not a regular file"),
    "symlink-to-dev-zero": (_symlink_to_zero, "it is a symlink"),
    "binary-garbage": (_binary, "not UTF-8 text"),
    "deep-nesting": (_write("a: " + "[" * 20000 + "]" * 20000 + "\n"), "not valid YAML"),
}
TARGETS = ["docker-compose.yml", "litellm/config.yaml", ".env"]
YAML_ONLY = {"alias-bomb", "scalar-document", "list-document", "empty-document", "deep-nesting"}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_a_hostile_file_is_one_line_and_exit_2(tmp_path, case, target):
    if target == ".env" and case in YAML_ONLY:
        pytest.skip(".env is not YAML")
    stack = init_stack(tmp_path / "stack")
    path = stack / target
    path.unlink()
    make, says = HOSTILE[case]
    make(path)
    done = subprocess.run([sys.executable, "-m", "opsctl", "audit", str(stack)], capture_output=True, text=True,
                          timeout=20, env={**os.environ, "HOME": str(tmp_path / "home")}, cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in done.stderr, done.stderr
    assert says in lines[0] and target.split("/")[-1] in lines[0], lines[0]
    assert done.stdout == ""


def test_a_hostile_include_or_extends_file_is_refused_the_same_way(tmp_path):
    stack = init_stack(tmp_path / "stack")
    os.mkfifo(stack / "base.yml")
    compose = (stack / "docker-compose.yml").read_text()
    (stack / "docker-compose.yml").write_text(compose.replace("  litellm:\n", "  litellm:\n    extends: {file: base.yml, service: b}\n", 1))
    done = subprocess.run([sys.executable, "-m", "opsctl", "audit", str(stack)], capture_output=True, text=True, timeout=20,
                          env={**os.environ, "HOME": str(tmp_path / "home")})
    assert done.returncode == 2 and done.stderr.strip() == "Error: cannot read base.yml: not a regular file (a FIFO, socket or device)"
