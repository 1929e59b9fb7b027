"""rotate-db-password and rotate-redis-password for the reference stack.

Postgres: the proxy's role (the user of the .env's DATABASE_URL) gets a new
password through `ALTER ROLE ... PASSWORD` with a SCRAM-SHA-256 verifier
computed here (libpq's PQencryptPasswordConn, what psql's \\password does), so
the password itself never reaches the server, its logs or pg_stat_activity.
The .env (DATABASE_URL, and POSTGRES_PASSWORD when it is the same role) is
written inside that transaction, before the commit. Sessions already open
stay logged in, so the running proxy keeps working until it is recreated
with the new URL; then a new login with the new password is checked.

Redis: the default user first gets the new password beside the old one (ACL
SETUSER default >new: both work), then the .env, then the proxy is
recreated, then the old password is removed (ACL SETUSER default <old) and
the redis container is recreated so its own environment agrees (a later
restart would otherwise bring the old password back). Recreating redis
empties the cache (the reference stack keeps no Redis data on disk); the
proxy serves on without it meanwhile.

opsctl talks to both directly: DATABASE_URL (the global option) and
--redis-host/--redis-port must reach them from where opsctl runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from opsctl.errors import ExitCode, OpsctlError
from opsctl.secrets.stackenv import StackEnv, new_key, read_key_file, save_before
from opsctl.settings import Settings

DATABASE_URL = "DATABASE_URL"
POSTGRES_USER = "POSTGRES_USER"
POSTGRES_PASSWORD = "POSTGRES_PASSWORD"
REDIS_PASSWORD = "REDIS_PASSWORD"
REDIS_SERVICE = "redis"
POSTGRES_IMAGE_DEFAULT_USER = "postgres"


def url_login(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    if not parts.username:
        raise OpsctlError("the stack's DATABASE_URL names no user", ExitCode.USAGE)
    return unquote(parts.username), unquote(parts.password) if parts.password is not None else None


def with_password(url: str, password: str) -> str:
    """`url` with its password replaced; everything else as it was."""
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{name}:{quote(password, safe='')}@{host}"))


@dataclass
class DbPasswordChange:
    what: str
    env: StackEnv
    role: str
    new_password: str
    env_values: dict[str, str]
    saved: Path | None = None

    def to_json(self) -> dict:
        return {"action": self.what, "env_file": str(self.env.path), "role": self.role,
                "env_changes": {name: "set" for name in self.env_values},
                "saved_file": str(self.saved) if self.saved else None}


def plan_db(settings: Settings, what: str, new_password: str | None = None,
            new_password_file: Path | None = None) -> DbPasswordChange:
    from opsctl.db.connection import connect

    env = StackEnv.load(settings)
    stack_url = env.require(DATABASE_URL)
    role, _old = url_login(stack_url)
    new = new_password or (read_key_file(new_password_file, "new password file") if new_password_file
                           else new_key(POSTGRES_PASSWORD))
    values = {DATABASE_URL: with_password(stack_url, new)}
    if (env.get(POSTGRES_USER) or POSTGRES_IMAGE_DEFAULT_USER) == role:
        values[POSTGRES_PASSWORD] = new
    env.updated(values)
    with connect(settings.require_database_url()) as connection:
        if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            raise OpsctlError(f"the database has no role {role} (the user of the stack's DATABASE_URL)", ExitCode.USAGE)
    return DbPasswordChange(what, env, role, new, values)


def _alter_role(connection, role: str, password: str) -> None:
    from psycopg import sql

    verifier = connection.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    connection.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))


def _login_works(admin_url: str, role: str, password: str) -> bool:
    import psycopg

    from opsctl.db.connection import CONNECT_TIMEOUT_SECONDS

    try:
        with psycopg.connect(psycopg.conninfo.make_conninfo(admin_url, user=role, password=password),
                             connect_timeout=CONNECT_TIMEOUT_SECONDS) as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def apply_db(settings: Settings, change: DbPasswordChange, *, restart: bool, timeout: float,
             progress: Callable[[str], None]) -> DbPasswordChange:
    from opsctl.db.connection import connect
    from opsctl.secrets.proxy import recreate_proxy

    admin_url = settings.require_database_url()
    change.saved = save_before(change.env, change.what, tuple(change.env_values))
    progress(f"saved the current {', '.join(change.env_values)} to {change.saved}")
    written = False
    try:
        with connect(admin_url) as connection:
            _alter_role(connection, change.role, change.new_password)
            change.env.write(change.env_values)
            written = True
    except OpsctlError as error:
        if written:  # only the commit can have failed: its outcome is unknown
            raise OpsctlError(f"{error.message}; the new password is in {change.env.path}: if the proxy cannot log in "
                              f"after its next restart, run `opsctl secrets undo {change.saved}`", error.exit_code) from None
        raise
    progress(f"changed the password of role {change.role}; wrote {', '.join(change.env_values)} to {change.env.path}")
    if not _login_works(admin_url, change.role, change.new_password):
        _revert_db(admin_url, change)
        raise OpsctlError(f"role {change.role} cannot log in with the new password; the old one and {change.env.path} "
                          "were put back", ExitCode.FAILED)
    if restart:
        recreate_proxy(settings, timeout, change.saved)
    return change


def _revert_db(admin_url: str, change: DbPasswordChange) -> None:
    from opsctl.db.connection import connect

    _role, old = url_login(change.env.require(DATABASE_URL))
    with connect(admin_url) as connection:
        if old is not None:
            _alter_role(connection, change.role, old)
        change.env.restore()


@dataclass
class RedisPasswordChange:
    what: str
    env: StackEnv
    host: str
    port: int
    old_password: str
    new_password: str
    saved: Path | None = None
    both_valid: bool = False  # the old password still works (no restart yet)

    def to_json(self) -> dict:
        return {"action": self.what, "env_file": str(self.env.path), "redis": f"{self.host}:{self.port}",
                "env_changes": {REDIS_PASSWORD: "set"}, "saved_file": str(self.saved) if self.saved else None,
                "old_password_still_accepted": self.both_valid}


def plan_redis(settings: Settings, what: str, host: str, port: int, new_password: str | None = None,
               new_password_file: Path | None = None) -> RedisPasswordChange:
    from opsctl.secrets.redis_wire import accepts

    env = StackEnv.load(settings)
    old = env.require(REDIS_PASSWORD)
    new = new_password or (read_key_file(new_password_file, "new password file") if new_password_file
                           else new_key(REDIS_PASSWORD))
    if new == old:
        raise OpsctlError(f"the new Redis password is the one {env.path} already holds", ExitCode.USAGE)
    env.updated({REDIS_PASSWORD: new})
    if not accepts(host, port, old):
        raise OpsctlError(f"Redis at {host}:{port} refuses the {REDIS_PASSWORD} of {env.path}: is it the stack's Redis?",
                          ExitCode.AUTH)
    return RedisPasswordChange(what, env, host, port, old, new)


def _acl(change: RedisPasswordChange, rule: str) -> None:
    from opsctl.secrets.redis_wire import RedisError, authenticated

    login = change.new_password if rule.startswith("<") else change.old_password
    with authenticated(change.host, change.port, login) as redis:
        try:
            redis.command("ACL", "SETUSER", "default", rule)
        except RedisError as error:
            raise OpsctlError(f"Redis at {redis.where} refused ACL SETUSER ({error.code}): it needs Redis 6 or later "
                              "and the ACL command", ExitCode.FAILED) from None


def apply_redis(settings: Settings, change: RedisPasswordChange, *, restart: bool, timeout: float,
                progress: Callable[[str], None]) -> RedisPasswordChange:
    from opsctl.secrets.proxy import recreate, recreate_proxy
    from opsctl.secrets.redis_wire import accepts

    change.saved = save_before(change.env, change.what, (REDIS_PASSWORD,))
    progress(f"saved the current {REDIS_PASSWORD} to {change.saved}")
    _acl(change, ">" + change.new_password)
    change.both_valid = True
    try:
        if not accepts(change.host, change.port, change.new_password):
            raise OpsctlError("Redis does not accept the new password it was given", ExitCode.FAILED)
        change.env.write({REDIS_PASSWORD: change.new_password})
    except OpsctlError:
        _acl(change, "<" + change.new_password)
        raise
    progress(f"Redis accepts the old and the new password; wrote {REDIS_PASSWORD} to {change.env.path}")
    if not restart:
        return change
    recreate_proxy(settings, timeout, change.saved)
    _acl(change, "<" + change.old_password)
    change.both_valid = False
    recreate(settings, REDIS_SERVICE, timeout, change.saved)
    if accepts(change.host, change.port, change.old_password) or not accepts(change.host, change.port, change.new_password):
        raise OpsctlError(f"Redis at {change.host}:{change.port} does not take only the new password after the restart",
                          ExitCode.FAILED)
    progress("Redis accepts only the new password")
    return change
