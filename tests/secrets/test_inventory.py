"""opsctl's list of encrypted columns is LiteLLM's: an upgrade that adds one fails here."""

from __future__ import annotations

import psycopg

from opsctl.secrets.inventory import COLUMNS, MARKER
from tests.support.litellm_db import database_url


def test_inventory_is_litellms_secret_columns():
    from litellm.proxy.common_utils.callback_utils import CALLBACK_VAR_ENCRYPTED_PREFIX
    from litellm.proxy.db.master_key_migration import _SECRET_COLUMNS

    theirs = [(c.table, c.primary_key, c.column, c.is_json, c.only_rows_with_marked_ciphertexts) for c in _SECRET_COLUMNS]
    ours = [(c.table, c.primary_key, c.column, c.is_json, c.only_rows_with_marked_ciphertexts) for c in COLUMNS]
    assert ours == theirs
    assert len(ours) == 21
    assert MARKER == CALLBACK_VAR_ENCRYPTED_PREFIX


def test_every_column_is_in_the_migrated_schema_with_its_type(litellm_template):
    with psycopg.connect(database_url(litellm_template)) as connection:
        types = dict(((t, c), d) for t, c, d in connection.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns").fetchall())
        primary_keys = dict(connection.execute(
            """SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc
               JOIN information_schema.key_column_usage kcu USING (constraint_name, table_schema)
               WHERE tc.constraint_type = 'PRIMARY KEY'""").fetchall())
    for column in COLUMNS:
        assert types[(column.table, column.column)] == ("jsonb" if column.is_json else "text"), column.name
        assert primary_keys[column.table] == column.primary_key, column.name
        assert types[(column.table, column.primary_key)] == "text", column.name  # rotation matches ids as text
