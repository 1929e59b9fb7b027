"""Undo for `db apply-overrides`: before-image files and putting them back.

A backup file (format opsctl-db-backup/2) holds, for every row an apply
changed, the `timeout` and `num_retries` values as stored before it (their
jsonb text; null when the key was absent), updated_at and updated_by, and the
digest of the litellm_params opsctl wrote. It also names the database
(cluster system identifier and database name) and the transaction of the
apply. Restore puts back only those two keys, only into rows that still hold
what opsctl wrote, and only on the database the file names: an edited file
cannot write an api_base or api_key anywhere, and an edit made after the
apply is never silently overwritten.

The file is written atomically and durably before the COMMIT (it must exist
if the commit happens, and a client can be killed while the COMMIT is in
flight); if the apply then does not commit, it is removed. A kill -9 between
the write and the commit leaves it behind, and the transaction id tells:
restore refuses a file whose apply never committed ("void").

Backup files are read only when they are regular files owned by the caller
with mode 0600, at most MAX_BACKUP_BYTES, and well-formed JSON (no NUL, no
lone surrogates, no deep nesting); anything else is one USAGE error.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from opsctl import jsonsafe
from opsctl.errors import ExitCode, OpsctlError

BACKUP_FORMAT = "opsctl-db-backup/2"
MAX_BACKUP_BYTES = 64 * 1024 * 1024  # 10,000 rows take about 2.5 MB
MAX_VALUE_CHARS = 10_000  # a before-value of timeout/num_retries
MAX_NAME_CHARS = 4096
RESTORED_KEYS = ("timeout", "num_retries")
ROW_FIELDS = {"model_id", "model_name", "timeout", "num_retries", "updated_at", "updated_by", "applied_digest"}
DIGEST = re.compile(r"^[0-9a-f]{32}$")
TRANSACTION = re.compile(r"^[0-9]{1,20}$")

IDENTITY_SQL = "SELECT system_identifier::text FROM pg_control_system()"

CURRENT_SQL = """
SELECT model_id, (litellm_params->'timeout')::text, (litellm_params->'num_retries')::text,
       md5(litellm_params::text), jsonb_typeof(litellm_params)
FROM "LiteLLM_ProxyModelTable"
WHERE model_id = ANY(%s)
"""

# Only the two keys opsctl wrote are put back; the rest of litellm_params stays as it is.
RESTORE_SQL = """
UPDATE "LiteLLM_ProxyModelTable" AS t
SET litellm_params = (t.litellm_params - 'timeout' - 'num_retries')
        || CASE WHEN b.timeout IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('timeout', b.timeout::jsonb) END
        || CASE WHEN b.num_retries IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('num_retries', b.num_retries::jsonb) END,
    updated_at = b.updated_at,
    updated_by = b.updated_by
FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamp[], %s::text[], %s::text[])
    AS b(model_id, timeout, num_retries, updated_at, updated_by, guard_digest)
WHERE t.model_id = b.model_id
  AND jsonb_typeof(t.litellm_params) = 'object'
  AND md5(t.litellm_params::text) = b.guard_digest
"""


def default_backup_path(now: datetime | None = None) -> Path:
    from opsctl.files import undo_path

    return undo_path("db-overrides", ".json", now)


def check_backup_path(path: Path) -> None:
    """Fail before touching the database if the backup cannot be created."""
    if os.path.lexists(path):  # a dangling symlink counts: it would be followed
        raise OpsctlError(f"backup file already exists: {path}", ExitCode.USAGE)


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise OpsctlError(f"cannot write backup file {path}: {error.strerror}; nothing was changed", ExitCode.USAGE) from None


# --- the database and the transaction a backup belongs to

def database_identity(connection) -> dict:
    """Which database this is: the cluster's system identifier (when readable) and the database name."""
    import psycopg

    try:
        with connection.transaction():  # a savepoint: a refused read must not abort the caller's transaction
            system = connection.execute(IDENTITY_SQL).fetchone()[0]
    except psycopg.Error:
        system = None
    name = connection.execute("SELECT current_database()").fetchone()[0]
    return {"system_identifier": system, "name": name}


