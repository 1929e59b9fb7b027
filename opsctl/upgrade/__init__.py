"""`opsctl upgrade`: move the compose stack to another LiteLLM image, safely.

target (the image a version names; the migrations an image carries, read by
running it once through compose) -> ledger (Prisma's `_prisma_migrations` and a
schema fingerprint: what is applied, what failed, whether the schema moved) ->
plan (the preflight: what the upgrade would change, what blocks it) -> run
(backup, pin, migrate, restart, smoke; and the rollback when a step fails).

Imports the base, opsctl.db (connecting), opsctl.backup (the backup and the
restore), opsctl.stack (compose, engine, readiness; replicas: the rolling
recreate), opsctl.replicas (which replicas a stack has), opsctl.smoke (replicas:
each replica's readiness through the LB) and opsctl.secrets (stackenv: the
stack's .env edited one line at a time; proxy: recreating the proxy). No click.
"""
