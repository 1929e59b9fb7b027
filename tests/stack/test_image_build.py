"""scripts/images/build.sh without building: tags name their inputs, a cached
tar is imported with the official image's configuration, and what is not
built is said with exit 3 (the image tests skip on it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from tests.stack.conftest import _busybox_tar

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "scripts" / "images" / "build.sh"


def build(*args: str, cache: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OPSCTL_IMAGE_CACHE": str(cache), **env}
    return subprocess.run([str(BUILD), *args], env=environment, capture_output=True, text=True, timeout=120)


def tags(cache: Path, **env: str) -> dict[str, str]:
    listed = build("--print-env", cache=cache, **env)
    assert listed.returncode == 0, listed.stderr
    return dict(line.split("=", 1) for line in listed.stdout.split())


def test_each_tag_is_a_hash_of_that_images_inputs(tmp_path):
    first = tags(tmp_path)
    assert list(first) == ["POSTGRES_IMAGE", "REDIS_IMAGE", "LITELLM_IMAGE", "HAPROXY_IMAGE"]
    for name, tag in zip(("postgres", "redis", "litellm", "haproxy"), first.values()):
        assert re.fullmatch(rf"localhost/opsctl-{name}:[0-9a-f]{{12}}", tag)
    assert tags(tmp_path) == first

    engine = tmp_path / "engine"
    shutil.copytree(REPO / "tests" / "support" / "prisma-engine", engine)
    assert tags(tmp_path, PRISMA_ENGINE_DIR=str(engine)) == first
    (engine / "query-engine.mjs").write_text((engine / "query-engine.mjs").read_text() + "\n// changed\n")
    changed = tags(tmp_path, PRISMA_ENGINE_DIR=str(engine))
    assert [changed[name] for name in ("POSTGRES_IMAGE", "REDIS_IMAGE", "HAPROXY_IMAGE")] == [
        first[name] for name in ("POSTGRES_IMAGE", "REDIS_IMAGE", "HAPROXY_IMAGE")]
    assert changed["LITELLM_IMAGE"] != first["LITELLM_IMAGE"]


def test_import_only_says_what_is_not_built(tmp_path):
    empty = build("--import-only", cache=tmp_path)
    assert (empty.returncode, empty.stderr.strip().splitlines()[-1]) == (
        3, "build.sh: not built yet: postgres redis litellm haproxy (run scripts/images/build.sh as root)")
    no_engine = build("--import-only", "litellm", cache=tmp_path, PRISMA_ENGINE_DIR=str(tmp_path / "nowhere"))
    assert no_engine.returncode == 3
    assert "litellm cannot be built here: no Prisma engine stand-in" in no_engine.stderr


def test_a_cached_tar_is_imported_with_the_official_images_configuration(tmp_path, engine):
    tag = tags(tmp_path)["REDIS_IMAGE"]
    shutil.copy(_busybox_tar(tmp_path), tmp_path / f"opsctl-redis-{tag.rsplit(':', 1)[1]}.tar")
    podman = {"PODMAN": " ".join(engine.podman), "CONTAINERS_CONF": engine.env["CONTAINERS_CONF"]}
    imported = build("--import-only", "redis", cache=tmp_path, **podman)
    assert imported.returncode == 0, imported.stderr
    assert re.search(rf"^{re.escape(tag)} +\d+ MB  cached tar, imported in [\d.]+ s$", imported.stderr, re.M)
    inspected = subprocess.run(engine.podman + ["image", "inspect", tag], env=engine.env, capture_output=True, text=True, check=True)
    config = json.loads(inspected.stdout)[0]["Config"]
    assert (config["Entrypoint"], config["Cmd"], config["WorkingDir"]) == (["docker-entrypoint.sh"], ["redis-server"], "/data")
    assert "6379/tcp" in config["ExposedPorts"]
    again = build("--import-only", "redis", cache=tmp_path, **podman)
    assert "cached tar, present" in again.stderr
    assert (tmp_path / "images.env").read_text().splitlines()[1] == f"REDIS_IMAGE={tag}"
    subprocess.run(engine.podman + ["rmi", tag], env=engine.env, capture_output=True, check=True)
