"""A real LiteLLM proxy backed by Postgres (a context manager and a pytest plugin).

    def test_keys(db_proxy):
        answer = httpx.post(db_proxy.url + "/key/generate", headers=db_proxy.headers(), json={...})
        with db_proxy.connect() as connection:
            connection.execute('SELECT ... FROM "LiteLLM_VerificationToken"')

`db_proxy` (session scope: readiness takes 20-35 s) is ONE proxy for the whole
session: the pinned `litellm` of the venv on a scratch database cloned from the
migrated template (tests/support/litellm_db.py), with store_model_in_db, the
shortest model reload interval LiteLLM takes (DB_RELOAD_SECONDS), a salt key,
and one chat model, FAKE_CHAT_MODEL, answered by tests/support/upstream.py's
fake. Tests share it: name what you create uniquely and do not delete what you
did not create. For a proxy of your own, `start_db_proxy(config, database_url)`.

LiteLLM talks to Postgres through prisma-client-py, which runs Prisma's native
query engine as a child process. The native binary is downloaded at run time
from a host the test machines cannot reach, so where it is not installed the
proxy runs tests/support/prisma-engine/query-engine.mjs, a stand-in serving the
binary's protocol on Prisma's WASM build of the same engine (npm). Its npm
dependencies and the Prisma CLI come from scripts/setup/prisma.sh.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import psycopg
import pytest

from tests.support.litellm_db import TEST_SALT_KEY, create_database, drop_database, unique_name
from tests.support.proxy import TEST_MASTER_KEY, RunningProxy, start_proxy
from tests.support.upstream import Upstream, run_upstream

PRISMA_VERSION = "5.17.0"  # the CLI prisma-client-py 0.15.0 runs
ENGINE_HASH = "393aa359c9ad4a4bb28630fb5613f9c281cde053"  # the engines it expects
ENGINE_DIR = Path(__file__).parent / "prisma-engine"
STAND_IN_ENGINE = ENGINE_DIR / "query-engine.mjs"
STAND_IN_SCHEMA_ENGINE = ENGINE_DIR / "schema-engine"
SETUP_HINT = "run scripts/setup/prisma.sh (as root, or with OPSCTL_PRISMA_CACHE set to a directory of yours)"

# LiteLLM reloads DB models every proxy_config_reload_interval_seconds
# (general_settings; default 30, litellm/constants.py), any positive integer:
# litellm/proxy/proxy_server.py falls back to 30 only for a value <= 0.
DB_RELOAD_SECONDS = 1
FAKE_CHAT_MODEL = "fake-chat"


def cache_dir() -> Path:
    return Path(os.environ.get("OPSCTL_PRISMA_CACHE", "/var/cache/opsctl-test/prisma"))


def engine_node_modules() -> Path:
    """Where scripts/setup/prisma.sh put the stand-in's npm dependencies (keyed by its package files)."""
    package_files = (ENGINE_DIR / "package.json").read_bytes() + (ENGINE_DIR / "package-lock.json").read_bytes()
    return cache_dir() / "engine" / hashlib.sha256(package_files).hexdigest()[:16] / "node_modules"


def prisma_home() -> Path:
    """PRISMA_HOME_DIR under which scripts/setup/prisma.sh installed the Prisma CLI."""
    return cache_dir() / "home"


# Where prisma-client-py keeps the binaries it downloads (prisma/_config.py), as
# the caller's environment says: HOME as the session started, before any test's own.
_PRISMA_BINARY_CACHE = Path(
    os.environ.get("PRISMA_BINARY_CACHE_DIR")
    or Path(os.environ.get("PRISMA_HOME_DIR") or Path.home()) / ".cache/prisma-python/binaries" / PRISMA_VERSION / ENGINE_HASH
)


def native_query_engine() -> Path | None:
    """Prisma's real query engine, where there is one: PRISMA_QUERY_ENGINE_BINARY as the
    caller set it, else the binary in prisma-client-py's cache (`prisma py fetch` puts
    it there on a machine that can download it)."""
    if os.environ.get("PRISMA_QUERY_ENGINE_BINARY"):
        return Path(os.environ["PRISMA_QUERY_ENGINE_BINARY"])
    from prisma.engine.utils import query_engine_name  # prisma-query-engine-<platform>

    binary = _PRISMA_BINARY_CACHE / query_engine_name()
    return binary if os.access(binary, os.X_OK) else None


@dataclass(frozen=True)
class QueryEngine:
    path: Path

    @property
    def native(self) -> bool:
        return self.path.resolve() != STAND_IN_ENGINE.resolve()

    def environment(self) -> dict[str, str]:
        """What prisma-client-py and the Prisma CLI need to find the engines and the CLI."""
        return {
            # Always explicit: otherwise prisma-client-py would take the path the
            # last `prisma generate` recorded in the generated client.
            "PRISMA_QUERY_ENGINE_BINARY": str(self.path),
            "PRISMA_SCHEMA_ENGINE_BINARY": str(STAND_IN_SCHEMA_ENGINE),
            "PRISMA_HOME_DIR": str(prisma_home()),
            "NODE_PATH": str(engine_node_modules()),
        }


def query_engine() -> QueryEngine:
    native = native_query_engine()
    if native is not None:
        return QueryEngine(native)
    assert shutil.which("node") and engine_node_modules().is_dir(), f"the query engine stand-in is not installed: {SETUP_HINT}"
    return QueryEngine(STAND_IN_ENGINE)


