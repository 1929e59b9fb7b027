"""An older litellm-proxy-extras (its schema.prisma and migrations), from PyPI, cached.

The wheel is fetched once with pip (`pip download --no-deps`) into
/var/cache/opsctl-test/litellm-proxy-extras/ (OPSCTL_EXTRAS_CACHE) and its
package directory unpacked beside it. The test that needs it is skipped, saying
why, only when PyPI cannot be reached and nothing is cached.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

# 20 releases before the pinned 0.4.110 (litellm 1.108.7): enough schema history to upgrade across.
OLDER_VERSION = "0.4.90"


def cache_dir() -> Path:
    return Path(os.environ.get("OPSCTL_EXTRAS_CACHE", "/var/cache/opsctl-test/litellm-proxy-extras"))


def older_extras(version: str = OLDER_VERSION) -> Path:
    """The unpacked `litellm_proxy_extras` package directory of `version` (schema.prisma, migrations/)."""
    root = cache_dir() / version
    package = root / "litellm_proxy_extras"
    if (package / "migrations").is_dir():
        return package
    root.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (package / "migrations").is_dir():
            return package
        wheels = list(root.glob("*.whl"))
        if not wheels:
            fetched = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(root),
                 f"litellm-proxy-extras=={version}"], capture_output=True, text=True, timeout=300)
            wheels = list(root.glob("*.whl"))
            if fetched.returncode != 0 or not wheels:
                pytest.skip(f"PyPI unreachable, no cached litellm-proxy-extras {version}: "
                            f"{(fetched.stderr.strip().splitlines() or ['pip failed'])[-1]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            members = [m for m in wheel.namelist() if m.startswith("litellm_proxy_extras/")]
            wheel.extractall(root / ".unpacking", members)
        (root / ".unpacking" / "litellm_proxy_extras").rename(package)
        (root / ".unpacking").rmdir()
    return package
