"""Logging/Privacy: the flags that keep errors, keys and health details out of logs and answers; no debug logging."""

from __future__ import annotations

from dataclasses import replace

from opsctl.audit.checks.common import each_proxy, expect_setting, needs_config, setting_fix, shown
from opsctl.audit.registry import Evidence, Result, Status, check, worst
from opsctl.audit.services import MIGRATE, PROXY, Service
from opsctl.audit.stackfiles import StackFiles

SECTION = "Logging/Privacy"
FLAGS_LINE = "`disable_error_logs=true`, `disable_master_key_return=true`, `disable_adding_master_key_hash_to_db=true`."
HEALTH_LINE = "`health_check_details=false`, `json_logs=true`."
# click's BoolParamType, which reads LiteLLM's --debug / --detailed_debug from DEBUG / DETAILED_DEBUG.
CLICK_TRUE = {"1", "true", "t", "yes", "y", "on"}
DEBUG_FLAGS = {"--debug": "DEBUG", "--detailed_debug": "DETAILED_DEBUG"}


def _general_flag(key: str, expected: bool, default: bool, note: str = ""):
    """Register the check that general_settings.<key> is <expected>; `note` is added to its evidence."""
    shown_value = str(expected).lower()

    def flag(files: StackFiles) -> Result:
        result = expect_setting(files, "general_settings", key, expected, default=default)
        return replace(result, evidence=tuple(replace(e, text=e.text + note) if e.path else e for e in result.evidence))

    flag.__name__ = key
    line = HEALTH_LINE if key == "health_check_details" else FLAGS_LINE
    return check(key.replace("_", "-"), section=SECTION, runbook=line,
                 fix=f"set general_settings.{key}: {shown_value} in litellm/config.yaml")(flag)


disable_error_logs = _general_flag("disable_error_logs", True, default=False)
disable_master_key_return = _general_flag("disable_master_key_return", True, default=False)
# The runbook's flag, checked as written, though LiteLLM 1.108.7 reads it nowhere (docs/audit.md; a test watches).
disable_adding_master_key_hash_to_db = _general_flag("disable_adding_master_key_hash_to_db", True, default=False,
                                                     note=" (inert in LiteLLM 1.108.7, kept for the runbook)")
health_check_details = _general_flag("health_check_details", False, default=True)


@check("json-logs", section=SECTION, runbook=HEALTH_LINE,
       fix="set litellm_settings.json_logs: true in litellm/config.yaml")
def json_logs(files: StackFiles) -> Result:
    result = expect_setting(files, "litellm_settings", "json_logs", True, default=False)
    if result.status in (Status.PASS, Status.SKIP):
        return result

    def judge(proxy: Service):
        env = proxy.env.get("JSON_LOGS")  # LiteLLM also turns JSON logs on from JSON_LOGS, only when it is "true" (any case)
        if env and env.value.lower() == "true":
            return [(Status.PASS, Evidence(f"JSON_LOGS=true on service {proxy.name}", env.path, env.line))], []
        return [(result.status, e) for e in result.evidence], [result.fix] if result.fix else []

    return each_proxy(files, judge) if files.proxies else result


def _debug_in_service(service: Service) -> list[Evidence]:
    found = []
    words = service.argv
    for flag, var in DEBUG_FLAGS.items():
        if flag in words:
            rel, line = service.where("command") if flag in (service.command or []) else service.where("entrypoint")
            found.append(Evidence(f"service {service.name} runs LiteLLM with {flag}", rel, line))
        env = service.env.get(var)
        if env and env.value.strip().lower() in CLICK_TRUE:  # click turns the variable into the flag
            found.append(Evidence(f"{var}={env.value} on service {service.name} turns on LiteLLM's {flag}", env.path, env.line))
    log = service.env.get("LITELLM_LOG")
    if log and log.value.upper() == "DEBUG":
        found.append(Evidence(f"LITELLM_LOG={log.value} on service {service.name}", log.path, log.line))
    return found


@check("no-debug-logging", section=SECTION,
       runbook=("(hardening) Debug and verbose logging write request bodies, keys and upstream answers into the logs: "
                "no --debug/--detailed_debug (or DEBUG/DETAILED_DEBUG), no LITELLM_LOG=DEBUG, no litellm_settings.set_verbose."),
       fix="remove the debug setting the evidence names (LITELLM_LOG=INFO is the most LiteLLM should log in production)")
def no_debug_logging(files: StackFiles) -> Result:
    findings: list[tuple[Status, Evidence]] = []
    fixes: list[str] = []
    litellm_services = [s for s in (files.compose.services if files.compose else []) if s.role in (PROXY, MIGRATE)]
    for service in litellm_services:
        for evidence in _debug_in_service(service):
            findings.append((Status.FAIL, evidence))
            fixes.append(f"remove it at {evidence.path}:{evidence.line}" if evidence.line else f"remove it from {evidence.path}")
    if files.config is not None:
        verbose = files.settings("litellm_settings").get("set_verbose")
        if verbose:
            rel, line = files.config.where("litellm_settings", "set_verbose")
            findings.append((Status.FAIL, Evidence(f"litellm_settings.set_verbose is {shown(verbose)}", rel, line)))
            fixes.append(setting_fix(files, "litellm_settings", "set_verbose", False))
        variables = files.config.get("environment_variables")
        for name, value in (variables.items() if isinstance(variables, dict) else []):
            text = str(value)
            debug = (name == "LITELLM_LOG" and text.upper() == "DEBUG") or (
                name in DEBUG_FLAGS.values() and text.strip().lower() in CLICK_TRUE)
            if debug:
                rel, line = files.config.where("environment_variables", name)
                findings.append((Status.FAIL, Evidence(f"environment_variables.{name}: {text}", rel, line)))
                fixes.append(f"remove {name} at {rel}:{line}")
    if findings:
        return worst(findings, fix="; ".join(dict.fromkeys(fixes)))
    if files.compose is None and needs_config(files):
        return needs_config(files)
    names = ", ".join(s.name for s in litellm_services) or "no LiteLLM service"
    where = files.config.rel if files.config else (files.compose.rel if files.compose else None)
    return worst([(Status.PASS, Evidence(f"no debug or verbose logging ({names}, and the config)", where))])
