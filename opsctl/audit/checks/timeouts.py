"""Per-model timeouts/retries: config.yaml's models and the DB's deployments match the policy.

Both go through the overrides plan (`opsctl.db.overrides.make_plan`), the same
one `opsctl db apply-overrides` writes from; nothing is written here.
"""

from __future__ import annotations

from dataclasses import dataclass

from opsctl.audit.checks.common import needs_config
from opsctl.audit.registry import Evidence, Needs, Result, Status, check, worst
from opsctl.audit.stackfiles import StackFiles
from opsctl.policy import Policy

SECTION = "Per-model timeouts/retries"
TIERS_LINE = ("Local-ish (`vllm-qwen2.5-0.5b-instruct`, llamacpp-local, gemma3-1b-local, llama3.2-1b-local, local-embeddings, "
              "local-rerank): timeout=30, num_retries=1. Cloud/aliases (`%cloud%`, deepseek-*, chat-default, "
              "embeddings-default, rerank-default): timeout=90, num_retries=2.")
TABLE = "LiteLLM_ProxyModelTable"


@check("config-model-timeouts", section=SECTION, runbook=TIERS_LINE,
       fix="set each model's litellm_params.timeout and num_retries to its policy tier (see docs/db-overrides.md)")
def config_model_timeouts(files: StackFiles) -> Result:
    from opsctl.db.overrides import Deployment, make_plan

    missing = needs_config(files)
    if missing:
        return missing
    deployments = [Deployment(str(index), name, params.get("timeout"), params.get("num_retries"), None, "")
                   for index, name, params in files.models()]
    plan = make_plan(deployments, files.policy)

    def where(item, field: str = "timeout") -> tuple[str, int]:
        return files.config.where("model_list", int(item.model_id), "litellm_params", field)

    # repr: a quoted "30" is the string LiteLLM would misread, and must look different from 30.
    findings = [
        (Status.FAIL, Evidence(f"{a.model_name}: timeout={a.current_timeout!r} num_retries={a.current_num_retries!r}, "
                               f"policy {a.new_timeout}/{a.new_num_retries}", *where(a)))
        for a in plan.changes
    ]
    fixes = [f"set timeout: {a.new_timeout} and num_retries: {a.new_num_retries} (unquoted) in {a.model_name}'s "
             f"litellm_params at {':'.join(map(str, where(a)))}" for a in plan.changes]
    findings += [(Status.WARN, Evidence(f"{d.model_name} matches no rule in {plan.policy_source}", *where(d, "model")))
                 for d in plan.uncovered]
    findings.append((Status.PASS, Evidence(f"{len(plan.compliant)} model(s) match {plan.policy_source}",
                                           *files.config.where("model_list"))))
    return worst(findings, fix="; ".join(fixes) or None)


@dataclass(frozen=True)
class DatabaseTarget:
    database_url: str
    policy: Policy


@check("model-timeouts", section=SECTION, needs=Needs.DB, runbook=TIERS_LINE,
       fix="opsctl db apply-overrides --dry-run && opsctl db apply-overrides --yes")
def model_timeouts(target: DatabaseTarget) -> Result:
    from opsctl.db.overrides import load_plan

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
