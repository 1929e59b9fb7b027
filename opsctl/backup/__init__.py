"""`opsctl backup`: one archive of the gateway (LiteLLM's database as a pg_dump,
the stack files and `.env`, a manifest), its verification, and restoring it.

inventory (what the database holds: row counts, migrations, emptiness) ->
pgtools (pg_dump / pg_restore on the host, or in the stack's Postgres container) ->
archive (the tar file: write, read safely, verify) -> restore.
Imports the base, opsctl.db (connecting) and opsctl.stack (compose, for the
container path); no click.
"""
