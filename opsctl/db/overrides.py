"""Per-model timeout/num_retries overrides in LiteLLM's model table.

`make_plan` is pure: DB rows + policy -> what would change. `apply_plan`
writes a plan in one transaction with one set-based UPDATE: the new values
are merged into litellm_params as JSON numbers (LiteLLM reads any string
there as ciphertext), every other key is left as it was. Each row is
guarded by the updated_at and litellm_params digest the plan saw, so a
concurrent edit makes the row count differ and the whole apply rolls back.
The before-images are saved first (see opsctl.db.undo) so the apply can be
undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.policy import Policy, Rule

UPDATED_BY = "opsctl"

FETCH_SQL = """
SELECT model_id, model_name, litellm_params->'timeout', litellm_params->'num_retries',
       updated_at, md5(litellm_params::text)
FROM "LiteLLM_ProxyModelTable"
ORDER BY model_name, model_id
"""

# Locks the planned rows and reads their before-images in the same transaction as the UPDATE.
LOCK_SQL = """
SELECT model_id, model_name, litellm_params::text, updated_at, updated_by
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
  AND t.updated_at IS NOT DISTINCT FROM p.planned_updated_at
  AND md5(t.litellm_params::text) = p.planned_digest
RETURNING t.model_id, md5(t.litellm_params::text)
"""


@dataclass(frozen=True)
class Deployment:
    """One row of LiteLLM_ProxyModelTable, as far as planning needs it."""

    model_id: str
    model_name: str
    timeout: object  # the stored JSON value: a number, None when unset, anything else is broken
    num_retries: object
    updated_at: datetime | None
    digest: str  # md5 of litellm_params: the concurrency guard

    def to_json(self) -> dict:
        return {"model_name": self.model_name, "model_id": self.model_id,
                "timeout": self.timeout, "num_retries": self.num_retries}


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
            "timeout": {"current": self.current_timeout, "new": self.new_timeout},
            "num_retries": {"current": self.current_num_retries, "new": self.new_num_retries},
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

    def to_json(self) -> dict:
        return {
            "policy": self.policy_source,
            "changes": [a.to_json() for a in self.changes],
            "compliant": [a.to_json() for a in self.compliant],
            "unmatched_rules": [rule_json(rule) for rule in self.unmatched_rules],
            "uncovered": [d.to_json() for d in self.uncovered],
            "overlaps": [o.to_json() for o in self.overlaps],
        }


@dataclass(frozen=True)
class ApplyResult:
    updated: int
    backup: Path | None  # the before-image file; None when nothing changed


def rule_json(rule: Rule) -> dict:
    return {"pattern": rule.pattern, "tier": rule.tier, "timeout": rule.timeout, "num_retries": rule.num_retries}


def _same_number(stored: object, wanted: float) -> bool:
    """A JSON number equal to wanted; a string "30" is not (LiteLLM would read it as ciphertext)."""
    return isinstance(stored, (int, float)) and not isinstance(stored, bool) and stored == wanted


def make_plan(deployments: list[Deployment], policy: Policy) -> Plan:
    changes, compliant, uncovered = [], [], []
    matched_rules: set[Rule] = set()
    rules_by_name: dict[str, list[Rule]] = {}
    for deployment in deployments:
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
    )


def fetch_deployments(connection) -> list[Deployment]:
    return [Deployment(*row) for row in connection.execute(FETCH_SQL).fetchall()]


def load_plan(database_url: str, policy: Policy) -> Plan:
    from opsctl.db.connection import connect

    with connect(database_url) as connection:
        return make_plan(fetch_deployments(connection), policy)


def as_json_number(value: float) -> Decimal:
    # Decimal keeps 30 as the JSON number 30 (a float would become 30.0).
    return Decimal(str(value))


def apply_plan(database_url: str, plan: Plan, backup_path: Path) -> ApplyResult:
    """Write the plan's changes in one transaction, before-images saved to backup_path first."""
    from opsctl.db.connection import connect, describe_url
    from opsctl.db.undo import write_backup

    if not plan.changes:
        return ApplyResult(0, None)
    changes = plan.changes
    ids = [a.model_id for a in changes]
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
        # Written inside the transaction: if the file cannot be written, nothing is committed.
        write_backup(backup_path, describe_url(database_url), before, after_digests)
    return ApplyResult(len(changes), backup_path)
