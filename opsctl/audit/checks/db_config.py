"""DB / Config: no schema migrations at boot; a Redis cache with a password and the runbook's TTL."""

from __future__ import annotations

from opsctl.audit.checks.common import OS_ENVIRON, expect_env, no_file
from opsctl.audit.registry import Evidence, Result, Status, check, failed, worst
from opsctl.audit.stackfiles import StackFiles

SECTION = "DB / Config"
REDIS_LINE = "Redis cache with password; TTL 600s for acompletion/aembedding."
CACHE_TTL = 600
CACHED_CALLS = ("acompletion", "aembedding")


@check("disable-schema-update", section=SECTION,
       runbook="`DISABLE_SCHEMA_UPDATE=true` to avoid migration loops; SSOT details in `docs/OPERATIONAL_BASELINE.md`.",
       fix="set DISABLE_SCHEMA_UPDATE=true in the litellm service's environment")
def disable_schema_update(files: StackFiles) -> Result:
    return expect_env(files, "DISABLE_SCHEMA_UPDATE", "true")


def _cache_params(files: StackFiles) -> tuple[dict, Result | None]:
    """litellm_settings.cache_params, or the failed result when the Redis cache is not on."""
    if files.config is None:
        return {}, no_file("litellm/config.yaml")
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
    redis = files.service("redis")
    if redis is None or files.compose is None:
        return None
    command = redis.spec.get("command") or ""
    text = " ".join(map(str, command)) if isinstance(command, list) else str(command)
    where = files.compose.where("services", redis.name, "command")
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
    findings = []
    if isinstance(password, str) and password.startswith(OS_ENVIRON):
        name = password[len(OS_ENVIRON):]
        var = files.proxy_env.get(name)
        if var and var.value:
            findings.append((Status.PASS, Evidence(f"cache_params.password: {password} (set)", *where)))
        else:
            findings.append((Status.FAIL, Evidence(f"cache_params.password: {password}, but {name} is empty or unset on the proxy", *where)))
    elif password:
        findings.append((Status.PASS, Evidence("cache_params.password is set", *where)))
    else:
        var = files.proxy_env.get("REDIS_PASSWORD")  # LiteLLM's RedisCache falls back to it
        if var and var.value:
            findings.append((Status.PASS, Evidence("REDIS_PASSWORD set on the proxy", var.path, var.line)))
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
