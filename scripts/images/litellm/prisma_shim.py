#!/usr/bin/env python3
"""`prisma` of localhost/opsctl-litellm: Prisma's migrate commands without Prisma's schema engine.

LiteLLM's migrate path (`python -m litellm.proxy.prisma_migration`, and the
proxy itself unless DISABLE_SCHEMA_UPDATE=true) runs `prisma migrate deploy`
and, to recover from a failed migration, `prisma migrate resolve`. Both need
Prisma's native schema engine, which cannot be downloaded here (Prisma 5.17 has
no WASM build of it). Installed first on the image's PATH as `prisma`, this
does what those two commands do, on Prisma's own ledger, so LiteLLM's
resolver logic runs unchanged and a database migrated here is a database the
official image sees as migrated:

- `migrate deploy` applies every pending migrations/*/migration.sql in name
  order. Each file is sent as one simple-protocol query, as Prisma sends it:
  one implicit transaction, so a failed file leaves nothing half-applied, and
  a file holding a single CREATE INDEX CONCURRENTLY runs outside a transaction.
  Each is recorded in _prisma_migrations as Prisma records it (sha256 checksum
  of the file, applied_steps_count 1 on success, the error in `logs` on
  failure). Refusals carry Prisma's codes, which LiteLLM reads: P3005 (tables
  but no ledger), P3009 (a failed migration is recorded), P3018 (a migration
  failed), P1002 (Prisma's advisory lock was not free within 10 s).
- `migrate resolve --applied NAME` and `--rolled-back NAME` update the ledger
  as Prisma does.
- Other commands that need the schema engine (`migrate diff|dev|reset|status`,
  `db push|pull|execute|seed`) exit 1 saying so. Anything else (`generate`,
  `--version`, `py ...`) is Prisma's own CLI (`python -m prisma`).

The database URL comes from the schema's datasource (`url`/`directUrl`,
`env("...")` or a literal), in Prisma's URL dialect (see libpq_url). This
imports neither litellm nor litellm_proxy_extras (whose logging imports
litellm: seconds of CPU for every Prisma command).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import uuid
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PRISMA_ADVISORY_LOCK_KEY = 72707369  # the key Prisma Migrate locks on
RESOLVE_HINT = "Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve"
SCHEMA_ENGINE_COMMANDS = {("migrate", sub) for sub in ("diff", "dev", "reset", "status")} | {
    ("db", sub) for sub in ("push", "pull", "execute", "seed")
}


class PrismaError(Exception):
    """A refusal printed as Prisma prints it: `Error: CODE`, a blank line, the message."""

    def __init__(self, code: str, message: str):
        super().__init__(f"Error: {code}\n\n{message}" if code else f"Error: {message}")


@dataclass(frozen=True)
class Target:
    schema_file: Path
    url: str
    conninfo: str
    db_schema: str

    @property
    def migrations(self) -> list[Path]:
        root = self.schema_file.parent / "migrations"
        names = sorted(os.listdir(root)) if root.is_dir() else []  # code-point order, as Prisma sorts them
        return [root / name for name in names if (root / name / "migration.sql").is_file()]


def option(args: list[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` in args, if any."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.partition("=")[2]
    return None


def datasource_url(schema_text: str) -> str:
    block = re.search(r"datasource\s+\w+\s*\{(.*?)\}", schema_text, re.S)
    if block is None:
        raise PrismaError("P1012", "The schema has no datasource block.")
    found = {}
    for key in ("directUrl", "url"):  # migrations use directUrl when there is one
        match = re.search(rf'^\s*{key}\s*=\s*(?:env\(\s*"([^"]+)"\s*\)|"([^"]*)")', block.group(1), re.M)
        if match:
            found[key] = os.environ.get(match.group(1), "") if match.group(1) else match.group(2)
            if match.group(1) and not found[key]:
                raise PrismaError("P1012", f"Environment variable not found: {match.group(1)}.")
    url = found.get("directUrl") or found.get("url")
    if not url:
        raise PrismaError("P1012", "The datasource has no url.")
    return url


def target(args: list[str]) -> Target:
    named = option(args, "--schema")
    candidates = [Path(named)] if named else [Path("schema.prisma"), Path("prisma/schema.prisma")]
    schema_file = next((path for path in candidates if path.is_file()), None)
    if schema_file is None:
        raise PrismaError("", f"Could not find a schema.prisma file (looked for {', '.join(map(str, candidates))}).")
    url = datasource_url(schema_file.read_text())
    conninfo, db_schema = libpq_url(url)
    return Target(schema_file=schema_file.resolve(), url=url, conninfo=conninfo, db_schema=db_schema)


def libpq_url(url: str) -> tuple[str, str]:
    """A Prisma-dialect URL as libpq reads it, and the schema it targets (`?schema=`, default public).

    Prisma-only parameters (connection_limit, pool_timeout, pgbouncer, schema,
    ...) are dropped; Prisma's `sslcert` is the CA, which libpq calls
    `sslrootcert`, and only `sslaccept=strict` makes Prisma verify it.
    """
    import psycopg

    known = {option.keyword.decode() for option in psycopg.pq.Conninfo.get_defaults()}
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query)
    given = dict(pairs)
    kept = [(key, value) for key, value in pairs if key in known and key not in ("sslcert", "sslmode")]
    sslmode = given.get("sslmode")
    if "sslcert" in given and "sslkey" not in given:
        if given.get("sslaccept", "accept_invalid_certs") != "accept_invalid_certs" and sslmode != "disable":
            kept += [("sslrootcert", given["sslcert"]), ("sslmode", "verify-full")]
        elif sslmode:
            kept.append(("sslmode", sslmode))
    else:
        kept += [(key, value) for key, value in pairs if key in ("sslcert", "sslmode")]
    return urlunsplit(parts._replace(query=urlencode(kept))), given.get("schema") or "public"


def connect(where: Target):
    import psycopg
    from psycopg import sql

    try:
        connection = psycopg.connect(where.conninfo, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        raise PrismaError("P1001", f"Can't reach database server.\n\n{error}") from None
    connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(where.db_schema)))
    connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(where.db_schema)))
    if not os.environ.get("PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK"):  # LiteLLM sets it and holds the lock itself
        connection.execute("SET lock_timeout = '10s'")
        try:
            connection.execute("SELECT pg_advisory_lock(%s)", (PRISMA_ADVISORY_LOCK_KEY,))
        except psycopg.errors.LockNotAvailable:
            raise PrismaError(
                "P1002",
                "The database server was reached but timed out.\n\nContext: Timed out trying to acquire a postgres "
                f"advisory lock (SELECT pg_advisory_lock({PRISMA_ADVISORY_LOCK_KEY})). Timeout: 10000ms.",
            ) from None
        connection.execute("RESET lock_timeout")
    return connection


def ledger_exists(connection, where: Target) -> bool:
    found = connection.execute("SELECT to_regclass(format('%%I.%%I', %s::text, '_prisma_migrations'))", (where.db_schema,))
    return found.fetchone()[0] is not None


def create_ledger(connection) -> None:
    connection.execute(
        'CREATE TABLE IF NOT EXISTS "_prisma_migrations" ('
        '"id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ, '
        '"migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ, '
        '"started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)'
    )


def schema_is_empty(connection, where: Target) -> bool:
    found = connection.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')) "
        "AND NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = %s AND t.typtype = 'e')",
        (where.db_schema, where.db_schema),
    )
    return found.fetchone()[0]


def checksum(migration: Path) -> str:
    return hashlib.sha256((migration / "migration.sql").read_bytes()).hexdigest()


def database_error(error) -> str:
    detail = [f"ERROR: {error.diag.message_primary or str(error).strip()}"]
    detail += [f"{label}: {value}" for label, value in (("DETAIL", error.diag.message_detail), ("HINT", error.diag.message_hint)) if value]
    return "\n".join(detail)


def deploy(args: list[str]) -> int:
    import psycopg

    where = target(args)
    migrations = where.migrations
    print(f"Prisma schema loaded from {where.schema_file.name} (migrate deploy by opsctl's prisma shim: plain SQL, no schema engine)")
    print(f"\n{len(migrations)} migrations found in {where.schema_file.parent.name}/migrations\n")
    with connect(where) as connection:
        if not ledger_exists(connection, where):
            if not schema_is_empty(connection, where):
                raise PrismaError(
                    "P3005",
                    "The database schema is not empty. Read more about how to baseline an existing production "
                    "database: https://pris.ly/d/migrate-baseline",
                )
            create_ledger(connection)
        rows = connection.execute(
            "SELECT migration_name, started_at, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at"
        ).fetchall()
        failed = [(name, started) for name, started, finished, rolled_back in rows if finished is None and rolled_back is None]
        if failed:
            name, started = failed[0]
            raise PrismaError(
                "P3009",
                f"migrate found failed migrations in the target database, new migrations will not be applied. {RESOLVE_HINT}\n"
                f"The `{name}` migration started at {started.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S.%f UTC} failed",
            )
        applied = {name for name, _started, finished, rolled_back in rows if finished is not None and rolled_back is None}
        pending = [m for m in migrations if m.name not in applied]
        if not pending:
            print("No pending migrations to apply.")
            return 0
        for migration in pending:
            print(f"Applying migration `{migration.name}`")
            row_id = str(uuid.uuid4())
            connection.execute(
                "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) "
                "VALUES (%s, %s, %s, now(), 0)",
                (row_id, checksum(migration), migration.name),
            )
            script = (migration / "migration.sql").read_text()
            try:
                # No parameters: psycopg sends the whole file as one simple query.
                connection.execute(script, prepare=False)
            except psycopg.Error as error:
                message = database_error(error)
                logs = f"Database error code: {error.sqlstate}\n\nDatabase error:\n{message}"
                connection.execute("UPDATE _prisma_migrations SET logs = %s WHERE id = %s", (logs, row_id))
                raise PrismaError(
                    "P3018",
                    f"A migration failed to apply. New migrations cannot be applied before the error is recovered from. "
                    f"{RESOLVE_HINT}\n\nMigration name: {migration.name}\n\n{logs}",
                ) from None
            connection.execute(
                "UPDATE _prisma_migrations SET applied_steps_count = 1, finished_at = now() WHERE id = %s", (row_id,)
            )
    print("\nThe following migration(s) have been applied:\n\nmigrations/")
    for migration in pending:
        print(f"  └─ {migration.name}/\n    └─ migration.sql")
    print("\nAll migrations have been successfully applied.")
    return 0


def resolve(args: list[str]) -> int:
    applied_name, rolled_back_name = option(args, "--applied"), option(args, "--rolled-back")
    if bool(applied_name) == bool(rolled_back_name):
        raise PrismaError("", "migrate resolve takes exactly one of --applied NAME and --rolled-back NAME.")
    where = target(args)
    with connect(where) as connection:
        create_ledger(connection)
        name = applied_name or rolled_back_name
        rows = connection.execute(
            "SELECT finished_at IS NOT NULL, rolled_back_at IS NOT NULL FROM _prisma_migrations WHERE migration_name = %s",
            (name,),
        ).fetchall()
        failed = [row for row in rows if row == (False, False)]
        if applied_name:
            migration = next((m for m in where.migrations if m.name == name), None)
            if migration is None:
                raise PrismaError(
                    "P3017",
                    f"The migration {name} could not be found. Please make sure that the migration exists, and that "
                    'you included the whole name of the directory. (example: "20201207184859_initial_migration")',
                )
            if (True, False) in rows:
                raise PrismaError("P3008", f"The migration `{name}` is already recorded as applied in the database.")
            connection.execute(
                "UPDATE _prisma_migrations SET rolled_back_at = now() "
                "WHERE migration_name = %s AND finished_at IS NULL AND rolled_back_at IS NULL",
                (name,),
            )
            connection.execute(
                "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count) "
                "VALUES (%s, %s, %s, now(), now(), 0)",
                (str(uuid.uuid4()), checksum(migration), name),
            )
            print(f"Migration {name} marked as applied.")
            return 0
        if not failed:
            if rows:
                raise PrismaError("P3012", f"Migration `{name}` cannot be rolled back because it is not in a failed state.")
            raise PrismaError(
                "P3011",
                f"Migration `{name}` cannot be rolled back because it was never applied to the database. Hint: did you "
                'pass in the whole migration name? (example: "20201207184859_initial_migration")',
            )
        connection.execute(
            "UPDATE _prisma_migrations SET rolled_back_at = now() "
            "WHERE migration_name = %s AND finished_at IS NULL AND rolled_back_at IS NULL",
            (name,),
        )
        print(f"Migration {name} marked as rolled back.")
        return 0


def command_words(argv: list[str]) -> tuple[str, ...]:
    """The first two words of the command line, options (and --schema's value) left out."""
    words, skip = [], False
    for arg in argv:
        if skip or arg.startswith("-"):
            skip = arg == "--schema"
            continue
        words.append(arg)
    return tuple(words[:2])


def main(argv: list[str]) -> int:
    words = command_words(argv)
    if words == ("migrate", "deploy"):
        handler = deploy
    elif words == ("migrate", "resolve"):
        handler = resolve
    elif words in SCHEMA_ENGINE_COMMANDS:
        print(
            f"Error: `prisma {' '.join(words)}` needs Prisma's schema engine, which this image does not have "
            "(localhost/opsctl-litellm: the native engine cannot be downloaded here and Prisma 5.17 has no WASM "
            "build of it). Only `migrate deploy` and `migrate resolve` are served, as plain SQL; see docs/images.md.",
            file=sys.stderr,
        )
        return 1
    else:
        os.execv(sys.executable, [sys.executable, "-m", "prisma", *argv])
    try:
        return handler(list(argv))
    except PrismaError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
