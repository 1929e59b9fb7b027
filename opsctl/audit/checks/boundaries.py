"""Boundaries: loopback ports, admin-only UI, production mode, secrets kept out of files."""

from __future__ import annotations

import ipaddress
import re
import shlex
import stat
from typing import Any, Iterator

from opsctl.audit import masterkey
from opsctl.audit.checks.common import OS_ENVIRON, env_evidence, expect_env, expect_setting, no_file
from opsctl.audit.registry import Evidence, Result, Status, check, failed, passed, worst
from opsctl.audit.stackfiles import DOTENV_FILE, Port, StackFiles, as_list, is_reference
from opsctl.audit.yamldoc import YamlDoc

SECTION = "Boundaries"
BIND_LINE = "For local-only deployments, bind ports to `127.0.0.1` in `docker-compose.yml` (recommended). Otherwise, firewall exposed ports."
SECRETS_LINE = "Secrets via `.env` + `~/.007`; `LITELLM_MODE=PRODUCTION` to disable load_dotenv."

# An environment variable or config key that holds a secret: its last word says so.
SECRET_NAME = re.compile(r"(^|_)(KEY|SECRET|PASSWORD|PASSWD|TOKEN|SALT)$", re.IGNORECASE)
# A password given on a command line: `--requirepass X`, `-a X`, `--password X`.
SECRET_FLAG = re.compile(r"(?:--requirepass|--password|--pass|(?<!\S)-a)(?:\s+|=)(\S+)")
URL_PASSWORD = re.compile(r"://[^/\s:@]*:([^@\s]+)@")
MIN_SECRET_LENGTH = 8  # shorter .env values are not searched for (too many false matches)


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _loopback_fix(port: Port, raw: Any, at: str) -> str:
    """The edit that binds one published port to 127.0.0.1, written for the entry as it stands."""
    if isinstance(raw, dict):
        return f"set host_ip: 127.0.0.1 at {at}"
    if "$" in str(raw):
        return f"make the host IP in {raw} at {at} resolve to 127.0.0.1 (it is {port.host_ip or 'empty'} now)"
    protocol = "/" + str(raw).split("/", 1)[1] if "/" in str(raw) else ""
    return f'publish "127.0.0.1:{port.published or ""}:{port.target}{protocol}" instead of "{raw}" at {at}'


@check("ports-loopback", section=SECTION, runbook=BIND_LINE,
       fix="publish each port as 127.0.0.1:HOST:CONTAINER (or drop `ports:` and use `expose:`)")
def ports_loopback(files: StackFiles) -> Result:
    if files.compose is None:
        return no_file("docker-compose.yml")
    findings, fixes = [], []
    for service in files.services:
        base = ("services", service.name)
        if service.spec.get("network_mode") == "host":
            rel, line = files.compose.where(*base, "network_mode")
            findings.append((Status.FAIL, Evidence(f"service {service.name} uses network_mode: host (every port is public)", rel, line)))
            fixes.append(f"remove network_mode: host at {rel}:{line} and publish the ports on 127.0.0.1")
        raw_entries = as_list(service.spec.get("ports"))
        for port in service.ports(files.compose_env()):
            rel, line = files.compose.where(*base, "ports", port.index)
            if is_loopback(port.host_ip):
                findings.append((Status.PASS, Evidence(f"{service.name} publishes {port.text}", rel, line)))
                continue
            on = "every interface" if port.host_ip in (None, "", "0.0.0.0", "::") else f"{port.host_ip}, not loopback"
            findings.append((Status.FAIL, Evidence(f"{service.name} publishes {port.text} on {on}", rel, line)))
            fixes.append(_loopback_fix(port, raw_entries[port.index], f"{rel}:{line}"))
    if not findings:
        return passed(Evidence("no service publishes a port", files.compose.rel))
    return worst(findings, fix="; ".join(fixes) or None)


