"""migrate_log.failure_summary on the texts Prisma prints (its error reference's P3018 and P3009, which
opsctl's prisma shim reproduces), wrapped the way LiteLLM's migration runner logs them."""

from opsctl.upgrade.migrate_log import failure_summary

P3018 = """\
Applying migration `29990101000001_opsctl_fails`
Error: P3018

A migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve

Migration name: 29990101000001_opsctl_fails

Database error code: 22012

Database error:
ERROR: division by zero
"""

P3009 = """\
Error: P3009

migrate found failed migrations in the target database, new migrations will not be applied. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve
The `20240528214728_add_cursor_index_03` migration started at 2025-10-10 13:48:23.538445 UTC failed
"""


def wrapped(prisma: str) -> list[str]:
    """As the litellm image's migrate service logs it: LiteLLM's exception around Prisma's text, then more."""
    return ["Traceback (most recent call last):", '  File "prisma_migration.py", line 99, in <module>',
            "RuntimeError: Database migration failed and cannot be auto-recovered. Manual intervention required.",
            "", "Prisma error:", *prisma.splitlines(),
            "LiteLLM Proxy: Postgres connection budget per pod = 1 worker(s) x 1 = up to 10 connections"]


def test_a_failed_migration_is_named_with_the_databases_error():
    assert failure_summary(wrapped(P3018)) == "migration 29990101000001_opsctl_fails failed: ERROR: division by zero"


def test_a_failure_recorded_by_an_earlier_run_is_named():
    assert failure_summary(wrapped(P3009)) == "migration 20240528214728_add_cursor_index_03 failed"


def test_the_last_failure_wins_and_its_own_error_goes_with_it():
    assert failure_summary(P3018.splitlines() + P3009.splitlines()) == (
        "migration 20240528214728_add_cursor_index_03 failed")


def test_a_log_without_a_failed_migration_says_nothing():
    assert failure_summary(["Error: P1001: Can't reach database server at `postgres:5432`", ""]) is None
    assert failure_summary([]) is None
