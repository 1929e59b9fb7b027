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

import yaml

from tests.audit.stacks import (edit_compose, edit_compose_text, edit_config, service, set_dotenv, set_proxy_env,
                                write_file)


@dataclass(frozen=True)
class Mutation:
    name: str
    check: str
    apply: Callable[[Path, Path], None]
    fix: str | None = None
    status: str = "FAIL"  # WARN: a recommendation; nothing FAILs, the check WARNs
    replicas: int = 1  # the stack it breaks: `opsctl init --replicas N`


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


INLINE_SALT = "sk-salt-inline-7Qm2Xw9Lr4Tz8Vb1Nc6Hd3Kf5Jg0Ps"  # strong: only no-inline-secrets may fail


def _literal_secret_in_compose(stack, home):
    def change(compose):
        environment = service(compose, "litellm").setdefault("environment", {})
        if isinstance(environment, list):
            environment[:] = [e for e in environment if not str(e).startswith("LITELLM_SALT_KEY")]
            environment.append(f"LITELLM_SALT_KEY={INLINE_SALT}")
        else:
            environment["LITELLM_SALT_KEY"] = INLINE_SALT

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


# --- the bypasses: each must fail its own check, nothing else ---

HARDENED = {"security_opt": ["no-new-privileges:true"], "cap_drop": ["ALL"], "read_only": True, "pids_limit": 64,
            "mem_limit": "64m", "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}}


def _dump(data) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def _extends_base_publishing_everywhere(stack, home):
    write_file(stack, "base.yml", _dump({"services": {"base": {"ports": ["0.0.0.0:4003:4000"]}}}))
    edit_compose(stack, lambda c: service(c, "litellm").__setitem__("extends", {"file": "base.yml", "service": "base"}))


def _include_with_host_networking(stack, home):
    sidecar = {"image": "busybox", "command": ["sleep", "infinity"], "network_mode": "host", **HARDENED}
    write_file(stack, "extra/compose.yaml", _dump({"services": {"sidecar": sidecar}}))
    edit_compose(stack, lambda c: c.__setitem__("include", ["extra/compose.yaml"]))


def _override_file_publishing_everywhere(stack, home):
    write_file(stack, "docker-compose.override.yml", _dump({"services": {"litellm": {"ports": ["0.0.0.0:4002:4000"]}}}))


def _compose_file_in_dotenv(stack, home):
    write_file(stack, "evil.yml", _dump({"services": {"litellm": {"ports": ["4005:4000"]}}}))
    set_dotenv(stack, "COMPOSE_FILE", "docker-compose.yml:evil.yml")


def _second_document(stack, home):
    edit_compose_text(stack, lambda text: text + "---\n" + _dump({"services": {"litellm": {"ports": ["0.0.0.0:4006:4000"]}}}))


def _decoy_named_litellm(stack, home):
    def change(compose):
        services = compose["services"]
        gateway = services.pop("litellm")
        gateway["environment"]["LITELLM_MODE"] = "DEV"
        services["gateway"] = gateway
        services["litellm"] = {"image": "busybox", "command": ["sleep", "infinity"],
                               "environment": {"LITELLM_MODE": "PRODUCTION"}, **HARDENED}

    edit_compose(stack, change)


def _master_key_from_weak_variable(stack, home):
    set_dotenv(stack, "WEAK", "sk-1234")
    edit_compose(stack, lambda c: service(c, "litellm")["environment"].__setitem__("LITELLM_MASTER_KEY", "${WEAK}"))


def _schema_update_yes(stack, home):
    edit_compose(stack, lambda c: service(c, "litellm")["environment"].__setitem__("DISABLE_SCHEMA_UPDATE", "__BARE_YES__"))
    edit_compose_text(stack, lambda text: text.replace("__BARE_YES__", "yes"))


def _include_replacing_general_settings(stack, home):
    config = yaml.safe_load((stack / "litellm" / "config.yaml").read_text())
    opened = dict(config["general_settings"], ui_access_mode="all")
    write_file(stack, "litellm/extra.yaml", _dump({"general_settings": opened}))
    edit_config(stack, lambda c: c.__setitem__("include", ["extra.yaml"]))
    edit_compose(stack, lambda c: service(c, "litellm")["volumes"].append("./litellm/extra.yaml:/app/extra.yaml:ro"))


def _config_mounted_from_elsewhere(stack, home):
    config = yaml.safe_load((stack / "litellm" / "config.yaml").read_text())
    config["general_settings"]["ui_access_mode"] = "all"
    write_file(stack, "other/config.yaml", _dump(config))
    edit_compose(stack, lambda c: service(c, "litellm").__setitem__(
        "volumes", ["./other/config.yaml:/app/config.yaml:ro", "./litellm/custom_callbacks.py:/app/custom_callbacks.py:ro"]))


def _duplicate_ports_key(stack, home):
    # A second `ports:` of the same value: compose refuses the file, PyYAML keeps the last one silently.
    edit_compose_text(stack, lambda text: text.replace("  litellm:\n", "  litellm:\n    ports: ['127.0.0.1:4000:4000', '127.0.0.1:4001:4001']\n", 1))


def _duplicate_config_key(stack, home):
    edit_config(stack, lambda c: None)
    path = stack / "litellm" / "config.yaml"
    path.write_text(path.read_text().replace("  cooldown_time: 30\n", "  cooldown_time: 30\n  cooldown_time: 30\n", 1))


def _remove_service_field(word, key):
    return lambda stack, home: edit_compose(stack, lambda c: service(c, word).pop(key))


def _set_service_field(word, key, value):
    return lambda stack, home: edit_compose(stack, lambda c: service(c, word).__setitem__(key, value))


def _env_file_for_postgres(stack, home):
    edit_compose(stack, lambda c: service(c, "postgres").__setitem__("env_file", ".env"))


def _salt_value_in_redis(stack, home):
    edit_compose(stack, lambda c: service(c, "redis")["environment"].__setitem__("CACHE_SECRET", "${LITELLM_SALT_KEY}"))


def _add_fallback(group, targets):
    return lambda stack, home: edit_config(stack, lambda c: c["router_settings"]["fallbacks"].append({group: targets}))


def _fallback_only(group, targets):
    def change(config):
        for entry in config["router_settings"]["fallbacks"]:
            if group in entry:
                entry[group] = targets

    return lambda stack, home: edit_config(stack, change)


def _proxy_command(*extra):
    return lambda stack, home: edit_compose(stack, lambda c: service(c, "litellm")["command"].extend(extra))


def _delete(rel):
    return lambda stack, home: (stack / rel).unlink()


def _unset_in_dotenv(name):
    return lambda stack, home: set_dotenv(stack, name, None)


def _callbacks_not_mounted(stack, home):
    edit_compose(stack, lambda c: service(c, "litellm").__setitem__("volumes", ["./litellm/config.yaml:/app/config.yaml:ro"]))


def _lb_checks_liveliness(stack, home):
    cfg = stack / "haproxy" / "haproxy.cfg"
    cfg.write_text(cfg.read_text().replace("option httpchk GET /health/readiness", "option httpchk GET /health/liveliness"))


def _replica_published(stack, home):
    edit_compose(stack, lambda compose: service(compose, "litellm-2").__setitem__("ports", ["127.0.0.1:4002:4000"]))


def _without(section, key):
    return lambda stack, home: edit_config(stack, lambda c: c[section].pop(key))


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
    # --- stack files
    Mutation("config-deleted", "stack-files", _delete("litellm/config.yaml"),
             fix="ref=$(mktemp -d) && opsctl init"),
    Mutation("compose-refuses-a-missing-password", "stack-files", _unset_in_dotenv("POSTGRES_PASSWORD")),
    Mutation("config-mounted-from-elsewhere", "ui-admin-only", _config_mounted_from_elsewhere,
             fix="set ui_access_mode: admin_only at other/config.yaml:"),
    Mutation("duplicate-ports-key", "duplicate-keys", _duplicate_ports_key),
    Mutation("duplicate-key-in-config", "duplicate-keys", _duplicate_config_key),
    # --- the bypasses
    Mutation("include-replaces-general-settings", "ui-admin-only", _include_replacing_general_settings,
             fix="set ui_access_mode: admin_only at litellm/extra.yaml:"),
    Mutation("extends-base-publishes-everywhere", "ports-loopback", _extends_base_publishing_everywhere,
             fix='publish "127.0.0.1:4003:4000" instead of "0.0.0.0:4003:4000" at base.yml:'),
    Mutation("include-adds-host-networking", "ports-loopback", _include_with_host_networking,
             fix="remove network_mode: host at extra/compose.yaml:"),
    Mutation("override-file-publishes-everywhere", "ports-loopback", _override_file_publishing_everywhere,
             fix='publish "127.0.0.1:4002:4000" instead of "0.0.0.0:4002:4000" at docker-compose.override.yml:'),
    Mutation("compose-file-in-dotenv", "ports-loopback", _compose_file_in_dotenv,
             fix='publish "127.0.0.1:4005:4000" instead of "4005:4000" at evil.yml:'),
    Mutation("second-yaml-document", "ports-loopback", _second_document),
    Mutation("schema-update-yes", "disable-schema-update", _schema_update_yes, fix='set DISABLE_SCHEMA_UPDATE: "true" at docker-compose.yml:'),
    Mutation("schema-update-on-in-config", "disable-schema-update", _general("disable_prisma_schema_update", False)),
    Mutation("decoy-named-litellm", "production-mode", _decoy_named_litellm, fix='set LITELLM_MODE: "PRODUCTION" at docker-compose.yml:'),
    Mutation("master-key-from-weak-variable", "master-key", _master_key_from_weak_variable,
             fix="sed -i '/^WEAK=/d' STACK/.env && echo \"WEAK=sk-$(openssl rand -hex 32)\" >> STACK/.env"),
    Mutation("one-character-master-key", "master-key", lambda stack, home: set_dotenv(stack, "LITELLM_MASTER_KEY", "x"),
             fix="sed -i '/^LITELLM_MASTER_KEY=/d' STACK/.env"),
    Mutation("low-entropy-master-key", "master-key", lambda stack, home: set_dotenv(stack, "LITELLM_MASTER_KEY", "sk-" + "ab" * 30)),
    # --- secrets
    Mutation("salt-key-empty", "salt-key", _env("LITELLM_SALT_KEY", "")),
    Mutation("salt-key-empty-in-dotenv", "stack-files", lambda stack, home: set_dotenv(stack, "LITELLM_SALT_KEY", "")),
    Mutation("salt-key-is-the-master-key", "salt-key",
             lambda stack, home: edit_compose(stack, lambda c: service(c, "litellm")["environment"].__setitem__(
                 "LITELLM_SALT_KEY", "${LITELLM_MASTER_KEY}"))),
    Mutation("salt-key-short", "salt-key", lambda stack, home: set_dotenv(stack, "LITELLM_SALT_KEY", "salty"),
             fix="sed -i '/^LITELLM_SALT_KEY=/d' STACK/.env"),
    Mutation("postgres-gets-every-secret", "secrets-scope", _env_file_for_postgres,
             fix="replace env_file: at docker-compose.yml:"),
    Mutation("salt-key-value-in-redis", "secrets-scope", _salt_value_in_redis, fix="remove CACHE_SECRET at docker-compose.yml:"),
    # --- logging
    Mutation("set-verbose", "no-debug-logging",
             lambda stack, home: edit_config(stack, lambda c: c["litellm_settings"].__setitem__("set_verbose", True)),
             fix="set set_verbose: false at litellm/config.yaml:"),
    Mutation("litellm-log-debug", "no-debug-logging", _env("LITELLM_LOG", "DEBUG")),
    Mutation("detailed-debug-flag", "no-debug-logging", _proxy_command("--detailed_debug")),
    Mutation("debug-variable", "no-debug-logging", _env("DETAILED_DEBUG", "yes")),
    # --- routing
    Mutation("fallback-cycle", "fallback-cycles", _add_fallback("llama3.2-1b-local", ["llamacpp-local"])),
    Mutation("self-fallback", "fallback-cycles", _fallback_only("gemma3-1b-local", ["llama3.2-1b-local", "gemma3-1b-local"])),
    Mutation("chat-default-falls-back-to-itself", "fallback-cycles", _fallback_only("chat-default", ["chat-default"]),
             fix="remove chat-default from the targets of chat-default at litellm/config.yaml:"),
    # --- replicas (opsctl init --replicas 3)
    Mutation("replicas-count-limits-alone", "replicas-rate-limits", _without("general_settings", "coordination_redis"),
             replicas=3),
    Mutation("replicas-router-redis-without-password", "replicas-router-state",
             _without("router_settings", "redis_password"), replicas=3),
    Mutation("lb-checks-liveliness", "replicas-lb-readiness", _lb_checks_liveliness, replicas=3),
    Mutation("replica-published-past-the-lb", "replicas-only-lb-published", _replica_published, replicas=3),
    # --- tooling
    Mutation("callbacks-not-mounted", "callbacks", _callbacks_not_mounted),
    # --- container hardening
    Mutation("new-privileges-allowed", "no-new-privileges", _remove_service_field("redis", "security_opt"),
             fix='add security_opt: ["no-new-privileges:true"] to service redis'),
    Mutation("capabilities-kept", "cap-drop", _remove_service_field("postgres", "cap_drop")),
    Mutation("privileged-service", "cap-drop", _set_service_field("redis", "privileged", True)),
    Mutation("dangerous-capability", "cap-drop", _set_service_field("redis", "cap_add", ["SYS_ADMIN"])),
    Mutation("writable-root-without-reason", "read-only-root", _remove_service_field("redis", "read_only")),
    Mutation("no-pids-limit", "resource-limits", _remove_service_field("migrate", "pids_limit"), status="WARN"),
    Mutation("no-memory-limit", "resource-limits", _remove_service_field("postgres", "mem_limit"), status="WARN"),
    Mutation("no-log-rotation", "log-rotation", _remove_service_field("litellm", "logging"), status="WARN"),
]