def _cli_environment(engine: QueryEngine) -> dict[str, str]:
    env = {**os.environ, **engine.environment()}
    # `prisma generate` runs the generator as `prisma-client-py`, a script of the venv.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def ensure_prisma_client(engine: QueryEngine) -> None:
    """`prisma generate` LiteLLM's schema into the venv's prisma package, once per venv.

    Generation needs litellm installed, so it cannot run in scripts/setup/ (before
    the pip install). A marker beside the generated code records which schema and
    prisma-client-py it came from; a lock keeps two test sessions on one venv from
    generating at once. The generated client records `engine`'s path as its
    default engine; the proxies here are always told theirs (QueryEngine.environment).
    """
    import litellm.proxy
    import prisma

    schema = Path(litellm.proxy.__file__).parent / "schema.prisma"
    package = Path(prisma.__file__).parent
    marker = package / ".opsctl-generated-from"
    wanted = f"{hashlib.sha256(schema.read_bytes()).hexdigest()} prisma {prisma.__version__}"

    def done() -> bool:
        return (package / "client.py").is_file() and marker.is_file() and marker.read_text().strip() == wanted

    if done():
        return
    cli = prisma_home() / ".cache/prisma-python/binaries" / PRISMA_VERSION / ENGINE_HASH / "node_modules/prisma/build/index.js"
    assert cli.is_file(), f"the Prisma CLI is not installed: {SETUP_HINT}"
    with open(package / ".opsctl-generate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done():
            return
        result = subprocess.run(
            [sys.executable, "-m", "prisma", "generate", "--schema", str(schema)],
            cwd=schema.parent, env=_cli_environment(engine), capture_output=True, text=True, timeout=180,
        )
        if result.returncode != 0:
            raise RuntimeError(f"prisma generate failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        marker.write_text(wanted + "\n")


def is_db_ready(proxy: RunningProxy) -> bool:
    """/health/readiness says the proxy's database is connected."""
    try:
        answer = httpx.get(proxy.url + "/health/readiness", timeout=5)
    except httpx.TransportError:
        return False
    return answer.status_code == 200 and answer.json().get("db") == "connected"


@contextmanager
def start_db_proxy(
    config_path,
    database_url: str,
    env: dict | None = None,
    master_key: str = TEST_MASTER_KEY,
    timeout: float = 180,
    engine: QueryEngine | None = None,
    port: int | None = None,
) -> Iterator[RunningProxy]:
    """Run the venv's `litellm --config` on `database_url` until the block ends.

    The database must hold LiteLLM's schema already (a clone of the
    `litellm_template` fixture's database): DISABLE_SCHEMA_UPDATE keeps the proxy
    from migrating it. The block starts once /health/readiness says "db": "connected".
    `engine`: the native engine where there is one, else the stand-in (query_engine()).
    `port`: a fixed one (a restart on the same port), else a free one.
    """
    engine = engine or query_engine()
    ensure_prisma_client(engine)
    full_env = {
        **engine.environment(),
        "DATABASE_URL": database_url,
        "DISABLE_SCHEMA_UPDATE": "true",
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_SALT_KEY": TEST_SALT_KEY,  # DB rows encrypted as in production, and readable by the tests
        # With DISABLE_SCHEMA_UPDATE the proxy still runs `prisma migrate diff` at boot
        # (litellm/proxy/db/check_migration.py), which needs the schema engine no
        # registry ships, and reports a diff it cannot make as none. Bound it to
        # nothing: that is 5-7 s of every start (a Python and a Node start) saved.
        "LITELLM_PRISMA_COMMAND_TIMEOUT": "0.1",
        **(env or {}),
    }
    with start_proxy(config_path, env=full_env, port=port, timeout=timeout, ready=is_db_ready) as proxy:
        yield proxy


def db_proxy_config(upstream_url: str) -> str:
    return textwrap.dedent(f"""\
        model_list:
          - model_name: {FAKE_CHAT_MODEL}
            litellm_params:
              model: openai/{FAKE_CHAT_MODEL}
              api_base: {upstream_url}/v1
              api_key: sk-fake-upstream
        general_settings:
          store_model_in_db: true
          proxy_config_reload_interval_seconds: {DB_RELOAD_SECONDS}
        """)


@dataclass
class DbProxy:
    url: str
    master_key: str
    database_url: str
    upstream: Upstream
    engine: QueryEngine
    proxy: RunningProxy

    def headers(self, key: str | None = None) -> dict[str, str]:
        """Authorization for `key`, the master key by default."""
        return {"Authorization": f"Bearer {key or self.master_key}"}

    def connect(self) -> psycopg.Connection:
        """A new autocommit connection to the proxy's database (use it as a context manager)."""
        return psycopg.connect(self.database_url, autocommit=True)

    def log_text(self) -> str:
        return self.proxy.log_text()


@pytest.fixture(scope="session")
def db_proxy(litellm_template, tmp_path_factory) -> Iterator[DbProxy]:
    """One real DB-backed LiteLLM proxy for the whole session (see the module docstring)."""
    name = unique_name("prisma_proxy")
    database_url = create_database(name, template=litellm_template)
    config = tmp_path_factory.mktemp("db-proxy") / "config.yaml"
    engine = query_engine()
    try:
        with run_upstream() as upstream:
            config.write_text(db_proxy_config(upstream.url))
            with start_db_proxy(config, database_url, engine=engine) as proxy:
                yield DbProxy(proxy.url, proxy.master_key, database_url, upstream, engine, proxy)
    finally:
        drop_database(name)
