"""Re-encrypt every value in LiteLLM's database under one key, in one transaction.

`reencrypt` is the one primitive behind rotate-salt, undo-salt and the sweep
after a restart. Inside one transaction it:

1. locks: the admin-written tables whole (`LOCK TABLE ... IN EXCLUSIVE MODE`:
   reads go on, writes wait, no row can appear unseen), and in the tables
   written on every request (keys, teams, users) the rows holding marked
   values (`FOR UPDATE`), so traffic keeps flowing;
2. decrypts each value with the keys it may be under and encrypts it under the
   target key in the same format (nacl stays nacl, v2:gcm stays v2:gcm, the
   litellm_enc:: marker stays); values already under the target are left alone,
   so a re-run changes nothing;
3. refuses the whole run, naming table, primary key and path, when a value
   opens with none of the keys;
4. writes each column with one set-based UPDATE, reads the rows back and
   checks every value of every changed row decrypts under the target key to
   what it was before (and that nothing else in the row moved);
5. calls `before_commit` (the .env update), then commits.

Any exception before the commit, a kill -9 included, leaves every value as it
was: the database rolls the transaction back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from opsctl.errors import ExitCode, OpsctlError
from opsctl.secrets.inventory import BUSY_TABLES, SecretColumn
from opsctl.secrets.scan import NO_KEY, NamedKey, Unreadable, parsed, present_columns, row_values, rows_sql, too_deep, unreadable
from opsctl.secrets.values import Path, dump_json, replaced

SHOWN_FAILURES = 5


@dataclass
class ColumnResult:
    column: SecretColumn
    rows: int = 0  # rows rewritten (or that would be, in a dry run)
    reencrypted: int = 0
    already: int = 0  # values already under the target key

    def to_json(self) -> dict:
        return {"table": self.column.table, "column": self.column.column, "rows": self.rows,
                "reencrypted": self.reencrypted, "already_under_target": self.already}


@dataclass
class Result:
    target: str
    dry_run: bool
    columns: list[ColumnResult] = field(default_factory=list)

    @property
    def reencrypted(self) -> int:
        return sum(c.reencrypted for c in self.columns)

    @property
    def already(self) -> int:
        return sum(c.already for c in self.columns)

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.columns)

    def to_json(self) -> dict:
        return {"target_key": self.target, "dry_run": self.dry_run, "reencrypted": self.reencrypted,
                "already_under_target": self.already, "rows": self.rows,
                "columns": [c.to_json() for c in self.columns if c.reencrypted or c.already]}


@dataclass
class _RowChange:
    row_id: str
    new_text: str
    before_view: object  # the row with every value decrypted, as it was


def _failure(problems: list[Unreadable], what: str) -> OpsctlError:
    shown = "; ".join(p.describe() for p in problems[:SHOWN_FAILURES])
    more = f"; and {len(problems) - SHOWN_FAILURES} more (opsctl secrets status lists them)" if len(problems) > SHOWN_FAILURES else ""
    return OpsctlError(f"{len(problems)} value(s) cannot be {what}, so nothing was written: {shown}{more}", ExitCode.FAILED)


def _lock(connection, present: list[SecretColumn]) -> None:
    for table in dict.fromkeys(c.table for c in present):
        if table not in BUSY_TABLES:
            connection.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')


def _plan_column(connection, column: SecretColumn, keys: tuple[NamedKey, ...], target: NamedKey, lock: bool,
                 problems: list[Unreadable]) -> tuple[ColumnResult, list[_RowChange]]:
    result, changes = ColumnResult(column), []
    for row_id, raw in connection.execute(rows_sql(column) + (" FOR UPDATE" if lock else "")).fetchall():
        try:
            value = parsed(column, raw)
            found = list(row_values(column, row_id, value, keys))
        except RecursionError:
            problems.append(too_deep(column, row_id))
            continue
        new: dict[Path, str] = {}
        for f in found:
            if not f.is_value:
                continue
            if f.key_name == NO_KEY:
                problems.append(unreadable(column, row_id, f, keys))
            elif f.key_name == target.name:
                result.already += 1
            else:
                new[f.leaf.path] = f.leaf.marker + target.key.encrypt(f.plaintext, f.format)
        if new:
            result.rows += 1
            result.reencrypted += len(new)
            view = replaced(value, {f.leaf.path: f.leaf.marker + f.plaintext for f in found if f.is_value and f.plaintext is not None})
            text = dump_json(replaced(value, new)) if column.is_json else new[()]
            changes.append(_RowChange(row_id, text, view))
    return result, changes


def _write(connection, column: SecretColumn, changes: list[_RowChange]) -> None:
    cast = "::jsonb" if column.is_json else ""
    cursor = connection.execute(
        f'UPDATE "{column.table}" AS t SET "{column.column}" = u.v{cast} '
        f'FROM unnest(%s::text[], %s::text[]) AS u(id, v) WHERE t."{column.primary_key}" = u.id',
        ([c.row_id for c in changes], [c.new_text for c in changes]),
    )
    if cursor.rowcount != len(changes):
        raise OpsctlError(f"{column.name}: {len(changes) - cursor.rowcount} locked row(s) vanished during the rotation; "
                          "nothing was written", ExitCode.CONFLICT)


def _verify(connection, column: SecretColumn, changes: list[_RowChange], target: NamedKey) -> None:
    """Read the written rows back: every value must open with the target key to what it was."""
    expected = {c.row_id: c.before_view for c in changes}
    rows = connection.execute(
        f'SELECT "{column.primary_key}"::text, "{column.column}"::text FROM "{column.table}" '
        f'WHERE "{column.primary_key}" = ANY(%s)', (list(expected),)).fetchall()
    problems = []
    for row_id, raw in rows:
        value = parsed(column, raw)
        found = list(row_values(column, row_id, value, (target,)))
        problems += [unreadable(column, row_id, f, (target,)) for f in found if f.key_name == NO_KEY]
        view = replaced(value, {f.leaf.path: f.leaf.marker + f.plaintext for f in found if f.is_value and f.plaintext is not None})
        if view != expected.pop(row_id):
            raise OpsctlError(f"{column.name} {column.primary_key}={row_id}: the row read back differs from what was "
                              "meant to be written; nothing was written", ExitCode.FAILED)
    if problems:
        raise _failure(problems, "read back with the new key")
    if expected:
        raise OpsctlError(f"{column.name}: {len(expected)} written row(s) could not be read back; nothing was written",
                          ExitCode.FAILED)


def reencrypt(connection, accept: tuple[NamedKey, ...], target: NamedKey, *, dry_run: bool = False,
              before_commit: Callable[[Result], None] | None = None,
              on_progress: Callable[[str], None] | None = None) -> Result:
    """Bring every value under `target`, from any key in `accept`; the caller's connection commits."""
    keys = (*[k for k in accept if k.name != target.name], target)  # most values are under the old key
    present, _missing = present_columns(connection)
    if not dry_run:
        _lock(connection, present)
    result, problems, planned = Result(target.name, dry_run), [], []
    for column in present:
        column_result, changes = _plan_column(connection, column, keys, target, not dry_run, problems)
        result.columns.append(column_result)
        planned.append((column, changes))
    if problems:
        raise _failure(problems, "decrypted with the " + " or the ".join(k.name.replace("_", " ") for k in keys))
    if dry_run:
        return result
    for column, changes in planned:
        if changes:
            if on_progress:
                on_progress(f"{column.name}: writing {len(changes)} row(s)")
            _write(connection, column, changes)
            _verify(connection, column, changes, target)
    if before_commit:
        before_commit(result)
    return result
