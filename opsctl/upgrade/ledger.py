"""Prisma's migration ledger (`_prisma_migrations`) as the upgrade reads it.

Prisma writes one row per attempt: `finished_at` set and `rolled_back_at`
NULL is an applied migration; `finished_at` NULL with the error in `logs` is a
failed one (Prisma refuses to deploy past it: P3009); `finished_at` NULL
without logs was started and never finished (a killed migrate: half-applied);
`rolled_back_at` set marks an attempt `migrate resolve --rolled-back` gave up.
A name counts as applied once any of its rows is; otherwise its last state
is a problem the upgrade will not step over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LEDGER_TABLE = "_prisma_migrations"


@dataclass(frozen=True)
class Ledger:
    exists: bool  # False: the schema was not built by Prisma migrate (no ledger table)
    applied: tuple[str, ...] = ()
    problems: dict[str, str] = field(default_factory=dict)  # name -> "failed: ...", "half-applied", "rolled back"


def _problem(finished, rolled_back, logs) -> str:
    if rolled_back is not None:
        return "rolled back and never re-applied"
    if logs:
        first = next((line for line in str(logs).splitlines() if line.strip()), "")
        return f"failed ({first[:160]})" if first else "failed"
    return "half-applied (started, never finished)"


def read_ledger(connection) -> Ledger:
    if connection.execute(f"SELECT to_regclass('{LEDGER_TABLE}')").fetchone()[0] is None:
        return Ledger(False)
    rows = connection.execute(
        f"SELECT migration_name, finished_at, rolled_back_at, logs FROM {LEDGER_TABLE} ORDER BY started_at"
    ).fetchall()
    applied, last = set(), {}
    for name, finished, rolled_back, logs in rows:
        if finished is not None and rolled_back is None:
            applied.add(name)
        else:
            last[name] = _problem(finished, rolled_back, logs)
    problems = {name: why for name, why in sorted(last.items()) if name not in applied}
    return Ledger(True, tuple(sorted(applied)), problems)


def ledger_rows(connection) -> list[tuple]:
    """Every ledger row as it stands (id, name, finished, rolled back): to tell whether a migrate touched it."""
    if connection.execute(f"SELECT to_regclass('{LEDGER_TABLE}')").fetchone()[0] is None:
        return []
    return [tuple(map(str, row)) for row in connection.execute(
        f"SELECT id, migration_name, finished_at, rolled_back_at FROM {LEDGER_TABLE} ORDER BY id").fetchall()]


def schema_fingerprint(connection) -> str:
    """A digest of the public schema's tables, columns, types and indexes: changes when a migration ran."""
    return connection.execute(
        """SELECT md5(coalesce(string_agg(item, E'\\n' ORDER BY item), '')) FROM (
             SELECT table_name || '.' || column_name || ':' || data_type || ':' || is_nullable AS item
               FROM information_schema.columns WHERE table_schema = 'public'
             UNION ALL
             SELECT indexname || ':' || indexdef FROM pg_indexes WHERE schemaname = 'public'
             UNION ALL
             SELECT t.typname || ':' || e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
               JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public'
           ) AS schema_items"""
    ).fetchone()[0]


@dataclass(frozen=True)
class SchemaState:
    rows: tuple[tuple, ...]
    fingerprint: str

    def moved_since(self, before: "SchemaState") -> bool:
        return self != before


def schema_state(connection) -> SchemaState:
    return SchemaState(tuple(ledger_rows(connection)), schema_fingerprint(connection))
