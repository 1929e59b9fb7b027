"""Per-model timeout/num_retries overrides in LiteLLM's model table.

`make_plan` is pure: DB rows + policy -> what would change. `apply_plan`
writes a plan in one transaction with one set-based UPDATE: the new values
are merged into litellm_params as JSON numbers (LiteLLM reads any string
there as ciphertext), every other key is left as it was. Each row is
guarded by the updated_at and litellm_params digest the plan saw, so a
concurrent edit makes the row count differ and the whole apply rolls back.
The before-images are saved first (see opsctl.db.undo) so the apply can be
undone.

Rows are read as the text Postgres stores, never through Python's json
alone: a row whose litellm_params is not a JSON object (`[]`, a string) is
reported and left alone (`||` would wrap it in an array and grow it on every
run), and a stored number Python cannot read (1e5000, 4,300+ digits) is
shown as Unreadable and replaced by the policy value.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.policy import Policy, Rule

UPDATED_BY = "opsctl"

FETCH_SQL = """
SELECT model_id, model_name, (litellm_params->'timeout')::text, (litellm_params->'num_retries')::text,
       updated_at, md5(litellm_params::text), jsonb_typeof(litellm_params)
FROM "LiteLLM_ProxyModelTable"
ORDER BY model_name, model_id
"""

# Locks the planned rows and reads their before-images in the same transaction as the UPDATE.
LOCK_SQL = """
SELECT model_id, model_name, (litellm_params->'timeout')::text, (litellm_params->'num_retries')::text,
       updated_at, updated_by
FROM "LiteLLM_ProxyModelTable"
WHERE model_id = ANY(%s)
ORDER BY model_id
FOR UPDATE
"""

APPLY_SQL = """
UPDATE "LiteLLM_ProxyModelTable" AS t
SET litellm_params = t.litellm_params
        || jsonb_build_object('timeout', p.timeout, 'num_retries', p.num_retries),
    updated_at = now() AT TIME ZONE 'UTC',
    updated_by = %s
FROM unnest(%s::text[], %s::numeric[], %s::int[], %s::timestamp[], %s::text[])
    AS p(model_id, timeout, num_retries, planned_updated_at, planned_digest)
WHERE t.model_id = p.model_id
  AND jsonb_typeof(t.litellm_params) = 'object'
  AND t.updated_at IS NOT DISTINCT FROM p.planned_updated_at
  AND md5(t.litellm_params::text) = p.planned_digest
