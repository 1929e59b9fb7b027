"""Our Compose resolver agrees with the real `docker compose config` (v2, installed by scripts/setup/stack.sh) on a corpus.

What is compared is what the audit reads of each service, in compose's
canonical shape: image, entrypoint, command, the environment the container
receives, published ports, network mode, hardening fields, bind mounts.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from opsctl.audit import compose_cli
from opsctl.audit.compose_resolve import ComposeRefusal, resolve
from opsctl.stack.compose import compose_command
from tests.audit.compose_corpus import CASES


def write(directory: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_text(text)
    return directory


def real_compose(directory: Path, home: Path, explicit: str | None) -> dict | None:
    argv = [*compose_command(), "--profile", "*", *(["-f", explicit] if explicit else []), "config", "--format", "json"]
    done = subprocess.run(argv, cwd=directory, env=compose_cli.base_environment(home), capture_output=True, text=True, timeout=30)
    return compose_cli.unescape(json.loads(done.stdout)) if done.returncode == 0 else None


def _limits(spec: dict) -> dict:
    deploy = spec.get("deploy") if isinstance(spec.get("deploy"), dict) else {}
    limits = (deploy.get("resources") or {}).get("limits") or {}
    return {k: str(v) for k, v in limits.items() if k in ("memory", "pids")}


def projection(spec: dict) -> dict:
    """The fields the audit reads, normalised the same way for both sides."""
    ports = sorted((p.get("host_ip") or "", str(p.get("published") or ""), str(p["target"]), p.get("protocol") or "tcp")
                   for p in spec.get("ports") or [])
    binds = sorted((v.get("source"), v.get("target"), bool(v.get("read_only")))
                   for v in spec.get("volumes") or [] if v.get("type") == "bind")
    logging = spec.get("logging") or {}
    return {
        "image": spec.get("image"),
        "entrypoint": spec.get("entrypoint"),
        "command": spec.get("command"),
        "environment": {k: v for k, v in (spec.get("environment") or {}).items() if v is not None},
        "ports": ports,
        "network_mode": spec.get("network_mode"),
        "security_opt": spec.get("security_opt") or [],
        "cap_add": sorted(spec.get("cap_add") or []),
        "cap_drop": sorted(spec.get("cap_drop") or []),
        "read_only": bool(spec.get("read_only")),
        "privileged": bool(spec.get("privileged")),
        "pids_limit": spec.get("pids_limit"),
        "mem_limit": str(spec["mem_limit"]) if spec.get("mem_limit") is not None else None,
        "limits": _limits(spec),
        "logging": {"driver": logging.get("driver"), "options": dict(logging.get("options") or {})},
        "profiles": sorted(spec.get("profiles") or []),
        "user": spec.get("user"),
        "binds": binds,
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_our_resolver_agrees_with_docker_compose(tmp_path, case):
    stack = write(tmp_path / "stack", case.files)
    home = tmp_path / "home"
    theirs = real_compose(stack, home, case.explicit)
    if case.refused:
        assert theirs is None, "the corpus says compose refuses this case, but it accepted it"
        with pytest.raises(ComposeRefusal):
            resolve(stack, case.explicit, compose_cli.base_environment(home))
        return
    assert theirs is not None, "compose refused a case the corpus says it accepts"
    ours = resolve(stack, case.explicit, compose_cli.base_environment(home))
    expected = {name: projection(spec) for name, spec in theirs["services"].items()}
    got = {name: projection(service.spec) for name, service in ours.services.items()}
    assert got == expected


def test_the_corpus_holds_every_bypass_of_the_issue():
    names = {c.name for c in CASES}
    assert {"extends-from-another-file-publishes-everywhere", "top-level-include-adds-host-networking",
            "schema-update-yes-is-the-string-yes", "decoy-named-litellm-and-real-gateway",
            "override-file-publishes-and-replaces-command", "compose-file-from-dotenv", "interpolation-operators"} <= names


def test_evidence_points_at_the_file_that_set_the_value(tmp_path):
    case = next(c for c in CASES if c.name == "extends-from-another-file-publishes-everywhere")
    stack = write(tmp_path / "stack", case.files)
    service = resolve(stack, None, compose_cli.base_environment(tmp_path / "home")).services["litellm"]
    assert service.env["A"].path == "base.yml" and service.env["A"].line == 5
    assert service.env["B"].path == "docker-compose.yml" and service.env["B"].line == 6
