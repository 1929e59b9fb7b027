"""DB / Config: no schema migrations at boot; a Redis cache with a password and the runbook's TTL."""

from __future__ import annotations

from opsctl.audit.checks.common import (OS_ENVIRON, each_proxy, env_fix, needs_config, needs_proxy, setting_fix, shown,
                                        var_evidence)
from opsctl.audit.registry import Evidence, Result, Status, check, failed, worst
from opsctl.audit.services import Service
from opsctl.audit.stackfiles import StackFiles

SECTION = "DB / Config"
REDIS_LINE = "Redis cache with password; TTL 600s for acompletion/aembedding."
CACHE_TTL = 600
CACHED_CALLS = ("acompletion", "aembedding")


def str_to_bool(value: str) -> bool | None:
    """LiteLLM's litellm/secret_managers/main.py str_to_bool: only "true" / "false" (trimmed, any case) mean anything."""
    word = value.strip().lower()
    return True if word == "true" else False if word == "false" else None


def schema_updates_disabled(setting) -> bool:
    """LiteLLM 1.108.7's should_update_prisma_schema (litellm/proxy/db/prisma_client.py), inverted."""
    if isinstance(setting, str):
        setting = str_to_bool(setting)
    return bool(setting)


@check("disable-schema-update", section=SECTION,
       runbook="`DISABLE_SCHEMA_UPDATE=true` to avoid migration loops; SSOT details in `docs/OPERATIONAL_BASELINE.md`.",
       fix='set DISABLE_SCHEMA_UPDATE: "true" in the litellm service\'s environment')
def disable_schema_update(files: StackFiles) -> Result:
    # general_settings.disable_prisma_schema_update, when set, wins over the variable (litellm/proxy/proxy_cli.py).
    configured = files.settings("general_settings").get("disable_prisma_schema_update")

    def judge(proxy: Service):
        if configured is not None:
            rel, line = files.config.where("general_settings", "disable_prisma_schema_update")
            text = f"general_settings.disable_prisma_schema_update: {shown(configured)} (wins over DISABLE_SCHEMA_UPDATE)"
            if schema_updates_disabled(configured):
                return [(Status.PASS, Evidence(text, rel, line))], []
            return ([(Status.FAIL, Evidence(text + ": the proxy migrates the schema at boot", rel, line))],
                    [setting_fix(files, "general_settings", "disable_prisma_schema_update", True)])
        var = proxy.env.get("DISABLE_SCHEMA_UPDATE")
        evidence = var_evidence(proxy, "DISABLE_SCHEMA_UPDATE", var.value if var else None)
        if var is not None and schema_updates_disabled(var.value):
            return [(Status.PASS, evidence)], []
        why = ("unset: LiteLLM's default is to migrate at boot" if var is None
               else f'LiteLLM reads only "true" as true, so {var.value!r} leaves schema updates on')
        return ([(Status.FAIL, Evidence(f"{evidence.text}: {why}", evidence.path, evidence.line))],
                [env_fix(files, proxy, "DISABLE_SCHEMA_UPDATE", "true")])

    return each_proxy(files, judge)


def _cache_params(files: StackFiles) -> tuple[dict, Result | None]:
    """litellm_settings.cache_params, or the failed result when the Redis cache is not on."""
    missing = needs_config(files)
    if missing:
        return {}, missing
    settings = files.settings("litellm_settings")
    params = settings.get("cache_params") if isinstance(settings.get("cache_params"), dict) else {}
    if settings.get("cache") is not True:
        return params, failed(Evidence("litellm_settings.cache is not true", *files.config.where("litellm_settings", "cache")))
    if params.get("type") != "redis":
        where = files.config.where("litellm_settings", "cache_params", "type")
        return params, failed(Evidence(f"cache_params.type is {params.get('type')!r}, not 'redis'", *where))
    return params, None


def _redis_server_password(files: StackFiles) -> tuple[Status, Evidence] | None:
    """The compose redis service (when there is one) must demand the password."""
    redis = files.compose.service("redis") if files.compose else None
    if redis is None:
        return None
    text = " ".join(redis.argv)
    where = redis.where("command")
    if "--requirepass" in text:
        return Status.PASS, Evidence(f"service {redis.name} runs with --requirepass", *where)
    return Status.FAIL, Evidence(f"service {redis.name} accepts clients without a password (no --requirepass)", *where)


@check("redis-password", section=SECTION, runbook=REDIS_LINE,
       fix="set cache_params.password: os.environ/REDIS_PASSWORD, REDIS_PASSWORD in .env, and redis-server --requirepass ${REDIS_PASSWORD}")
def redis_password(files: StackFiles) -> Result:
    params, problem = _cache_params(files)
    if problem:
        return problem
    where = files.config.where("litellm_settings", "cache_params", "password")
    password = params.get("password")
    needs_env = not (password and not (isinstance(password, str) and password.startswith(OS_ENVIRON)))
    if needs_env and needs_proxy(files):
        return needs_proxy(files)  # the password comes from the proxy's environment, which is not known
    findings = []
    for proxy in files.proxies or [None]:
        env = proxy.env if proxy else {}
        on = f" on service {proxy.name}" if proxy else ""
        if isinstance(password, str) and password.startswith(OS_ENVIRON):
            name = password[len(OS_ENVIRON):]
            var = env.get(name)
            if var and var.value:
                findings.append((Status.PASS, Evidence(f"cache_params.password: {password} (set{on})", *where)))
            else:
                findings.append((Status.FAIL, Evidence(f"cache_params.password: {password}, but {name} is empty or unset{on}", *where)))
        elif password:
            findings.append((Status.PASS, Evidence("cache_params.password is set", *where)))
        else:
            var = env.get("REDIS_PASSWORD")  # LiteLLM's RedisCache falls back to it
            if var and var.value:
                findings.append((Status.PASS, Evidence(f"REDIS_PASSWORD set{on}", var.path, var.line)))
            else:
                findings.append((Status.FAIL, Evidence("the Redis cache has no password", *where)))
    server = _redis_server_password(files)
    if server:
        findings.append(server)
    return worst(findings)


@check("cache-ttl", section=SECTION, runbook=REDIS_LINE,
       fix="set cache_params.ttl: 600 and supported_call_types: [acompletion, aembedding]")
def cache_ttl(files: StackFiles) -> Result:
    params, problem = _cache_params(files)
    if problem:
        return problem
    base = ("litellm_settings", "cache_params")
    findings = []
    ttl = params.get("ttl")
    ttl_where = files.config.where(*base, "ttl")
    if ttl == CACHE_TTL and not isinstance(ttl, bool):
        findings.append((Status.PASS, Evidence(f"ttl: {ttl}", *ttl_where)))
    else:
        findings.append((Status.FAIL, Evidence(f"ttl is {ttl!r}, not {CACHE_TTL}", *ttl_where)))
    types = params.get("supported_call_types")
    types_where = files.config.where(*base, "supported_call_types")
    missing = [t for t in CACHED_CALLS if not isinstance(types, list) or t not in types]
    if missing:
        findings.append((Status.FAIL, Evidence(f"supported_call_types lacks {', '.join(missing)}", *types_where)))
    else:
        findings.append((Status.PASS, Evidence(f"supported_call_types: {types}", *types_where)))
    return worst(findings)
