"""Boundaries: loopback ports, admin-only UI, production mode, secrets kept out of files and out of containers that do not need them."""

from __future__ import annotations

import ipaddress
import re
import shlex
import stat
from typing import Any, Iterator

from opsctl.audit import masterkey
from opsctl.audit.checks.common import (OS_ENVIRON, each_proxy, expect_env, expect_setting, needs_compose, needs_proxy,
                                        var_evidence)
from opsctl.audit.compose_resolve import EnvVar
from opsctl.audit.registry import Evidence, Result, Status, check, passed, worst
from opsctl.audit.services import MIGRATE, PROXY, Port, Service
from opsctl.audit.stackfiles import DOTENV_FILE, StackFiles
from opsctl.audit.yamldoc import YamlDoc

SECTION = "Boundaries"
BIND_LINE = "For local-only deployments, bind ports to `127.0.0.1` in `docker-compose.yml` (recommended). Otherwise, firewall exposed ports."
SECRETS_LINE = "Secrets via `.env` + `~/.007`; `LITELLM_MODE=PRODUCTION` to disable load_dotenv."
MASTER_KEY, SALT_KEY = "LITELLM_MASTER_KEY", "LITELLM_SALT_KEY"

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


# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR, and $$ (a literal $)
_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def is_reference(value: str) -> bool:
    """True when a compose value only points at variables (no literal text of its own, no literal default)."""
    rest = _INTERPOLATION.sub(lambda m: "" if m.group(3) is None or m.group(2) in (":?", "?") else m.group(3), value)
    return rest.strip() == "" and "$" in value


def _loopback_fix(port: Port) -> str:
    """The edit that binds one published port to 127.0.0.1, written for the entry as it stands."""
    at = f"{port.rel}:{port.line}" if port.line else port.rel
    raw = port.written
    if isinstance(raw, dict):
        return f"set host_ip: 127.0.0.1 at {at}"
    if "$" in str(raw):
        return f"make the host IP in {raw} at {at} resolve to 127.0.0.1 (it is {port.host_ip or 'empty'} now)"
    if raw is None:
        return f'publish "127.0.0.1:{port.published or ""}:{port.target}" at {at}'
    protocol = "/" + str(raw).split("/", 1)[1] if "/" in str(raw) else ""
    return f'publish "127.0.0.1:{port.published or ""}:{port.target}{protocol}" instead of "{raw}" at {at}'


@check("ports-loopback", section=SECTION, runbook=BIND_LINE,
       fix="publish each port as 127.0.0.1:HOST:CONTAINER (or drop `ports:` and use `expose:`)")
def ports_loopback(files: StackFiles) -> Result:
    missing = needs_compose(files)
    if missing:
        return missing
    findings, fixes = [], []
    for service in files.compose.services:
        if service.spec.get("network_mode") == "host":
            rel, line = service.where("network_mode")
            findings.append((Status.FAIL, Evidence(f"service {service.name} uses network_mode: host (every port is public)", rel, line)))
            fixes.append(f"remove network_mode: host at {rel}:{line} and publish the ports on 127.0.0.1")
        for port in service.ports:
            if is_loopback(port.host_ip):
                findings.append((Status.PASS, Evidence(f"{service.name} publishes {port.text}", port.rel, port.line)))
                continue
            on = "every interface" if port.host_ip in (None, "", "0.0.0.0", "::") else f"{port.host_ip}, not loopback"
            findings.append((Status.FAIL, Evidence(f"{service.name} publishes {port.text} on {on}", port.rel, port.line)))
            fixes.append(_loopback_fix(port))
    if not findings:
        return passed(Evidence("no service publishes a port", files.compose.rel))
    return worst(findings, fix="; ".join(fixes) or None)


@check("ui-admin-only", section=SECTION,
       runbook="Public routes: `/healthz`, `/readyz`, `/health/liveliness`, `/health/readiness`; `ui_access_mode=admin_only`.",
       fix="set general_settings.ui_access_mode: admin_only in litellm/config.yaml")
