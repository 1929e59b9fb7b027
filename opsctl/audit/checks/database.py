"""Per-model timeouts/retries: the DB's deployments match the policy (the overrides plan, read only)."""

from __future__ import annotations

from dataclasses import dataclass

from opsctl.audit.registry import Evidence, Needs, Result, Status, check, worst
from opsctl.policy import Policy

TABLE = "LiteLLM_ProxyModelTable"


@dataclass(frozen=True)
class DatabaseTarget:
    database_url: str
    policy: Policy


@check("model-timeouts", section="Per-model timeouts/retries", needs=Needs.DB,
       runbook=("Local-ish (`vllm-qwen2.5-0.5b-instruct`, llamacpp-local, gemma3-1b-local, llama3.2-1b-local, local-embeddings, "
                "local-rerank): timeout=30, num_retries=1. Cloud/aliases (`%cloud%`, deepseek-*, chat-default, "
                "embeddings-default, rerank-default): timeout=90, num_retries=2."),
       fix="opsctl db apply-overrides --dry-run, then opsctl db apply-overrides")
def model_timeouts(target: DatabaseTarget) -> Result:
    from opsctl.overrides import load_plan

    plan = load_plan(target.database_url, target.policy)
    findings = [
        (Status.FAIL, Evidence(f"{TABLE}: {a.model_name} ({a.model_id}) timeout={a.current_timeout} num_retries="
                               f"{a.current_num_retries}, policy {a.new_timeout}/{a.new_num_retries}"))
        for a in plan.changes
    ]
    findings += [(Status.WARN, Evidence(f"{TABLE}: {d.model_name} ({d.model_id}) matches no rule in {plan.policy_source}"))
                 for d in plan.uncovered]
    findings.append((Status.PASS, Evidence(f"{TABLE}: {len(plan.compliant)} deployment(s) match {plan.policy_source}")))
    return worst(findings)