@check("ui-admin-only", section=SECTION,
       runbook="Public routes: `/healthz`, `/readyz`, `/health/liveliness`, `/health/readiness`; `ui_access_mode=admin_only`.",
       fix="set general_settings.ui_access_mode: admin_only in litellm/config.yaml")
def ui_admin_only(files: StackFiles) -> Result:
    return expect_setting(files, "general_settings", "ui_access_mode", "admin_only", default="all")


@check("production-mode", section=SECTION, runbook=SECRETS_LINE,
       fix="set LITELLM_MODE=PRODUCTION in the litellm service's environment")
def production_mode(files: StackFiles) -> Result:
    return expect_env(files, "LITELLM_MODE", "PRODUCTION")


def _scalars(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """Every string in a document with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _scalars(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _scalars(value, path + (index,))
    elif isinstance(node, str):
        yield path, node


def _compose_inline(doc: YamlDoc) -> Iterator[tuple[tuple, str]]:
    for path, value in _scalars(doc.data):
        name = path[-1] if isinstance(path[-1], str) else ""
        if "environment" in path and isinstance(path[-1], int):  # `- NAME=value`
            name, _, value = value.partition("=")
        if SECRET_NAME.search(str(name)) and value and not is_reference(value):
            yield path, f"{name} is written inline"
        for pattern, what in ((URL_PASSWORD, "a URL with an inline password"), (SECRET_FLAG, "a password on a command line")):
            match = pattern.search(value)
            if match and not match.group(1).startswith("$"):
                yield path, f"{'.'.join(map(str, path))} holds {what}"


def _config_inline(doc: YamlDoc) -> Iterator[tuple[tuple, str]]:
    for path, value in _scalars(doc.data):
        if value.startswith(OS_ENVIRON):
            continue
        name = path[-1] if isinstance(path[-1], str) else ""
        if SECRET_NAME.search(name) and value:
            yield path, f"{'.'.join(map(str, path))} is written inline"
        elif URL_PASSWORD.search(value):
            yield path, f"{'.'.join(map(str, path))} holds a URL with an inline password"


def _leaked_env_values(files: StackFiles, doc: YamlDoc) -> Iterator[Evidence]:
    """Secret values from .env that also appear, verbatim, in a YAML file."""
    for name, var in files.compose_env().items():
        if SECRET_NAME.search(name) and len(var.value) >= MIN_SECRET_LENGTH and var.value in doc.text:
            line = doc.text[: doc.text.index(var.value)].count("\n") + 1
            yield Evidence(f"the value of {name} from .env is written inline", doc.rel, line)


@check("no-inline-secrets", section=SECTION, runbook=SECRETS_LINE,
       fix="move the value to .env and refer to it (${NAME} in compose, os.environ/NAME in config.yaml)")
def no_inline_secrets(files: StackFiles) -> Result:
    findings: list[tuple[Status, Evidence]] = []
    for doc, scan in ((files.compose, _compose_inline), (files.config, _config_inline)):
        if doc is None:
            continue
        seen = set()
        for path, text in scan(doc):
            evidence = Evidence(text, *doc.where(*path))
            if evidence not in seen:
                seen.add(evidence)
                findings.append((Status.FAIL, evidence))
        findings.extend((Status.FAIL, evidence) for evidence in _leaked_env_values(files, doc) if evidence not in seen)
    if not findings:
        return passed(Evidence("no secret written in docker-compose.yml or litellm/config.yaml"))
    return worst(findings)


def _mode_finding(path, shown: str, required: bool) -> tuple[Status, Evidence]:
    if not path.exists():
        status = Status.WARN if required else Status.PASS
        return status, Evidence("does not exist", shown)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return Status.FAIL, Evidence(f"mode {mode:04o}: readable by group or others", shown)
    return Status.PASS, Evidence(f"mode {mode:04o}", shown)


@check("secret-file-modes", section=SECTION, runbook=SECRETS_LINE, fix="chmod 600 .env ~/.007")
def secret_file_modes(files: StackFiles) -> Result:
    findings = [_mode_finding(files.dir / ".env", ".env", required=True),
                _mode_finding(files.secrets_path, "~/.007", required=False)]
    bad = [str(files.dir / ".env") if e.path == ".env" else str(files.secrets_path)
           for status, e in findings if status is Status.FAIL]
    return worst(findings, fix=f"chmod 600 {' '.join(bad)}" if bad else None)


def _master_key(files: StackFiles) -> tuple[str | None, Evidence]:
    """The key the proxy boots with (LiteLLM: general_settings.master_key, else LITELLM_MASTER_KEY)."""
    configured = files.settings("general_settings").get("master_key")
    if configured is not None and files.config is not None:
        where = files.config.where("general_settings", "master_key")
        if isinstance(configured, str) and configured.startswith(OS_ENVIRON):
            value, evidence = env_evidence(files, configured[len(OS_ENVIRON):])
            return value, evidence if value is not None else Evidence(f"{configured} is not set", *where)
        return (configured if isinstance(configured, str) else None), Evidence("general_settings.master_key", *where)
    return env_evidence(files, "LITELLM_MASTER_KEY")


def _new_key_fix(files: StackFiles, evidence: Evidence, value: str | None) -> str:
    """The commands that put a fresh key where the proxy reads it, and apply it (compose re-reads env files on up)."""
    config_rel = files.config.rel if files.config else None
    compose_rel = files.compose.rel if files.compose else None
    env_file = evidence.path if evidence.path not in (None, config_rel, compose_rel) else DOTENV_FILE
    target = shlex.quote(str(files.dir / env_file))
    command = (f"sed -i '/^LITELLM_MASTER_KEY=/d' {target} && echo \"LITELLM_MASTER_KEY=sk-$(openssl rand -hex 32)\" >> {target}"
               f" && opsctl --stack-dir {shlex.quote(str(files.dir))} up litellm")
    if evidence.path == config_rel:
        return f"set general_settings.master_key: os.environ/LITELLM_MASTER_KEY at {config_rel}:{evidence.line}, then {command}"
    if evidence.path == compose_rel and value is not None:  # set in `environment:`, which wins over .env
        return f"remove LITELLM_MASTER_KEY at {compose_rel}:{evidence.line}, then {command}"
    return command


@check("master-key", section=SECTION, runbook=SECRETS_LINE,
       fix=("sed -i '/^LITELLM_MASTER_KEY=/d' .env && echo \"LITELLM_MASTER_KEY=sk-$(openssl rand -hex 32)\" >> .env"
            " && opsctl up litellm"))
def master_key(files: StackFiles) -> Result:
    value, evidence = _master_key(files)
    reason = masterkey.unsafe_reason(value)
    override = files.settings("general_settings").get(masterkey.OVERRIDE_SETTING) is True
    override_env = files.proxy_env.get(masterkey.OVERRIDE_ENV_VAR)
    if override or (override_env and override_env.value.strip().lower() == "true"):
        where = (files.config.where("general_settings", masterkey.OVERRIDE_SETTING) if override
                 else (override_env.path, override_env.line))
        return failed(Evidence("the weak-master-key override is on: LiteLLM would boot with an unsafe key", *where),
                      fix=f"remove {masterkey.OVERRIDE_SETTING if override else masterkey.OVERRIDE_ENV_VAR} at {where[0]}:{where[1]}")
    if reason is None:
        return passed(Evidence("master key set, not a publicly known one", evidence.path, evidence.line))
    text = {"not_set": "no master key is set", "empty": "the master key is empty",
            "publicly_known": "the master key is a publicly known default"}[reason]
    return failed(Evidence(f"{text} (LiteLLM refuses to boot)", evidence.path, evidence.line),
                  fix=_new_key_fix(files, evidence, value))