def transaction_status(connection, transaction: str) -> str | None:
    """'committed', 'aborted', 'in progress', or None when the server cannot tell (too old, or refused)."""
    import psycopg

    try:
        with connection.transaction():
            return connection.execute("SELECT pg_xact_status(%s::xid8)", (transaction,)).fetchone()[0]
    except psycopg.Error:
        return None


def ask_transaction_status(database_url: str, transaction: str, wait: float = 5.0) -> str | None:
    """The outcome of `transaction`, asked on a new connection (the apply's own may be gone);
    None when the database cannot be asked. Waits briefly while the server still runs it."""
    from opsctl.db.connection import connect

    deadline = time.monotonic() + wait
    try:
        with connect(database_url) as connection:
            while True:
                found = transaction_status(connection, transaction)
                if found != "in progress" or time.monotonic() >= deadline:
                    return found
                connection.rollback()
                time.sleep(0.1)
    except OpsctlError:
        return None


def _remove(path: Path) -> None:
    from opsctl.files import fsync_directory

    try:
        os.unlink(path)
        fsync_directory(path.parent)
    except FileNotFoundError:
        pass


def settle_backup(database_url: str, path: Path, transaction: str, commit_sent: bool) -> str:
    """After an apply failed with its backup written: 'committed' (kept), 'removed', or 'unknown' (kept)."""
    outcome = ask_transaction_status(database_url, transaction) if commit_sent else "aborted"
    if outcome == "committed":
        return "committed"
    if outcome == "aborted":
        _remove(path)
        return "removed"
    return "unknown"


# --- writing

def write_backup(path: Path, database: dict, transaction: str, before_rows: list[tuple],
                 after_digests: dict[str, str]) -> None:
    """before_rows: (model_id, model_name, timeout text, num_retries text, updated_at, updated_by)."""
    from opsctl.files import write_atomic

    document = {
        "format": BACKUP_FORMAT,
        "database": database,
        "transaction": transaction,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "rows": [
            {
                "model_id": model_id,
                "model_name": model_name,
                "timeout": timeout,
                "num_retries": num_retries,
                "updated_at": updated_at.isoformat() if updated_at else None,
                "updated_by": updated_by,
                "applied_digest": after_digests[model_id],
            }
            for model_id, model_name, timeout, num_retries, updated_at, updated_by in before_rows
        ],
    }
    _make_parent(path)
    try:
        # dumps without indent: the C encoder, 3x faster on 10,000 rows
        write_atomic(path, json.dumps(document), 0o600, exclusive=True, what="the backup")
    except OpsctlError as error:
        raise OpsctlError(f"{error.message}; nothing was changed", error.exit_code) from None


# --- reading

@dataclass(frozen=True)
class Backup:
    source: str
    database: dict
    transaction: str | None
    rows: tuple[dict, ...]


def _damaged(path: Path, why: str) -> OpsctlError:
    return OpsctlError(f"{path}: damaged opsctl backup file ({why})", ExitCode.USAGE)


