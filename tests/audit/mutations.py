"""The corpus: each entry breaks ONE runbook promise in a fresh `opsctl init` stack.

`check` is the only check that may FAIL afterwards. An entry is a name,
that check's id, an edit `apply(stack_dir, home)` that makes a mistake an
operator really makes, and, where the fix depends on the stack, how the
expected fix starts (STACK stands for the stack directory).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tests.audit.stacks import edit_compose, edit_config, service, set_dotenv, set_proxy_env


@dataclass(frozen=True)
class Mutation:
    name: str
    check: str
    apply: Callable[[Path, Path], None]
    fix: str | None = None


def _general(key, value):
    return lambda stack, home: edit_config(stack, lambda c: c["general_settings"].__setitem__(key, value))


def _router(key, value):
    return lambda stack, home: edit_config(stack, lambda c: c["router_settings"].__setitem__(key, value))


def _cache_params(key, value):
    return lambda stack, home: edit_config(stack, lambda c: c["litellm_settings"]["cache_params"].__setitem__(key, value))


def _env(name, value):
    return lambda stack, home: set_proxy_env(stack, name, value)


def _port_on_all_interfaces(stack, home):
    def change(compose):
        ports = service(compose, "litellm")["ports"]
        ports[0] = ":".join(str(ports[0]).split(":")[1:])  # "127.0.0.1:4000:4000" -> "4000:4000"

    edit_compose(stack, change)


def _postgres_published_for_psql(stack, home):
    edit_compose(stack, lambda compose: service(compose, "postgres").__setitem__("ports", ["5432:5432"]))


def _literal_secret_in_config(stack, home):
    _cache_params("password", "redis-password-written-inline")(stack, home)


def _literal_secret_in_compose(stack, home):
    def change(compose):
        environment = service(compose, "litellm").setdefault("environment", {})
        if isinstance(environment, list):
            environment[:] = [e for e in environment if not str(e).startswith("LITELLM_SALT_KEY")]
            environment.append("LITELLM_SALT_KEY=sk-salt-written-inline-0123456789")
        else:
            environment["LITELLM_SALT_KEY"] = "sk-salt-written-inline-0123456789"

    edit_compose(stack, change)


def _chmod(path_of):
    return lambda stack, home: os.chmod(path_of(stack, home), 0o644)


def _world_readable_007(stack, home):
    secrets = home / ".007"
    secrets.write_text("LITELLM_MASTER_KEY=sk-operator-0123456789abcdef\n")
    os.chmod(secrets, 0o644)


def _redis_without_requirepass(stack, home):
    def change(compose):
        redis = service(compose, "redis")
        drop = lambda text: re.sub(r"\s*--requirepass[= ]\S+", "", str(text))  # noqa: E731
        command = redis["command"]
        redis["command"] = [drop(word) for word in command] if isinstance(command, list) else drop(command)
        if "--requirepass" in redis["command"]:  # a list form: the flag and its value are separate words
            at = redis["command"].index("--requirepass")
            del redis["command"][at:at + 2]

    edit_compose(stack, change)


def _drop_fallback(group):
    def change(config):
        fallbacks = config["router_settings"]["fallbacks"]
        config["router_settings"]["fallbacks"] = [entry for entry in fallbacks if group not in entry]

    return lambda stack, home: edit_config(stack, change)


def _dangling_fallback(stack, home):
    def change(config):
        for entry in config["router_settings"]["fallbacks"]:
            if "chat-default" in entry:
                entry["chat-default"] = ["no-such-group"]

    edit_config(stack, change)


def _drop_callback(name):
    def change(config):
        config["litellm_settings"]["callbacks"].remove(name)

    return lambda stack, home: edit_config(stack, change)


def _vllm_flag(flag, value):
    def change(compose):
        vllm = service(compose, "vllm")
        words = [str(w) for w in vllm["command"]] if isinstance(vllm["command"], list) else str(vllm["command"]).split()
        words[words.index(flag) + 1] = value
        vllm["command"] = words

    return lambda stack, home: edit_compose(stack, change)


def _republish(service_word, published_port, new_host_port):
    """Publish the entry whose host port is `published_port` on `new_host_port` instead (still on 127.0.0.1)."""
    def change(compose):
        ports = service(compose, service_word)["ports"]
        for index, entry in enumerate(ports):
            ip, host, container = str(entry).split(":")
            if host == published_port:
                ports[index] = f"{ip}:{new_host_port}:{container}"

    return lambda stack, home: edit_compose(stack, change)


def _config_timeout(model_name, timeout):
    def change(config):
        for model in config["model_list"]:
            if model["model_name"] == model_name:
                model["litellm_params"]["timeout"] = timeout

    return lambda stack, home: edit_config(stack, change)


def _server_key_defaults(stack, home):
    edit_config(stack, lambda c: c["litellm_settings"].__setitem__("default_key_generate_params", {"rpm_limit": 1000}))


MUTATIONS = [
    Mutation("port-on-every-interface", "ports-loopback", _port_on_all_interfaces,
             fix='publish "127.0.0.1:4000:4000" instead of "4000:4000" at docker-compose.yml:'),
    Mutation("postgres-published-for-psql", "ports-loopback", _postgres_published_for_psql,
             fix='publish "127.0.0.1:5432:5432" instead of "5432:5432" at docker-compose.yml:'),
    Mutation("ui-open-to-all", "ui-admin-only", _general("ui_access_mode", "all")),
    Mutation("dev-mode", "production-mode", _env("LITELLM_MODE", "DEV")),
    Mutation("production-mode-line-dropped", "production-mode", _env("LITELLM_MODE", None)),
    Mutation("redis-password-inline-in-config", "no-inline-secrets", _literal_secret_in_config),
    Mutation("salt-key-inline-in-compose", "no-inline-secrets", _literal_secret_in_compose),
    Mutation("dotenv-world-readable", "secret-file-modes", _chmod(lambda stack, home: stack / ".env")),
    Mutation("secrets-file-world-readable", "secret-file-modes", _world_readable_007),
    Mutation("well-known-master-key-in-dotenv", "master-key",
             lambda stack, home: set_dotenv(stack, "LITELLM_MASTER_KEY", "sk-1234"),
             fix=("sed -i '/^LITELLM_MASTER_KEY=/d' STACK/.env && echo \"LITELLM_MASTER_KEY=sk-$(openssl rand -hex 32)\" "
                  ">> STACK/.env && opsctl --stack-dir STACK up litellm")),
    Mutation("empty-master-key", "master-key", _env("LITELLM_MASTER_KEY", "")),
    Mutation("error-logs-kept", "disable-error-logs", _general("disable_error_logs", False)),
    Mutation("master-key-returned", "disable-master-key-return", _general("disable_master_key_return", False)),
    Mutation("master-key-hash-in-db", "disable-adding-master-key-hash-to-db",
             _general("disable_adding_master_key_hash_to_db", False)),
    Mutation("health-details-shown", "health-check-details", _general("health_check_details", True)),
    Mutation("plain-logs", "json-logs",
             lambda stack, home: edit_config(stack, lambda c: c["litellm_settings"].__setitem__("json_logs", False))),
    Mutation("schema-updates-on", "disable-schema-update", _env("DISABLE_SCHEMA_UPDATE", "false")),
    Mutation("schema-update-line-dropped", "disable-schema-update", _env("DISABLE_SCHEMA_UPDATE", None)),
    Mutation("cache-password-unset", "redis-password", _cache_params("password", "os.environ/REDIS_PASSWORD_UNSET")),
    Mutation("redis-server-without-password", "redis-password", _redis_without_requirepass),
    Mutation("cache-ttl-300", "cache-ttl", _cache_params("ttl", 300)),
    Mutation("cache-only-completions", "cache-ttl", _cache_params("supported_call_types", ["acompletion"])),
    Mutation("least-busy-routing", "routing-strategy", _router("routing_strategy", "least-busy")),
    Mutation("no-pre-call-checks", "enable-pre-call-checks", _router("enable_pre_call_checks", False)),
    Mutation("allowed-fails-5", "allowed-fails", _router("allowed_fails", 5)),
    Mutation("cooldown-10", "cooldown-time", _router("cooldown_time", 10)),
    Mutation("chat-default-without-fallback", "fallbacks", _drop_fallback("chat-default"),
             fix='add "- chat-default: [qwen3-coder-480b-cloud]" under router_settings.fallbacks (litellm/config.yaml:'),
    Mutation("fallback-to-missing-group", "fallbacks", _dangling_fallback,
             fix="replace no-such-group with qwen3-coder-480b-cloud at litellm/config.yaml:"),
    Mutation("no-context-window-fallbacks", "context-window-fallbacks",
             lambda stack, home: edit_config(stack, lambda c: c["router_settings"].pop("context_window_fallbacks"))),
    Mutation("early-chunk-not-registered", "callbacks", _drop_callback("custom_callbacks.early_chunk")),
    Mutation("rate-limiter-not-registered", "callbacks", _drop_callback("dynamic_rate_limiter_v3")),
    Mutation("callbacks-file-missing", "callbacks", lambda stack, home: (stack / "litellm" / "custom_callbacks.py").unlink()),
    Mutation("vllm-long-context", "vllm-flags", _vllm_flag("--max-model-len", "8192")),
    Mutation("vllm-greedy-gpu", "vllm-flags", _vllm_flag("--gpu-memory-utilization", "0.9")),
    Mutation("rerank-on-8080", "rerank-local", _republish("rerank", "8079", "8080")),
    Mutation("health-app-on-4002", "health-app", _republish("litellm", "4001", "4002"),
             fix='publish "127.0.0.1:4001:4001" in the ports of service litellm (docker-compose.yml:'),
    Mutation("server-side-key-defaults-differ", "key-defaults", _server_key_defaults,
             fix="set litellm_settings.default_key_generate_params.rpm_limit: 120 in litellm/config.yaml"),
    Mutation("chat-default-timeout-600", "config-model-timeouts", _config_timeout("chat-default", 600)),
    Mutation("local-model-timeout-as-string", "config-model-timeouts", _config_timeout("llamacpp-local", "30"),
             fix="set timeout: 30 and num_retries: 1 (unquoted) in llamacpp-local's litellm_params at litellm/config.yaml:"),
]
