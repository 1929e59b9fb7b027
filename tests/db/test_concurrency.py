"""A concurrent edit between plan and apply: the apply rolls back whole."""

from __future__ import annotations

import psycopg
import pytest

from opsctl.errors import ExitCode, OpsctlError
from opsctl.db.overrides import apply_plan, load_plan
from opsctl.policy import load_policy
from tests.support.litellm_db import raw_rows

EDITS = {
    # a raw SQL edit that leaves updated_at alone: caught by the params digest
    "params only": """UPDATE "LiteLLM_ProxyModelTable" SET litellm_params = litellm_params || '{"rpm": 7}'
                      WHERE model_id = %s""",
    # what the LiteLLM UI does (Prisma bumps updated_at) even if params end up equal
    "updated_at only": """UPDATE "LiteLLM_ProxyModelTable" SET updated_at = updated_at + interval '1 second'
                          WHERE model_id = %s""",
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_edit_between_plan_and_apply_is_a_conflict_and_nothing_is_written(seeded, tmp_path, edit):
    plan = load_plan(seeded.url, load_policy(None))
    assert len(plan.changes) == 5
    with psycopg.connect(seeded.url) as connection:
        connection.execute(EDITS[edit], (seeded.ids["qwen-cloud"],))
    edited = raw_rows(seeded.url)

    with pytest.raises(OpsctlError) as raised:
        apply_plan(seeded.url, plan, tmp_path / "backup.json")
    assert raised.value.exit_code == ExitCode.CONFLICT
    assert raised.value.message == (
        "1 of 5 planned deployments changed since the plan was made; nothing was written, re-run to plan again"
    )
    assert raw_rows(seeded.url) == edited  # the other four rows were rolled back too
    assert not (tmp_path / "backup.json").exists()

    # Re-running plans again and succeeds.
    result = apply_plan(seeded.url, load_plan(seeded.url, load_policy(None)), tmp_path / "backup.json")
    assert result.updated == 5


def test_apply_waits_for_rows_another_session_is_writing_then_sees_the_conflict(seeded, tmp_path):
    """A session holding the row lock commits an edit; the apply's row guard notices it after the lock."""
    import threading

    plan = load_plan(seeded.url, load_policy(None))
    holder = psycopg.connect(seeded.url)
    holder.execute(EDITS["params only"], (seeded.ids["chat-b"],))  # row locked, not committed
    outcome: dict = {}

    def apply():
        try:
            apply_plan(seeded.url, plan, tmp_path / "backup.json")
        except OpsctlError as error:
            outcome["error"] = error

    worker = threading.Thread(target=apply)
    worker.start()
    worker.join(timeout=1.0)
    assert worker.is_alive()  # blocked on the row lock, not racing past it
    holder.commit()
    holder.close()
    worker.join(timeout=10)
    assert outcome["error"].exit_code == ExitCode.CONFLICT
    assert not (tmp_path / "backup.json").exists()
