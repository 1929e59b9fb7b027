"""Tooling: the runbook's callbacks are registered and exist; vLLM runs with its flags."""

from __future__ import annotations

import ast
import shlex

from opsctl.audit.checks.common import needs_compose, needs_config
from opsctl.audit.registry import Evidence, Result, Status, check, passed, worst
from opsctl.audit.stackfiles import CALLBACKS_FILE, StackFiles, as_list
from opsctl.audit.yamldoc import read_stack_text
from opsctl.errors import OpsctlError

SECTION = "Tooling"
CALLBACK_MODULE = "custom_callbacks"
CALLBACKS = ("custom_callbacks.tool_choice_guard", "custom_callbacks.early_chunk",
             "custom_callbacks.stream_guard", "dynamic_rate_limiter_v3")
# vLLM's command-line flags and the values the runbook asks for (None: a switch).
VLLM_FLAGS = {
    "--tool-call-parser": "hermes",
    "--enable-auto-tool-choice": None,
    "--max-model-len": "4096",
    "--max-num-seqs": "32",
    "--gpu-memory-utilization": "0.2",
}


def _module_names(path, rel: str) -> set[str] | None:
    """Names assigned at module level in custom_callbacks.py (read safely, parsed, never imported)."""
    if path is None:
        return None
    try:
        text = read_stack_text(path, rel)
        tree = ast.parse(text, str(path)) if text is not None else None
    except (OpsctlError, SyntaxError, ValueError, RecursionError, MemoryError):  # unreadable, not Python
        return None
    if tree is None:
        return None
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


@check("callbacks", section=SECTION,
       runbook=("Callbacks: `ToolChoiceGuard` (coerce tool_choice=required→auto), `EarlyChunk` (first chunk for slow cloud models), "
                "`StreamGuard` (configurable, empty list), `dynamic_rate_limiter_v3` enabled."),
       fix=f"list {', '.join(CALLBACKS)} in litellm_settings.callbacks, with the instances defined in {CALLBACKS_FILE}")
def callbacks(files: StackFiles) -> Result:
    missing = needs_config(files)
    if missing:
        return missing
    configured = as_list(files.settings("litellm_settings").get("callbacks"))
    where = files.config.where("litellm_settings", "callbacks")
    findings = [(Status.FAIL, Evidence(f"litellm_settings.callbacks lacks {name}", *where))
                for name in CALLBACKS if name not in configured]
    defined = _module_names(files.callbacks_path, files.callbacks_rel)
    shown = files.callbacks_rel if files.callbacks_path else f"{files.callbacks_rel} (not mounted from the stack)"
    for index, name in enumerate(configured):
        module, _, instance = str(name).partition(".")
        if module != CALLBACK_MODULE:
            continue
        rel, line = files.config.where("litellm_settings", "callbacks", index)
        if defined is None:
            findings.append((Status.FAIL, Evidence(f"{name} is configured but {shown} is missing or not valid Python", rel, line)))
        elif instance not in defined:
            findings.append((Status.FAIL, Evidence(f"{shown} defines no module-level {instance}", rel, line)))
    if findings:
        return worst(findings)
    return passed(Evidence(f"callbacks: {', '.join(map(str, configured))}", *where))


def _flags(command) -> dict[str, str | None]:
    if isinstance(command, list):
        words = command
    else:
        try:
            words = shlex.split(str(command))
        except ValueError:  # unbalanced quotes: compose would reject it too; read the words anyway
            words = str(command).split()
    found: dict[str, str | None] = {}
    for index, word in enumerate(map(str, words)):
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            following = str(words[index + 1]) if index + 1 < len(words) else None
            found[name] = value if eq else (following if following and not following.startswith("--") else None)
    return found


def _same_value(value: str | None, wanted: str) -> bool:
    """"0.20" is 0.2: compare numbers as numbers."""
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return value == wanted


@check("vllm-flags", section=SECTION,
       runbook="vLLM: tool_call_parser=hermes, auto tool choice on; max_model_len=4096; max_num_seqs=32; gpu util=0.2.",
       fix="run vLLM with " + " ".join(f"{k} {v}" if v else k for k, v in VLLM_FLAGS.items()))
def vllm_flags(files: StackFiles) -> Result:
    missing = needs_compose(files)
    if missing:
        return missing
    vllm = files.compose.service("vllm")
    if vllm is None:
        return passed(Evidence("no vLLM service in the compose file", files.compose.rel))
    where = vllm.where("command")
    flags = _flags(vllm.argv)
    findings = []
    for flag, wanted in VLLM_FLAGS.items():
        if flag not in flags:
            findings.append((Status.FAIL, Evidence(f"{vllm.name} runs without {flag}", *where)))
        elif wanted is not None and not _same_value(flags[flag], wanted):
            findings.append((Status.FAIL, Evidence(f"{vllm.name} runs with {flag} {flags[flag]}, not {wanted}", *where)))
    if findings:
        return worst(findings)
    return passed(Evidence(f"{vllm.name}: " + " ".join(f"{k} {v}" if v else k for k, v in VLLM_FLAGS.items()), *where))
