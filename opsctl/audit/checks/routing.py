"""Routing & Availability: the router's strategy and cooldowns, fallbacks that lead somewhere."""

from __future__ import annotations

from opsctl.audit.checks.common import (each_proxy, expect_setting, load_balancer, needs_compose, needs_config,
                                        needs_proxy, var_evidence)
from opsctl.audit.registry import Evidence, Result, Status, check, failed, passed, worst
from opsctl.audit.services import Service
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


def _router_rel(files: StackFiles) -> str:
    """The file router_settings comes from (an include replaces the whole section)."""
    return files.config.where("router_settings")[0]


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
                                                   _router_rel(files), line)))
            runbook_target = CORE_FALLBACKS.get(group) if key == "fallbacks" else None
            instead = runbook_target if runbook_target in groups else "an existing model group"
            fixes.append(f"replace {target} with {instead} at {_router_rel(files)}:{line}")
    return findings, fixes


def _core_groups(groups: set[str]) -> list[str]:
    """The runbook's core groups, and every model group of the named families, that this config defines."""
    return sorted(g for g in groups if g in CORE_FALLBACKS or any(g.startswith(family) for family in FAMILIES))


@check("fallbacks", section=SECTION, runbook=FALLBACKS_LINE,
       fix="add router_settings.fallbacks: - {GROUP: [EXISTING_GROUP]} for each core group")
def fallbacks(files: StackFiles) -> Result:
    missing = needs_config(files)
    if missing:
        return missing
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
    missing = needs_config(files)
    if missing:
        return missing
    fallbacks = _fallback_map(files, "context_window_fallbacks")
    if not fallbacks:
        where = files.config.where("router_settings", "context_window_fallbacks")
        return failed(Evidence("router_settings.context_window_fallbacks is empty or not set", *where))
    findings, fixes = _dangling(files, "context_window_fallbacks", fallbacks, files.model_groups())
    findings += [(Status.PASS, Evidence(f"{group} -> {', '.join(map(str, targets))}", _router_rel(files), line))
                 for group, (targets, line) in fallbacks.items()]
    return worst(findings, fix="; ".join(fixes) or None)


@check("rerank-local", section=SECTION, runbook="Rerank served locally on 127.0.0.1:8079 (if enabled).",
       fix='publish the rerank service as "127.0.0.1:8079:8079"')
def rerank_local(files: StackFiles) -> Result:
    missing = needs_compose(files)
    if missing:
        return missing
    rerank = files.compose.service("rerank")
    if rerank is None:
        return passed(Evidence("no rerank service in the compose file", files.compose.rel))
    served = [p for p in rerank.ports if p.published == RERANK_PORT]
    if served:
        return passed(Evidence(f"{rerank.name} publishes {served[0].text}", served[0].rel, served[0].line))
    return failed(Evidence(f"{rerank.name} does not publish host port {RERANK_PORT}", *rerank.where("ports")))


@check("health-app", section=SECTION, runbook="Health app on 127.0.0.1:4001 when `SEPARATE_HEALTH_APP=1`.",
       fix='publish the health port on the litellm service as "127.0.0.1:4001:${SEPARATE_HEALTH_PORT:-4001}"')
def health_app(files: StackFiles) -> Result:
    if not needs_proxy(files) and len(files.proxies) > 1:
        return _health_app_behind_lb(files)

    def judge(proxy: Service):
        var = proxy.env.get("SEPARATE_HEALTH_APP")
        if var is None or var.value != "1":  # docker/prod_entrypoint.sh: [ "$SEPARATE_HEALTH_APP" = "1" ]
            evidence = var_evidence(proxy, "SEPARATE_HEALTH_APP", var.value if var else None)
            return [(Status.PASS, Evidence(f"{evidence.text}: no separate health app", evidence.path, evidence.line))], []
        port = proxy.env.get("SEPARATE_HEALTH_PORT")
        target = port.value.strip() if port and port.value.strip() else HEALTH_PORT
        served = [p for p in proxy.ports if p.target == target and p.published == HEALTH_PORT]
        if served:
            return [(Status.PASS, Evidence(f"health app of {proxy.name} ({target} in the container) published as {served[0].text}",
                                           served[0].rel, served[0].line))], []
        rel, line = proxy.where("ports")
        return ([(Status.FAIL, Evidence(f"SEPARATE_HEALTH_APP=1 on {proxy.name}, but container port {target} is not published on "
                                        f"host port {HEALTH_PORT}", rel, line))],
                [f'publish "127.0.0.1:{HEALTH_PORT}:{target}" in the ports of service {proxy.name} ({rel}:{line})'])

    return each_proxy(files, judge)


def _health_app_behind_lb(files: StackFiles) -> Result:
    """Replicas publish nothing (replicas-only-lb-published): the LB publishes the health port for them."""
    found = load_balancer(files)
    if found is None:
        rel, line = files.proxies[0].defined_at()
        return failed(Evidence(f"{len(files.proxies)} proxy services and no load balancer publishing the health port",
                               rel, line), fix="opsctl init DIR --replicas N --force writes the lb service")
    lb = found[0]
    served = [p for p in lb.ports if p.published == HEALTH_PORT]
    if served:
        return passed(Evidence(f"the replicas' health app published by {lb.name} as {served[0].text}",
                               served[0].rel, served[0].line))
    rel, line = lb.where("ports")
    return failed(Evidence(f"{lb.name} does not publish host port {HEALTH_PORT} for the replicas' health app", rel, line),
                  fix=f'publish "127.0.0.1:{HEALTH_PORT}:{HEALTH_PORT}" in the ports of service {lb.name} ({rel}:{line})')


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Every elementary cycle of the fallback graph once (Johnson's idea, small graphs: a DFS from each node)."""
    found, seen = [], set()
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for target in graph.get(node, []):
                if target == start:
                    cycle = path
                    key = frozenset(zip(cycle, cycle[1:] + cycle[:1]))
                    if key not in seen:
                        seen.add(key)
                        found.append(cycle)
                elif target not in path and target > start:  # each cycle is found from its smallest member
                    stack.append((target, path + [target]))
    return found


@check("fallback-cycles", section=SECTION,
       runbook=("(hardening) A fallback chain must lead to a different model: LiteLLM 1.108.7 skips a target it has "
                "already tried (litellm/router_utils/fallback_event_handlers.py), so a cycle or a self-fallback is a "
                "dead end where the runbook promises an escape."),
       fix="break the cycle: point the last group of the chain at a model outside it (every chain should end at a local model)")
def fallback_cycles(files: StackFiles) -> Result:
    missing = needs_config(files)
    if missing:
        return missing
    findings, fixes = [], []
    for key in ("fallbacks", "context_window_fallbacks"):
        mapping = _fallback_map(files, key)
        graph = {group: targets for group, (targets, _) in mapping.items()}
        for cycle in _cycles(graph):
            line = mapping[cycle[-1]][1]
            chain = " -> ".join(cycle + [cycle[0]])
            what = "falls back to itself" if len(cycle) == 1 else f"is a cycle: {chain}"
            findings.append((Status.FAIL, Evidence(f"{key}: {cycle[0]} {what}", _router_rel(files), line)))
            fixes.append(f"remove {cycle[0]} from the targets of {cycle[-1]} at {_router_rel(files)}:{line}")
    if not findings:
        rel, line = files.config.where("router_settings", "fallbacks")
        return passed(Evidence("no fallback chain leads back to where it started", rel, line))
    return worst(findings, fix="; ".join(fixes))