def ui_admin_only(files: StackFiles) -> Result:
    return expect_setting(files, "general_settings", "ui_access_mode", "admin_only", default="all")


@check("production-mode", section=SECTION, runbook=SECRETS_LINE,
       fix="set LITELLM_MODE: PRODUCTION in the litellm service's environment")
def production_mode(files: StackFiles) -> Result:
    # LiteLLM loads .env unless LITELLM_MODE is something other than exactly "DEV" (litellm/__init__.py); the runbook says PRODUCTION.
    return expect_env(files, "LITELLM_MODE", lambda value: value is not None and value.strip().upper() == "PRODUCTION", "PRODUCTION")


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
    for name, var in files.dotenv.items():
        if SECRET_NAME.search(name) and len(var.value) >= MIN_SECRET_LENGTH and var.value in doc.text:
            line = doc.text[: doc.text.index(var.value)].count("\n") + 1
            yield Evidence(f"the value of {name} from .env is written inline", doc.rel, line)


@check("no-inline-secrets", section=SECTION, runbook=SECRETS_LINE,
       fix="move the value to .env and refer to it (${NAME} in compose, os.environ/NAME in config.yaml)")
def no_inline_secrets(files: StackFiles) -> Result:
    findings: list[tuple[Status, Evidence]] = []
    docs = [(doc, _compose_inline) for doc in (files.compose.docs if files.compose else [])]
    docs += [(doc, _config_inline) for doc in (files.config.docs if files.config else [])]
    seen: set = set()
    for doc, scan in docs:
        for path, text in scan(doc):
            evidence = Evidence(text, *doc.where(*path))
            if evidence not in seen:
                seen.add(evidence)
                findings.append((Status.FAIL, evidence))
        for evidence in _leaked_env_values(files, doc):
            if evidence not in seen:
                seen.add(evidence)
                findings.append((Status.FAIL, evidence))
    if not findings:
        shown = ", ".join(doc.rel for doc, _ in docs) or "no YAML file"
        return passed(Evidence(f"no secret written in {shown}"))
    return worst(findings)


def _mode_finding(path, shown: str, required: bool) -> tuple[Status, Evidence]:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return (Status.WARN if required else Status.PASS), Evidence("does not exist", shown)
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and not stat.S_ISLNK(info.st_mode):
        return Status.FAIL, Evidence(f"mode {mode:04o}: readable by group or others", shown)
    return Status.PASS, Evidence(f"mode {mode:04o}", shown)


@check("secret-file-modes", section=SECTION, runbook=SECRETS_LINE, fix="chmod 600 .env ~/.007")
def secret_file_modes(files: StackFiles) -> Result:
    findings = [_mode_finding(files.dir / ".env", ".env", required=True),
                _mode_finding(files.secrets_path, "~/.007", required=False)]
    bad = [shlex.quote(str(files.dir / ".env") if e.path == ".env" else str(files.secrets_path))
           for status, e in findings if status is Status.FAIL]
    return worst(findings, fix=f"chmod 600 {' '.join(bad)}" if bad else None)


# --- the master key and the salt key ----------------------------------------------------------------------------

def _master_key(files: StackFiles, proxy: Service) -> tuple[str | None, EnvVar | None, Evidence]:
    """The key this proxy boots with (LiteLLM: general_settings.master_key, resolving os.environ/, else LITELLM_MASTER_KEY)."""
    configured = files.settings("general_settings").get("master_key")
    if configured is not None and files.config is not None:
        where = files.config.where("general_settings", "master_key")
        if isinstance(configured, str) and configured.startswith(OS_ENVIRON):
            name = configured[len(OS_ENVIRON):]
            var = proxy.env.get(name)
            if var is None:
                return None, None, Evidence(f"{configured} is not set on service {proxy.name}", *where)
            return var.value, var, var_evidence(proxy, name)
        return (configured if isinstance(configured, str) else None), None, Evidence("general_settings.master_key", *where)
    var = proxy.env.get(MASTER_KEY)
    return (var.value if var else None), var, var_evidence(proxy, MASTER_KEY)


