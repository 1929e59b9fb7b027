"""Logging/Privacy: the flags that keep errors, keys and health details out of logs and answers."""

from __future__ import annotations

from dataclasses import replace

from opsctl.audit.checks.common import expect_setting
from opsctl.audit.registry import Evidence, Result, check, passed
from opsctl.audit.stackfiles import StackFiles

SECTION = "Logging/Privacy"
FLAGS_LINE = "`disable_error_logs=true`, `disable_master_key_return=true`, `disable_adding_master_key_hash_to_db=true`."
HEALTH_LINE = "`health_check_details=false`, `json_logs=true`."


def _general_flag(key: str, expected: bool, default: bool, note: str = ""):
    """Register the check that general_settings.<key> is <expected>; `note` is added to its evidence."""
    shown = str(expected).lower()

    def flag(files: StackFiles) -> Result:
        result = expect_setting(files, "general_settings", key, expected, default=default)
        return replace(result, evidence=tuple(replace(e, text=e.text + note) for e in result.evidence))

    flag.__name__ = key
    line = HEALTH_LINE if key == "health_check_details" else FLAGS_LINE
    return check(key.replace("_", "-"), section=SECTION, runbook=line,
                 fix=f"set general_settings.{key}: {shown} in litellm/config.yaml")(flag)


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
    env = files.proxy_env.get("JSON_LOGS")  # LiteLLM also turns JSON logs on from JSON_LOGS=true
    if result.status != "PASS" and env and env.value.strip().lower() == "true":
        return passed(Evidence("JSON_LOGS=true", env.path, env.line))
    return result
