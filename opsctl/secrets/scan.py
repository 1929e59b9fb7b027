"""Read every encrypted value in LiteLLM's database and say which key opens it.

`secrets status` is this module's report: per table and column, how many
values, in which format, under which key (the salt key, the master key, or
none). A value under none is named by table, primary key and JSON path: a
damaged or foreign ciphertext that LiteLLM itself would only log about and
then send upstream as it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from opsctl.secrets.crypto import Key, looks_encrypted, value_format
from opsctl.secrets.inventory import COLUMNS, MARKER, SecretColumn
from opsctl.secrets.values import Leaf, format_path, leaves, parse_json

NO_KEY = "none"
PLAINTEXT = "plaintext"


@dataclass(frozen=True)
class NamedKey:
    name: str  # "salt_key", "master_key", "new_salt_key", ...
    key: Key


@dataclass(frozen=True)
class Found:
    """One string of a column: the key that opens it (NO_KEY: none), or a plaintext."""

    leaf: Leaf
    key_name: str  # a NamedKey.name, NO_KEY or PLAINTEXT
    plaintext: str | None

    @property
    def is_value(self) -> bool:
        """An encrypted value (readable or not), as opposed to a plaintext string."""
        return self.key_name != PLAINTEXT

    @property
    def format(self) -> str:
        return value_format(self.leaf.text)


@dataclass(frozen=True)
class Unreadable:
    table: str
    primary_key: str
    row_id: str
    path: str
    format: str
    reason: str

    def describe(self) -> str:
        return f"{self.table} {self.primary_key}={self.row_id} {self.path} ({self.format}): {self.reason}"

    def to_json(self) -> dict:
        return {"table": self.table, "primary_key": self.primary_key, "id": self.row_id, "path": self.path,
                "format": self.format, "reason": self.reason}


@dataclass
class ColumnStatus:
    column: SecretColumn
    present: bool = True
    rows: int = 0  # rows holding at least one encrypted value
    formats: Counter = field(default_factory=Counter)
    keys: Counter = field(default_factory=Counter)
    plaintext: int = 0  # plaintext strings where LiteLLM writes ciphertexts (it passes them through)

    @property
    def values(self) -> int:
        return sum(self.keys.values())

    def to_json(self, key_names: Iterable[str]) -> dict:
        return {"table": self.column.table, "column": self.column.column, "present": self.present,
                "rows": self.rows, "values": self.values,
                "formats": {"nacl": self.formats["nacl"], "v2:gcm": self.formats["v2:gcm"]},
                "keys": {name: self.keys[name] for name in (*key_names, NO_KEY)},
                "plaintext": self.plaintext}


@dataclass
class StatusReport:
    key_names: tuple[str, ...]
    current: str  # the key name the proxy decrypts with
    columns: list[ColumnStatus]
    unreadable: list[Unreadable]

    @property
    def total(self) -> int:
        return sum(c.values for c in self.columns)

    def count(self, key_name: str) -> int:
        return sum(c.keys[key_name] for c in self.columns)

    @property
    def stale(self) -> int:
        """Values under a key the proxy does not decrypt with: it cannot read them either."""
        return sum(self.count(name) for name in self.key_names if name != self.current)

    def to_json(self) -> dict:
        return {
            "current_key": self.current,
            "total": self.total,
            "by_key": {name: self.count(name) for name in (*self.key_names, NO_KEY)},
            "columns": [c.to_json(self.key_names) for c in self.columns],
            "unreadable": [u.to_json() for u in self.unreadable],
        }


def present_columns(connection) -> tuple[list[SecretColumn], list[SecretColumn]]:
    """(inventory columns this database has, those it lacks: an older LiteLLM schema)."""
    existing = set(connection.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = ANY (current_schemas(false))"
    ).fetchall())
    present = [c for c in COLUMNS if (c.table, c.column) in existing]
    return present, [c for c in COLUMNS if (c.table, c.column) not in existing]


def rows_sql(column: SecretColumn) -> str:
    marked = f" AND strpos(\"{column.column}\"::text, '{MARKER}') > 0" if column.only_rows_with_marked_ciphertexts else ""
    return (f'SELECT "{column.primary_key}"::text, "{column.column}"::text FROM "{column.table}" '
            f'WHERE "{column.column}" IS NOT NULL{marked} ORDER BY 1')


def parsed(column: SecretColumn, raw: str):
    return parse_json(raw) if column.is_json else raw


def classify(leaf: Leaf, keys: tuple[NamedKey, ...]) -> Found:
    for named in keys:
        plaintext = named.key.decrypt(leaf.text)
        if plaintext is not None:
            return Found(leaf, named.name, plaintext)
    meant_encrypted = bool(leaf.marker) or (leaf.strict and looks_encrypted(leaf.text))
    return Found(leaf, NO_KEY if meant_encrypted else PLAINTEXT, None)


def row_values(column: SecretColumn, row_id: str, value, keys: tuple[NamedKey, ...]) -> Iterator[Found]:
    """The classified strings of one row that matter: values, and plaintexts at strict places."""
    for leaf in leaves(column, row_id, value):
        found = classify(leaf, keys)
        if found.is_value or leaf.strict:
            yield found


def unreadable(column: SecretColumn, row_id: str, found: Found, keys: tuple[NamedKey, ...]) -> Unreadable:
    names = " or the ".join(n.name.replace("_", " ") for n in keys) or "any key"
    return Unreadable(column.table, column.primary_key, row_id, format_path(found.leaf.path), found.format,
                      f"does not decrypt with the {names}")


def too_deep(column: SecretColumn, row_id: str) -> Unreadable:
    return Unreadable(column.table, column.primary_key, row_id, "$", "json", "nested too deeply to read")


def scan(connection, keys: tuple[NamedKey, ...], current: str) -> StatusReport:
    present, missing = present_columns(connection)
    statuses = [ColumnStatus(c, present=False) for c in missing]
    problems: list[Unreadable] = []
    for column in present:
        status = ColumnStatus(column)
        for row_id, raw in connection.execute(rows_sql(column)).fetchall():
            try:
                found_in_row = list(row_values(column, row_id, parsed(column, raw), keys))
            except RecursionError:
                problems.append(too_deep(column, row_id))
                continue
            values = [f for f in found_in_row if f.is_value]
            status.rows += bool(values)
            for found in found_in_row:
                if not found.is_value:
                    status.plaintext += 1
                    continue
                status.keys[found.key_name] += 1
                status.formats[found.format] += 1
                if found.key_name == NO_KEY:
                    problems.append(unreadable(column, row_id, found, keys))
        statuses.append(status)
    order = {c: i for i, c in enumerate(COLUMNS)}
    statuses.sort(key=lambda s: order[s.column])
    return StatusReport(tuple(k.name for k in keys), current, statuses, problems)


def load_status(database_url: str, keys: tuple[NamedKey, ...], current: str) -> StatusReport:
    from opsctl.db.connection import connect

    with connect(database_url) as connection:
        return scan(connection, keys, current)
