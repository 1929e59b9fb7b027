"""The image an upgrade goes to, and the migrations that image carries.

`--to VERSION` names LiteLLM's official database image,
`ghcr.io/berriai/litellm-database:main-vVERSION` (the tag the reference
compose file pins); `--image REF` names any other. What an image would apply
is read from the image itself: it is run once, through compose as the
`migrate` service but with its entrypoint replaced by a few lines of Python
that list `litellm_proxy_extras/migrations/*/migration.sql` (the directory
`python -m litellm.proxy.prisma_migration` deploys from,
litellm_proxy_extras/utils.py `_get_prisma_dir`, litellm-proxy-extras 0.4.110).
The package is found without being imported: importing it imports litellm.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass

from opsctl.errors import ExitCode, OpsctlError
from opsctl.redact import safe_text
from opsctl.settings import Settings

OFFICIAL_REPOSITORY = "ghcr.io/berriai/litellm-database"
IMAGE_VARIABLE = "LITELLM_IMAGE"  # read by the compose file's migrate and litellm services
MIGRATE_SERVICE = "migrate"
LIST_TIMEOUT_SECONDS = 600  # the first run of an image may pull it
MARK = "OPSCTL-IMAGE-FACTS "
VERSION = re.compile(r"v?(\d+\.\d+\.\d+(?:[-.][A-Za-z0-9.]+)?)")
IMAGE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*")

LIST_SCRIPT = """\
import importlib.metadata as m, importlib.util as u, json, os
spec = u.find_spec("litellm_proxy_extras")
root = os.path.join(list(spec.submodule_search_locations)[0], "migrations")
names = sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "migration.sql")))
print("%s" + json.dumps({"litellm": m.version("litellm"), "litellm_proxy_extras": m.version("litellm-proxy-extras"),
                          "migrations": names}), flush=True)
""" % MARK


def image_for(version: str | None, image: str | None) -> str:
    """The image reference `--to VERSION` / `--image REF` name (REF wins: it says exactly what to run)."""
    if image:
        if not IMAGE_REF.fullmatch(image):
            raise OpsctlError("--image must be an image reference like registry/name:tag", ExitCode.USAGE)
        return image
    if not version:
        raise OpsctlError("say where to go: --to VERSION (e.g. 1.108.7) or --image REF", ExitCode.USAGE)
    matched = VERSION.fullmatch(version)
    if not matched:
        raise OpsctlError(f"--to wants a LiteLLM version like 1.108.7, not {version!r}", ExitCode.USAGE)
    return f"{OFFICIAL_REPOSITORY}:main-v{matched.group(1)}"


@dataclass(frozen=True)
class ImageFacts:
    image: str
    litellm: str
    litellm_proxy_extras: str
    migrations: tuple[str, ...]

    def to_json(self) -> dict:
        return {"image": self.image, "litellm": self.litellm, "litellm_proxy_extras": self.litellm_proxy_extras,
                "migrations": len(self.migrations)}


def compose_env(image: str) -> dict[str, str]:
    """The environment compose runs in with LITELLM_IMAGE set to `image` (the shell wins over .env)."""
    return {**os.environ, IMAGE_VARIABLE: image}


def image_facts(settings: Settings, image: str) -> ImageFacts:
    """Run `image` once as the migrate service (no dependencies, no database touched) and read what it carries."""
    from opsctl.stack.compose import Compose

    argv = Compose(settings).argv("run", "--rm", "--no-deps", "-T", "--entrypoint", "python",
                                  MIGRATE_SERVICE, "-c", LIST_SCRIPT)
    try:
        result = subprocess.run(argv, cwd=settings.compose_path.parent, env=compose_env(image), stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=LIST_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise OpsctlError(f"listing the migrations of {image} took over {LIST_TIMEOUT_SECONDS} s", ExitCode.TIMEOUT) from None
    found = [line[len(MARK):] for line in result.stdout.splitlines() if line.startswith(MARK)]
    if result.returncode != 0 or not found:
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        reason = safe_text(lines[-1] if lines else f"exit status {result.returncode}", limit=300)
        raise OpsctlError(f"cannot read the migrations {image} carries: {reason}", ExitCode.FAILED)
    try:
        facts = json.loads(found[-1])
        return ImageFacts(image, str(facts["litellm"]), str(facts["litellm_proxy_extras"]),
                          tuple(str(name) for name in facts["migrations"]))
    except (ValueError, KeyError, TypeError):
        raise OpsctlError(f"{image} answered the migrations listing with something else", ExitCode.FAILED) from None