RETURNING t.model_id, md5(t.litellm_params::text)
"""


@dataclass(frozen=True)
class Unreadable:
    """A stored JSON value Python cannot hold (a number like 1e5000); `text` is its start."""

    text: str

    def to_json(self) -> dict:
        return {"unreadable": self.text}


MAX_STORED_NUMBER = 40  # characters; more is no timeout anyone meant


def _bounded_number(text: str):
    if len(text) > MAX_STORED_NUMBER:
        raise ValueError("too long")
    value = float(text) if any(ch in text for ch in ".eE") else int(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("out of range")
    return value


def stored_value(text: str | None) -> object:
    """The stored JSON value from its text: None when unset, Unreadable when Python cannot hold it."""
    if text is None:
        return None
    try:
        return json.loads(text, parse_int=_bounded_number, parse_float=_bounded_number)
    except (ValueError, RecursionError):
        return Unreadable(text if len(text) <= MAX_STORED_NUMBER else text[: MAX_STORED_NUMBER - 1] + "…")


def json_value(value: object) -> object:
    """A stored value for --json output."""
    return value.to_json() if isinstance(value, Unreadable) else value


@dataclass(frozen=True)
class Deployment:
    """One row of LiteLLM_ProxyModelTable, as far as planning needs it."""

    model_id: str
    model_name: str
    timeout: object  # the stored JSON value: a number, None when unset, anything else is broken
    num_retries: object
    updated_at: datetime | None
    digest: str  # md5 of litellm_params: the concurrency guard
    params_type: str = "object"  # jsonb_typeof(litellm_params): anything else is left alone

    def to_json(self) -> dict:
        shown = {"model_name": self.model_name, "model_id": self.model_id,
                 "timeout": json_value(self.timeout), "num_retries": json_value(self.num_retries)}
        if self.params_type != "object":
            shown["litellm_params_type"] = self.params_type
        return shown


@dataclass(frozen=True)
class Assignment:
    """A deployment and the rule that wins for its name."""

    deployment: Deployment
    rule: Rule

    @property
    def model_name(self) -> str:
        return self.deployment.model_name

    @property
    def model_id(self) -> str:
        return self.deployment.model_id

    @property
    def current_timeout(self) -> object:
        return self.deployment.timeout

    @property
    def current_num_retries(self) -> object:
        return self.deployment.num_retries

    @property
    def new_timeout(self) -> float:
        return self.rule.timeout

    @property
    def new_num_retries(self) -> int:
        return self.rule.num_retries

    @property
    def complies(self) -> bool:
        return _same_number(self.current_timeout, self.new_timeout) and _same_number(
            self.current_num_retries, self.new_num_retries
        )

    def to_json(self) -> dict:
        return {
            "model_name": self.model_name,
            "model_id": self.model_id,
            "timeout": {"current": json_value(self.current_timeout), "new": self.new_timeout},
            "num_retries": {"current": json_value(self.current_num_retries), "new": self.new_num_retries},
            "rule": rule_json(self.rule),
        }


@dataclass(frozen=True)
class Overlap:
    """A model name matched by several rules; the first one wins."""

    model_name: str
    rules: tuple[Rule, ...]

    @property
    def winner(self) -> Rule:
        return self.rules[0]

    def to_json(self) -> dict:
        return {"model_name": self.model_name, "winner": rule_json(self.winner),
                "also_matched": [rule_json(rule) for rule in self.rules[1:]]}


@dataclass(frozen=True)
class Plan:
    policy_source: str
    changes: tuple[Assignment, ...]
    compliant: tuple[Assignment, ...]
    unmatched_rules: tuple[Rule, ...]  # matched no DB model: a warning, not an error
    uncovered: tuple[Deployment, ...]  # DB models no rule covers: left alone
    overlaps: tuple[Overlap, ...]
    not_objects: tuple[Deployment, ...] = ()  # litellm_params is not a JSON object: reported, left alone

    def to_json(self) -> dict:
        return {
            "policy": self.policy_source,
            "changes": [a.to_json() for a in self.changes],
            "compliant": [a.to_json() for a in self.compliant],
            "unmatched_rules": [rule_json(rule) for rule in self.unmatched_rules],
            "uncovered": [d.to_json() for d in self.uncovered],
            "overlaps": [o.to_json() for o in self.overlaps],
            "not_objects": [d.to_json() for d in self.not_objects],
        }


@dataclass(frozen=True)
class ApplyResult:
    updated: int
    backup: Path | None  # the before-image file; None when nothing changed
    note: str = ""  # e.g. interrupted after the commit


def rule_json(rule: Rule) -> dict:
    return {"pattern": rule.pattern, "tier": rule.tier, "timeout": rule.timeout, "num_retries": rule.num_retries}


def _same_number(stored: object, wanted: float) -> bool:
    """A JSON number equal to wanted; a string "30" is not (LiteLLM would read it as ciphertext)."""
    return isinstance(stored, (int, float)) and not isinstance(stored, bool) and stored == wanted


def make_plan(deployments: list[Deployment], policy: Policy) -> Plan:
    changes, compliant, uncovered, not_objects = [], [], [], []
    matched_rules: set[Rule] = set()
    rules_by_name: dict[str, list[Rule]] = {}
    for deployment in deployments:
        if deployment.params_type != "object":
            not_objects.append(deployment)
            continue
        if deployment.model_name not in rules_by_name:
            rules_by_name[deployment.model_name] = policy.matching_rules(deployment.model_name)
        rules = rules_by_name[deployment.model_name]
        if not rules:
            uncovered.append(deployment)
            continue
        matched_rules.update(rules)
        assignment = Assignment(deployment, rules[0])
        (compliant if assignment.complies else changes).append(assignment)
    return Plan(
        policy_source=policy.source,
        changes=tuple(changes),
        compliant=tuple(compliant),
        unmatched_rules=tuple(rule for rule in policy.rules if rule not in matched_rules),
        uncovered=tuple(uncovered),
        overlaps=tuple(Overlap(name, tuple(rules)) for name, rules in sorted(rules_by_name.items()) if len(rules) > 1),
        not_objects=tuple(not_objects),
    )


def fetch_deployments(connection) -> list[Deployment]:
    return [
        Deployment(model_id, model_name, stored_value(timeout), stored_value(retries), updated_at, digest, params_type)
        for model_id, model_name, timeout, retries, updated_at, digest, params_type in connection.execute(FETCH_SQL).fetchall()
    ]


def load_plan(database_url: str, policy: Policy) -> Plan:
    from opsctl.db.connection import connect

    with connect(database_url) as connection:
        return make_plan(fetch_deployments(connection), policy)


def as_json_number(value: float) -> Decimal:
    # Decimal keeps 30 as the JSON number 30 (a float would become 30.0).
    return Decimal(str(value))


def apply_plan(database_url: str, plan: Plan, backup_path: Path) -> ApplyResult:
    """Write the plan's changes in one transaction, before-images saved to backup_path before the COMMIT.

    Whatever stops the apply (an error, Ctrl-C, a lost connection), the backup
    file is kept exactly when the apply committed: removed when it certainly
    did not, and when the COMMIT was sent but its answer lost, the outcome is
    asked of the server by the transaction id (opsctl.db.undo.settle_backup).
    """
    from opsctl.db.connection import connect
    from opsctl.db.undo import database_identity, settle_backup, write_backup

    if not plan.changes:
        return ApplyResult(0, None)
    changes = plan.changes
    ids = [a.model_id for a in changes]
    transaction = None
    commit_sent = False
    try:
        with connect(database_url) as connection:
            before = connection.execute(LOCK_SQL, (ids,)).fetchall()
            cursor = connection.execute(
                APPLY_SQL,
                (
                    UPDATED_BY,
                    ids,
                    [as_json_number(a.new_timeout) for a in changes],
                    [a.new_num_retries for a in changes],
                    [a.deployment.updated_at for a in changes],
                    [a.deployment.digest for a in changes],
                ),
            )
            if cursor.rowcount != len(changes):
                raise OpsctlError(
                    f"{len(changes) - cursor.rowcount} of {len(changes)} planned deployments changed since the plan "
                    "was made; nothing was written, re-run to plan again",
                    ExitCode.CONFLICT,
                )
            after_digests = dict(cursor.fetchall())
            identity = database_identity(connection)
            transaction = connection.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
            write_backup(backup_path, identity, transaction, before, after_digests)
            commit_sent = True
            connection.commit()
    except BaseException as error:
        if transaction is None or not os.path.lexists(backup_path):
            if isinstance(error, KeyboardInterrupt):
                raise OpsctlError("interrupted: the apply was rolled back; nothing was changed", ExitCode.FAILED) from None
            raise
        # The path did not exist before (check_backup_path, exclusive write): the file there is ours.
        outcome = settle_backup(database_url, backup_path, transaction, commit_sent)
        if outcome == "committed":
            return ApplyResult(len(changes), backup_path, note=f"the apply committed before it was stopped ({_why(error)})")
        if outcome == "unknown":
            raise OpsctlError(
                f"{_why(error)}; the COMMIT was sent but its answer was lost: {backup_path} is kept, and "
                f"`opsctl db undo {backup_path} --dry-run` tells whether the apply committed",
                error.exit_code if isinstance(error, OpsctlError) else ExitCode.FAILED) from None
        if isinstance(error, OpsctlError):
            raise
        raise OpsctlError(f"{_why(error)}: the apply was rolled back and its backup removed; nothing was changed",
                          ExitCode.FAILED) from None
    return ApplyResult(len(changes), backup_path)


def _why(error: BaseException) -> str:
    if isinstance(error, OpsctlError):
        return error.message
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return type(error).__name__