def _regenerate(files: StackFiles, name: str, service: str, env_file: str = DOTENV_FILE) -> str:
    """Commands that put a fresh strong value for NAME in the stack's env file and apply it (compose re-reads it on up)."""
    target = shlex.quote(str(files.dir / env_file))
    return (f"sed -i '/^{name}=/d' {target} && echo \"{name}=sk-$(openssl rand -hex 32)\" >> {target}"
            f" && opsctl --stack-dir {shlex.quote(str(files.dir))} up {service}")


def _key_fix(files: StackFiles, proxy: Service, name: str, var: EnvVar | None, evidence: Evidence) -> str:
    """Where a weak or missing key really comes from, and the commands that replace it there (never a line that already holds the fix)."""
    compose_rels = {doc.rel for doc in files.compose.docs} if files.compose else set()
    reference = f"${{{name}:?set {name} in .env}}"
    if var is None:
        configured = files.settings("general_settings").get("master_key") if name == MASTER_KEY else None
        env_name = configured[len(OS_ENVIRON):] if isinstance(configured, str) and configured.startswith(OS_ENVIRON) else name
        steps = []
        if configured is not None and env_name == name and not str(configured).startswith(OS_ENVIRON):
            rel, line = files.config.where("general_settings", "master_key")
            steps.append(f"set master_key: os.environ/{name} at {rel}:{line} (it holds the key itself)")
        rel, line = proxy.where("environment")
        steps.append(f"add {env_name}: ${{{env_name}:?set {env_name} in .env}} under services.{proxy.name}.environment ({rel}:{line})")
        return "; ".join(steps) + "; then run: " + _regenerate(files, env_name, proxy.name)
    sources = sorted(n for n in var.used if n in files.dotenv)
    if var.path in compose_rels and not sources:  # a literal in compose, or a reference to a variable .env lacks
        return f"set {name}: {reference} at {var.path}:{var.line}; then run: " + _regenerate(files, name, proxy.name)
    if sources:
        return _regenerate(files, sources[0], proxy.name)
    return _regenerate(files, name, proxy.name, env_file=var.path)  # an env_file line


@check("master-key", section=SECTION, runbook=SECRETS_LINE,
       fix=("sed -i '/^LITELLM_MASTER_KEY=/d' .env && echo \"LITELLM_MASTER_KEY=sk-$(openssl rand -hex 32)\" >> .env"
            " && opsctl up litellm"))
def master_key(files: StackFiles) -> Result:
    def judge(proxy: Service):
        value, var, evidence = _master_key(files, proxy)
        override = files.settings("general_settings").get(masterkey.OVERRIDE_SETTING) is True
        override_env = proxy.env.get(masterkey.OVERRIDE_ENV_VAR)
        if override or (override_env and override_env.value.strip().lower() == "true"):
            where = (files.config.where("general_settings", masterkey.OVERRIDE_SETTING) if override
                     else (override_env.path, override_env.line))
            name = masterkey.OVERRIDE_SETTING if override else masterkey.OVERRIDE_ENV_VAR
            return ([(Status.FAIL, Evidence("the weak-master-key override is on: LiteLLM would boot with an unsafe key", *where))],
                    [f"remove {name} at {where[0]}:{where[1]}"])
        reason = masterkey.unsafe_reason(value)
        if reason is not None:
            text = {"not_set": "no master key is set", "empty": "the master key is empty",
                    "publicly_known": "the master key is a publicly known default"}[reason]
            return ([(Status.FAIL, Evidence(f"{text} (LiteLLM refuses to boot)", evidence.path, evidence.line))],
                    [_key_fix(files, proxy, MASTER_KEY, var, evidence)])
        weak = masterkey.weakness(value)
        if weak:
            return ([(Status.FAIL, Evidence(f"the master key is weak: {weak}", evidence.path, evidence.line))],
                    [_key_fix(files, proxy, MASTER_KEY, var, evidence)])
        return [(Status.PASS, Evidence(f"master key of service {proxy.name} set and strong", evidence.path, evidence.line))], []

    if files.compose is None and files.config is not None:
        return needs_proxy(files)
    return each_proxy(files, judge)


