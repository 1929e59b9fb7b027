"""Routing & Availability: the router's strategy and cooldowns, fallbacks that lead somewhere."""

from __future__ import annotations

from opsctl.audit.checks.common import env_evidence, expect_setting, no_file
from opsctl.audit.registry import Evidence, Result, Status, check, failed, passed, worst
from opsctl.audit.stackfiles import StackFiles, as_list

SECTION = "Routing & Availability"
ROUTER_LINE = "Strategy `simple-shuffle`; `enable_pre_call_checks=true`, `allowed_fails=3`, `cooldown_time=30`."
FALLBACKS_LINE = ("Fallbacks set for core groups (chat-default→qwen3-coder-480b-cloud, embeddings-default→local-embeddings, "
                  "rerank-default→local-rerank, deepseek/llamacpp/vllm/tgi/gemma/qwen families).")
# The runbook's core groups and where each falls back to.
CORE_FALLBACKS = {
    "chat-default": "qwen3-coder-480b-cloud",
    "embeddings-default": "local-embeddings",
    "rerank-default": "local-rerank",
}
FAMILIES = ("deepseek", "llamacpp", "vllm", "tgi", "gemma", "qwen")
RERANK_PORT = "8079"
HEALTH_PORT = "4001"


def _router_setting(key: str, expected, default):
    def router_check(files: StackFiles) -> Result:
        return expect_setting(files, "router_settings", key, expected, default=default)

    router_check.__name__ = key
    return check(key.replace("_", "-"), section=SECTION, runbook=ROUTER_LINE,
                 fix=f"set router_settings.{key}: {str(expected).lower() if isinstance(expected, bool) else expected}")(router_check)


routing_strategy = _router_setting("routing_strategy", "simple-shuffle", default="simple-shuffle")
enable_pre_call_checks = _router_setting("enable_pre_call_checks", True, default=False)
allowed_fails = _router_setting("allowed_fails", 3, default=3)
cooldown_time = _router_setting("cooldown_time", 30, default=5)


def _fallback_map(files: StackFiles, key: str) -> dict[str, tuple[list, int]]:
    """router_settings.<key> as {group: (targets, line)}; LiteLLM's shape is a list of one-key maps."""
    entries = files.settings("router_settings").get(key) or []
    found = {}
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict):
            for group, targets in entry.items():
                line = files.config.line("router_settings", key, index, group)
                found[str(group)] = ([str(target) for target in as_list(targets)], line)
    return found


def _dangling(files: StackFiles, key: str, fallbacks: dict, groups: set[str]) -> tuple[list[tuple[Status, Evidence]], list[str]]:
    """A FAIL, and its fix, for every fallback target that is not a model group."""
    findings, fixes = [], []
    for group, (targets, line) in fallbacks.items():
        for target in (t for t in targets if t not in groups):
            findings.append((Status.FAIL, Evidence(f"{key}: {group} -> {target}, but no model group {target} exists",
                                                   files.config.rel, line)))
            runbook_target = CORE_FALLBACKS.get(group) if key == "fallbacks" else None
            instead = runbook_target if runbook_target in groups else "an existing model group"
            fixes.append(f"replace {target} with {instead} at {files.config.rel}:{line}")
    return findings, fixes


def _core_groups(groups: set[str]) -> list[str]:
    """The runbook's core groups, and every model group of the named families, that this config defines."""
    return sorted(g for g in groups if g in CORE_FALLBACKS or any(g.startswith(family) for family in FAMILIES))


@check("fallbacks", section=SECTION, runbook=FALLBACKS_LINE,
       fix="add router_settings.fallbacks: - {GROUP: [EXISTING_GROUP]} for each core group")