def _text(value: object, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit


def _row_problem(row: object) -> str | None:
    if not isinstance(row, dict):
        return "not an object"
    if set(row) != ROW_FIELDS:
        return "missing or unknown fields"
    if not (_text(row["model_id"], MAX_NAME_CHARS) and row["model_id"]):
        return "bad model_id"
    if not _text(row["model_name"], MAX_NAME_CHARS):
        return "bad model_name"
    if not _text(row["updated_by"], MAX_NAME_CHARS):  # NOT NULL in LiteLLM's schema
        return "bad updated_by"
    if not (isinstance(row["applied_digest"], str) and DIGEST.match(row["applied_digest"])):
        return "bad applied_digest"
    try:
        if not _text(row["updated_at"], 40):  # NOT NULL too
            raise ValueError
        datetime.fromisoformat(row["updated_at"])
    except ValueError:
        return "bad updated_at"
    for key in RESTORED_KEYS:
        value = row[key]
        if value is None:
            continue
        if not _text(value, MAX_VALUE_CHARS):
            return f"bad {key}"
        try:
            jsonsafe.validate(value)
        except jsonsafe.JSONError as error:
            return f"{key} is not storable JSON: {error}"
    return None


def read_backup(path: Path) -> Backup:
    from opsctl.files import read_private

    data = read_private(path, MAX_BACKUP_BYTES, "backup file")
    try:
        document = jsonsafe.loads(data, allow_nul=False)
    except jsonsafe.JSONError as error:
        raise OpsctlError(f"{path}: not an opsctl backup file ({error})", ExitCode.USAGE) from None
    found = document.get("format") if isinstance(document, dict) else None
    if found == "opsctl-db-backup/1":
        raise OpsctlError(f"{path}: written by an older opsctl (opsctl-db-backup/1, no database identity); "
                          "restore it with that version", ExitCode.USAGE)
    if found != BACKUP_FORMAT:
        raise OpsctlError(f"{path}: not an opsctl backup file (expected format {BACKUP_FORMAT})", ExitCode.USAGE)
    database = document.get("database")
    if not (isinstance(database, dict) and _text(database.get("name"), MAX_NAME_CHARS)
            and (database.get("system_identifier") is None or _text(database.get("system_identifier"), 40))):
        raise _damaged(path, "no database identity")
    transaction = document.get("transaction")
    if transaction is not None and not (isinstance(transaction, str) and TRANSACTION.match(transaction)):
        raise _damaged(path, "bad transaction")
    rows = document.get("rows")
    if not isinstance(rows, list):
        raise _damaged(path, "no rows")
    seen = set()
    for number, row in enumerate(rows, start=1):
        problem = _row_problem(row)
        if problem:
            raise _damaged(path, f"row {number}: {problem}")
        if row["model_id"] in seen:
            raise _damaged(path, f"row {number}: model_id repeated")
        seen.add(row["model_id"])
    return Backup(str(path), {"system_identifier": database.get("system_identifier"), "name": database["name"]},
                  transaction, tuple(rows))


# --- restoring

@dataclass(frozen=True)
class RestoreRow:
    model_id: str
    model_name: str
    current: dict  # key -> jsonb text now (None: absent)
    restored: dict  # key -> jsonb text to put back (None: remove the key)
    entry: dict  # the backup row

    def to_json(self) -> dict:
        from opsctl.db.overrides import json_value, stored_value

        shown = {"model_name": self.model_name, "model_id": self.model_id}
        for key in RESTORED_KEYS:
            shown[key] = {"current": json_value(stored_value(self.current.get(key))),
                          "restored": json_value(stored_value(self.restored[key]))}
        return shown


@dataclass(frozen=True)
class RestorePlan:
    source: str
    restore: tuple[RestoreRow, ...]  # still as opsctl left them: will be put back
    already: tuple[RestoreRow, ...]  # already hold the before-values
    modified: tuple[RestoreRow, ...]  # edited after the apply: refused, or skipped with --skip-edited
    missing: tuple[RestoreRow, ...]  # deleted since: cannot be put back

    def to_json(self) -> dict:
        def rows(group):
            return [row.to_json() for row in group]

        return {"backup": self.source, "restore": rows(self.restore), "already_restored": rows(self.already),
                "modified_since_apply": rows(self.modified), "missing": rows(self.missing)}


def check_database(backup: Backup, identity: dict, where: str) -> None:
    """Refuse a backup written for another database (another cluster, or another database in it)."""
    wanted, found = backup.database, identity
    other_cluster = (wanted["system_identifier"] and found["system_identifier"]
                     and wanted["system_identifier"] != found["system_identifier"])
    if other_cluster or wanted["name"] != found["name"]:
        cluster = f" of cluster {wanted['system_identifier']}" if wanted["system_identifier"] else ""
        raise OpsctlError(
            f"{backup.source} was written for database {wanted['name']!r}{cluster}, not {where}: refusing to restore it",
            ExitCode.USAGE)


def check_transaction(backup: Backup, connection) -> None:
    """Refuse a void backup: the apply that wrote it never committed (a kill between write and commit)."""
    if backup.transaction is None:
        return
    status = transaction_status(connection, backup.transaction)
    if status == "aborted":
        raise OpsctlError(f"{backup.source} is void: the apply that wrote it never committed (transaction "
                          f"{backup.transaction} was rolled back); there is nothing to restore", ExitCode.USAGE)
    if status == "in progress":
        raise OpsctlError(f"the apply that wrote {backup.source} has not finished (transaction {backup.transaction} "
                          "is in progress); re-run when it has", ExitCode.CONFLICT)


def _classify(backup: Backup, current: dict[str, tuple]) -> RestorePlan:
    groups: dict[str, list[RestoreRow]] = {"restore": [], "already": [], "modified": [], "missing": []}
    for entry in backup.rows:
        restored = {key: entry[key] for key in RESTORED_KEYS}
        found = current.get(entry["model_id"])
        if found is None:
            groups["missing"].append(RestoreRow(entry["model_id"], entry["model_name"], {}, restored, entry))
            continue
        timeout, num_retries, digest, params_type = found
        row = RestoreRow(entry["model_id"], entry["model_name"], {"timeout": timeout, "num_retries": num_retries},
                         restored, entry)
        if params_type == "object" and digest == entry["applied_digest"]:
            groups["restore"].append(row)
        elif params_type == "object" and row.current == restored:
            groups["already"].append(row)
        else:
            groups["modified"].append(row)
    return RestorePlan(backup.source, *(tuple(groups[k]) for k in ("restore", "already", "modified", "missing")))


def _current(connection, backup: Backup) -> dict[str, tuple]:
    found = connection.execute(CURRENT_SQL, ([r["model_id"] for r in backup.rows],)).fetchall()
    return {model_id: rest for model_id, *rest in found}


def _checked(connection, backup: Backup, database_url: str) -> None:
    from opsctl.db.connection import describe_url

    check_database(backup, database_identity(connection), describe_url(database_url))
    check_transaction(backup, connection)


def load_restore_plan(database_url: str, path: Path) -> tuple[Backup, RestorePlan]:
    from opsctl.db.connection import connect

    backup = read_backup(path)
    with connect(database_url) as connection:
        _checked(connection, backup, database_url)
        return backup, _classify(backup, _current(connection, backup))


def apply_restore(database_url: str, backup: Backup, plan: RestorePlan, skip_edited: bool = False) -> int:
    """Put the before-values back in one transaction; CONFLICT if any row moved since the plan
    (or, without skip_edited, if any row was edited after the apply)."""
    from opsctl.db.connection import connect

    if plan.modified and not skip_edited:
        raise OpsctlError(
            f"{len(plan.modified)} deployments were edited after the apply; restoring would overwrite "
            "those edits, so nothing was changed (--skip-edited restores the others)",
            ExitCode.CONFLICT,
        )
    rows = plan.restore
    if not rows:
        return 0
    with connect(database_url) as connection:
        _checked(connection, backup, database_url)
        cursor = connection.execute(
            RESTORE_SQL,
            (
                [r.model_id for r in rows],
                [r.restored["timeout"] for r in rows],
                [r.restored["num_retries"] for r in rows],
                [datetime.fromisoformat(r.entry["updated_at"]) for r in rows],
                [r.entry["updated_by"] for r in rows],
                [r.entry["applied_digest"] for r in rows],
            ),
        )
        if cursor.rowcount != len(rows):
            raise OpsctlError(
                f"{len(rows) - cursor.rowcount} of {len(rows)} deployments changed since the restore was "
                "planned; nothing was changed, re-run to plan again",
                ExitCode.CONFLICT,
            )
    return len(rows)