@check("salt-key", section=SECTION,
       runbook=("(hardening) LiteLLM encrypts the credentials it stores with LITELLM_SALT_KEY, else with the master key: "
                "the salt key must be set, not empty, not the master key, and strong, so rotating the master key "
                "does not lock the stored credentials away."),
       fix="sed -i '/^LITELLM_SALT_KEY=/d' .env && echo \"LITELLM_SALT_KEY=sk-$(openssl rand -hex 32)\" >> .env && opsctl up litellm")
def salt_key(files: StackFiles) -> Result:
    def judge(proxy: Service):
        var = proxy.env.get(SALT_KEY)
        evidence = var_evidence(proxy, SALT_KEY)
        master, _, _ = _master_key(files, proxy)
        if var is None:
            problem = "not set: LiteLLM encrypts stored credentials with the master key"
        elif var.value == "":
            problem = "empty: LiteLLM would encrypt stored credentials with a key derived from the empty string"
        elif master is not None and var.value.strip() == master.strip():
            problem = "equal to the master key"
        else:
            weak = masterkey.weakness(var.value)
            problem = f"weak: {weak}" if weak else None
        if problem is None:
            return [(Status.PASS, Evidence(f"{evidence.text}: set, strong, not the master key", evidence.path, evidence.line))], []
        return ([(Status.FAIL, Evidence(f"{evidence.text}: {problem}", evidence.path, evidence.line))],
                [_key_fix(files, proxy, SALT_KEY, var, evidence)])

    return each_proxy(files, judge)


@check("secrets-scope", section=SECTION,
       runbook=("(hardening) Only the proxy and the migrate job need LITELLM_MASTER_KEY or LITELLM_SALT_KEY; any other "
                "container that holds them (Postgres, Redis, an upstream) can leak every key the proxy guards."),
       fix="give each service only its own variables: per-service environment: entries instead of env_file: .env")
def secrets_scope(files: StackFiles) -> Result:
    missing = needs_compose(files)
    if missing:
        return missing
    keys = {}
    for proxy in files.proxies:
        for name in (MASTER_KEY, SALT_KEY):
            var = proxy.env.get(name)
            if var and len(var.value.strip()) >= MIN_SECRET_LENGTH:
                keys.setdefault(var.value.strip(), name)
    findings, fixes = [], []
    compose_rels = {doc.rel for doc in files.compose.docs}
    for service in files.compose.services:
        if service.role in (PROXY, MIGRATE):
            continue
        from_files = []
        for name, var in sorted(service.env.items()):
            held = name if name in (MASTER_KEY, SALT_KEY) else keys.get(var.value.strip())
            if held is None:
                continue
            what = f"receives {name}" if name == held else f"receives the value of {held} as {name}"
            findings.append((Status.FAIL, Evidence(f"service {service.name} {what} (it runs neither the proxy nor the migrations)",
                                                   var.path, var.line)))
            if var.path in compose_rels:
                fixes.append(f"remove {name} at {var.path}:{var.line}")
            else:
                from_files.append(f"{name} from {var.path}:{var.line}")
        if from_files:
            rel, line = service.where("env_file")
            fixes.append(f"replace env_file: at {rel}:{line} with an environment: that names only what {service.name} needs"
                         f" (it gets {', '.join(from_files)})")
    if not findings:
        return passed(Evidence(f"{MASTER_KEY} and {SALT_KEY} reach only "
                               + (", ".join(s.name for s in files.compose.services if s.role in (PROXY, MIGRATE)) or "no service"),
                               files.compose.rel))
    return worst(findings, fix="; ".join(dict.fromkeys(fixes)))