def fallbacks(files: StackFiles) -> Result:
    if files.config is None:
        return no_file("litellm/config.yaml")
    groups = files.model_groups()
    fallbacks = _fallback_map(files, "fallbacks")
    rel, section_line = files.config.where("router_settings", "fallbacks")
    findings, fixes = _dangling(files, "fallbacks", fallbacks, groups)
    warn_fixes = []  # shown only when nothing FAILs, like the WARN evidence
    for group in _core_groups(groups):
        if group not in fallbacks:
            findings.append((Status.FAIL, Evidence(f"core group {group} has no fallback", rel, section_line)))
            target = CORE_FALLBACKS.get(group) if CORE_FALLBACKS.get(group) in groups else "ANOTHER_GROUP"
            fixes.append(f'add "- {group}: [{target}]" under router_settings.fallbacks ({rel}:{section_line})')
            continue
        targets, line = fallbacks[group]
        expected = CORE_FALLBACKS.get(group)
        if expected and expected not in targets:
            findings.append((Status.WARN, Evidence(f"{group} falls back to {targets}, the runbook says {expected}", rel, line)))
            warn_fixes.append(f"make {expected} {group}'s fallback at {rel}:{line}")
        else:
            findings.append((Status.PASS, Evidence(f"{group} -> {', '.join(map(str, targets))}", rel, line)))
    if not findings:
        return failed(Evidence("no core model group is defined in model_list", *files.config.where("model_list")))
    return worst(findings, fix="; ".join(fixes or warn_fixes) or None)


@check("context-window-fallbacks", section=SECTION, runbook="Context-window fallbacks for large models.",
       fix="add router_settings.context_window_fallbacks: - {LARGE_GROUP: [GROUP_WITH_A_LARGER_WINDOW]}")
def context_window_fallbacks(files: StackFiles) -> Result:
    if files.config is None:
        return no_file("litellm/config.yaml")
    fallbacks = _fallback_map(files, "context_window_fallbacks")
    if not fallbacks:
        where = files.config.where("router_settings", "context_window_fallbacks")
        return failed(Evidence("router_settings.context_window_fallbacks is empty or not set", *where))
    findings, fixes = _dangling(files, "context_window_fallbacks", fallbacks, files.model_groups())
    findings += [(Status.PASS, Evidence(f"{group} -> {', '.join(map(str, targets))}", files.config.rel, line))
                 for group, (targets, line) in fallbacks.items()]
    return worst(findings, fix="; ".join(fixes) or None)


@check("rerank-local", section=SECTION, runbook="Rerank served locally on 127.0.0.1:8079 (if enabled).",
       fix='publish the rerank service as "127.0.0.1:8079:8079"')
def rerank_local(files: StackFiles) -> Result:
    if files.compose is None:
        return no_file("docker-compose.yml")
    rerank = files.service("rerank")
    if rerank is None:
        return passed(Evidence("no rerank service in the compose file", files.compose.rel))
    where = files.compose.where("services", rerank.name, "ports")
    served = [p for p in rerank.ports(files.compose_env()) if p.published == RERANK_PORT]
    if served:
        return passed(Evidence(f"{rerank.name} publishes {served[0].text}", *files.compose.where("services", rerank.name, "ports", served[0].index)))
    return failed(Evidence(f"{rerank.name} does not publish host port {RERANK_PORT}", *where))


@check("health-app", section=SECTION, runbook="Health app on 127.0.0.1:4001 when `SEPARATE_HEALTH_APP=1`.",
       fix='publish the health port on the litellm service as "127.0.0.1:4001:${SEPARATE_HEALTH_PORT:-4001}"')
def health_app(files: StackFiles) -> Result:
    value, evidence = env_evidence(files, "SEPARATE_HEALTH_APP")
    if (value or "").strip() != "1":
        return passed(Evidence("SEPARATE_HEALTH_APP is not 1: no separate health app", evidence.path, evidence.line))
    port = files.proxy_env.get("SEPARATE_HEALTH_PORT")
    target = port.value.strip() if port and port.value.strip() else HEALTH_PORT
    proxy = files.proxy
    served = [p for p in proxy.ports(files.compose_env()) if p.target == target and p.published == HEALTH_PORT]
    if served:
        where = files.compose.where("services", proxy.name, "ports", served[0].index)
        return passed(Evidence(f"health app ({target} in the container) published as {served[0].text}", *where))
    rel, line = files.compose.where("services", proxy.name, "ports")
    return failed(Evidence(f"SEPARATE_HEALTH_APP=1, but container port {target} is not published on host port {HEALTH_PORT}", rel, line),
                  fix=f'publish "127.0.0.1:{HEALTH_PORT}:{target}" in the ports of service {proxy.name} ({rel}:{line})')
