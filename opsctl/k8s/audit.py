"""`opsctl audit --manifests`: the runbook's checks, translated to rendered
Kubernetes manifests from any source (this base, `helm template`, kustomize).

The checks see a `Stream` (every object, with stream lines) and return the
audit's own `Result`s, so the report, --json and SARIF read as for compose.
They are not in the compose registry: they run only here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from opsctl.audit.registry import Check, Evidence, Needs, Result, Status, failed, passed, warned, worst
from opsctl.audit.runner import Finding, Report
from opsctl.errors import OpsctlError
from opsctl.k8s.manifests import Manifest, parse_manifests, read_manifests

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
SECRET_NAME = re.compile(r"(KEY|SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|DATABASE_URL|REDIS_URL|_DSN)$", re.I)
REFERENCE = r"\$\([A-Za-z_][A-Za-z0-9_]*\)"  # Kubernetes' $(VAR) expansion of another env var
URL_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://([^@/]*)@", re.I)
CONFIG_KEY = re.compile(r"(^|[/_.-])(config|proxy_config|litellm[-_]config)\.ya?ml$", re.I)


@dataclass(frozen=True)
class Container:
    owner: Manifest
    path: tuple  # to the container inside owner
    pod_path: tuple  # to the pod spec inside owner
    spec: dict

    @property
    def label(self) -> str:
        return f"{self.owner.label()} container {self.spec.get('name', '?')}"

    def evidence(self, text: str, *sub: Any) -> Evidence:
        return Evidence(f"{self.label}: {text}", self.owner.source, self.owner.line(*self.path, *sub))

    @property
    def is_litellm(self) -> bool:
        return "litellm" in str(self.spec.get("image") or "").lower()


@dataclass(frozen=True)
class LiteLLMConfig:
    """The LiteLLM config found inside a ConfigMap, with lines of the stream."""

    owner: Manifest
    key: str
    data: dict
    lines: dict
    offset: int  # stream line of the key; the config's line n is offset + n

    def evidence(self, text: str, *path: Any) -> Evidence:
        for depth in range(len(path), 0, -1):
            if path[:depth] in self.lines:
                return Evidence(f"{self.owner.label()} {self.key}: {text}", self.owner.source,
                                self.offset + self.lines[path[:depth]])
        return Evidence(f"{self.owner.label()} {self.key}: {text}", self.owner.source, self.owner.line("data", self.key))

    def settings(self, section: str) -> dict:
        value = self.data.get(section)
        return value if isinstance(value, dict) else {}


def _pod_spec_path(manifest: Manifest) -> tuple | None:
    kind = manifest.kind
    if kind == "Pod":
        return ("spec",)
    if kind == "CronJob":
        return ("spec", "jobTemplate", "spec", "template", "spec")
    if kind in WORKLOADS:
        return ("spec", "template", "spec")
    return None


class Stream:
    def __init__(self, source: str, manifests: list[Manifest]):
        self.source = source
        self.manifests = manifests

    def of_kind(self, *kinds: str) -> list[Manifest]:
        return [m for m in self.manifests if m.kind in kinds]

    def containers(self, *kinds: str) -> list[Container]:
        found = []
        for manifest in self.of_kind(*(kinds or WORKLOADS)):
            pod_path = _pod_spec_path(manifest)
            for field_name in ("initContainers", "containers"):
                items = manifest.get(*pod_path, field_name)
                for index, spec in enumerate(items if isinstance(items, list) else []):
                    if isinstance(spec, dict):
                        found.append(Container(manifest, pod_path + (field_name, index), pod_path, spec))
        return found

    def proxy_containers(self) -> list[Container]:
        """LiteLLM's long-running containers (not the migrations Job's)."""
        return [c for c in self.containers("Deployment", "StatefulSet", "DaemonSet", "Pod") if c.is_litellm]

    def configs(self) -> list[LiteLLMConfig]:
        found = []
        for manifest in self.of_kind("ConfigMap"):
            data = manifest.get("data")
            for key, text in (data.items() if isinstance(data, dict) else []):
                if not (isinstance(text, str) and CONFIG_KEY.search(str(key))):
                    continue
                try:
                    inner = parse_manifests(text, f"{manifest.source}:{manifest.label()}")
                except OpsctlError:  # unparsable: the config check reports no config found
                    continue
                if inner and any(k in inner[0].data for k in ("model_list", "general_settings", "litellm_settings")):
                    # A block scalar's line 1 is the line after its key.
                    found.append(LiteLLMConfig(manifest, str(key), inner[0].data, inner[0].lines,
                                               manifest.line("data", key)))
        return found

    def first_evidence(self, text: str) -> Evidence:
        return Evidence(text, self.source, 1)


def _is_plain_secret(value: Any) -> bool:
    """A literal secret: not empty, not only $(VAR) references, and a URL only when its password is literal."""
    text = str(value).strip()
    if not text or re.fullmatch(f"({REFERENCE})+", text):
        return False
    if "://" in text:
        userinfo = URL_USERINFO.match(text)
        password = userinfo.group(1).partition(":")[2] if userinfo else ""
        return bool(password) and not re.fullmatch(REFERENCE, password)
    return True


def _env(container: Container) -> dict[str, tuple[int, dict]]:
    env = container.spec.get("env")
    return {str(e.get("name")): (i, e) for i, e in enumerate(env if isinstance(env, list) else [])
            if isinstance(e, dict) and e.get("name")}


def _config_map_values(stream: Stream, name: str) -> dict | None:
    for manifest in stream.of_kind("ConfigMap"):
        if manifest.name == name:
            data = manifest.get("data")
            return data if isinstance(data, dict) else {}
    return None


def _env_value(stream: Stream, container: Container, name: str) -> tuple[str | None, Evidence | None]:
    """The container's value of `name`: env, else an envFrom ConfigMap in the stream (None when unknown)."""
    env = _env(container)
    if name in env:
        index, entry = env[name]
        if "value" in entry:
            return str(entry["value"]), container.evidence(f"{name}={entry['value']}", "env", index)
        return None, container.evidence(f"{name} from a reference", "env", index)
    sources = container.spec.get("envFrom")
    for index, source in enumerate(sources if isinstance(sources, list) else []):
        ref = source.get("configMapRef") if isinstance(source, dict) else None
        values = _config_map_values(stream, ref.get("name")) if isinstance(ref, dict) else None
        if values and name in values:
            return str(values[name]), container.evidence(f"{name}={values[name]} (ConfigMap {ref['name']})", "envFrom", index)
    return None, None


# --- the checks ---------------------------------------------------------------

def service_exposure(stream: Stream) -> Result:
    findings = []
    for service in stream.of_kind("Service"):
        kind = service.get("spec", "type", default="ClusterIP")
        if kind in ("LoadBalancer", "NodePort"):
            findings.append((Status.FAIL, Evidence(f"{service.label()} type {kind}", service.source,
                                                    service.line("spec", "type"))))
        elif service.get("spec", "externalIPs"):
            findings.append((Status.FAIL, Evidence(f"{service.label()} externalIPs", service.source,
                                                    service.line("spec", "externalIPs"))))
        else:
            findings.append((Status.PASS, Evidence(f"{service.label()} type {kind}", service.source,
                                                    service.line("spec", "type"))))
    if not findings:
        return warned(stream.first_evidence("no Service in the stream"))
    return worst(findings)


def secrets_in_plain_sight(stream: Stream) -> Result:
    findings = []
    for container in stream.containers():
        for name, (index, entry) in _env(container).items():
            if SECRET_NAME.search(name) and "value" in entry and _is_plain_secret(entry["value"]):
                findings.append((Status.FAIL, container.evidence(f"{name} set as a plain value", "env", index, "value")))
    for manifest in stream.of_kind("ConfigMap"):
        data = manifest.get("data")
        for key in (data if isinstance(data, dict) else {}):
            if SECRET_NAME.search(str(key)):
                findings.append((Status.FAIL, Evidence(f"{manifest.label()} holds {key}", manifest.source,
                                                        manifest.line("data", key))))
    for config in stream.configs():
        key = config.settings("general_settings").get("master_key")
        if isinstance(key, str) and key and not key.startswith("os.environ/"):
            findings.append((Status.FAIL, config.evidence("master_key is a literal", "general_settings", "master_key")))
        models = config.data.get("model_list")
        for index, model in enumerate(models if isinstance(models, list) else []):
            params = model.get("litellm_params") if isinstance(model, dict) else None
            key = params.get("api_key") if isinstance(params, dict) else None
            if isinstance(key, str) and key and not key.startswith("os.environ/"):
                findings.append((Status.FAIL, config.evidence(f"model_list[{index}] api_key is a literal",
                                                              "model_list", index, "litellm_params", "api_key")))
    for secret in stream.of_kind("Secret"):
        if secret.get("data") or secret.get("stringData"):
            field_name = "stringData" if secret.get("stringData") else "data"
            findings.append((Status.WARN, Evidence(f"{secret.label()} carries its values in the manifests",
                                                    secret.source, secret.line(field_name))))
    if not findings:
        return passed(stream.first_evidence("no secret in env values, ConfigMaps or Secret objects"))
    return worst(findings)


# (section, key, wanted, status when not): the compose audit's config settings.
CONFIG_SETTINGS = (
    ("general_settings", "master_key", "os.environ/", Status.FAIL),
    ("general_settings", "ui_access_mode", "admin_only", Status.FAIL),
    ("general_settings", "disable_error_logs", True, Status.WARN),
    ("general_settings", "store_model_in_db", True, Status.WARN),
    ("litellm_settings", "json_logs", True, Status.WARN),
)


def config_settings(stream: Stream) -> Result:
    configs = stream.configs()
    if not configs:
        return warned(stream.first_evidence("no ConfigMap with a LiteLLM config.yaml"))
    findings = []
    for config in configs:
        for section, key, wanted, status in CONFIG_SETTINGS:
            value = config.settings(section).get(key)
            good = (isinstance(value, str) and value.startswith(wanted)) if wanted == "os.environ/" else value == wanted
            shown = "<literal>" if key == "master_key" and not good and value else value
            findings.append((Status.PASS if good else status,
                             config.evidence(f"{section}.{key}: {shown}", section, key)))
    return worst(findings)


def proxy_environment(stream: Stream) -> Result:
    proxies = stream.proxy_containers()
    if not proxies:
        return failed(stream.first_evidence("no LiteLLM proxy container (image *litellm*) in a Deployment"))
    findings = []
    for container in proxies:
        for name, wanted in (("DISABLE_SCHEMA_UPDATE", "true"), ("LITELLM_MODE", "PRODUCTION")):
            value, evidence = _env_value(stream, container, name)
            if value is None:
                findings.append((Status.FAIL, evidence or container.evidence(f"{name} not set", "env")))
            else:
                findings.append((Status.PASS if value.lower() == wanted.lower() else Status.FAIL, evidence))
    return worst(findings)


def migrations_job(stream: Stream) -> Result:
    for container in stream.containers("Job", "CronJob") + [c for c in stream.containers() if c.path[-2] == "initContainers"]:
        words = " ".join(map(str, (container.spec.get("command") or []) + (container.spec.get("args") or [])))
        if "prisma_migration" in words or "prisma migrate" in words:
            return passed(container.evidence(words, "command" if container.spec.get("command") else "args"))
    return failed(stream.first_evidence("no Job runs `python -m litellm.proxy.prisma_migration`"))


def security_context(stream: Stream) -> Result:
    findings = []
    for container in stream.containers():
        context = container.spec.get("securityContext")
        context = context if isinstance(context, dict) else {}
        pod = container.owner.get(*container.pod_path, "securityContext", default={})
        pod = pod if isinstance(pod, dict) else {}

        def seen(status: Status, text: str, *key: str) -> None:
            findings.append((status, container.evidence(text, "securityContext", *key)))

        if context.get("privileged") is True:
            seen(Status.FAIL, "privileged: true", "privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            seen(Status.FAIL, "allowPrivilegeEscalation is not false", "allowPrivilegeEscalation")
        if context.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            seen(Status.FAIL, "runAsNonRoot is not true", "runAsNonRoot")
        drop = context.get("capabilities", {}).get("drop") if isinstance(context.get("capabilities"), dict) else None
        if not (isinstance(drop, list) and "ALL" in drop):
            seen(Status.FAIL, "capabilities do not drop ALL", "capabilities")
        if context.get("readOnlyRootFilesystem") is not True:
            seen(Status.WARN, "readOnlyRootFilesystem is not true", "readOnlyRootFilesystem")
        seccomp = context.get("seccompProfile") or pod.get("seccompProfile")
        if not (isinstance(seccomp, dict) and seccomp.get("type") in ("RuntimeDefault", "Localhost")):
            seen(Status.WARN, "no seccompProfile RuntimeDefault", "seccompProfile")
        limits = container.spec.get("resources", {}).get("limits") if isinstance(container.spec.get("resources"), dict) else None
        if not limits:
            findings.append((Status.WARN, container.evidence("no resource limits", "resources")))
        if not any(status is not Status.PASS and e.text.startswith(container.label) for status, e in findings):
            findings.append((Status.PASS, container.evidence("hardened securityContext", "securityContext")))
    if not findings:
        return warned(stream.first_evidence("no workload in the stream"))
    return worst(findings)


def replicas_need_redis(stream: Stream) -> Result:
    findings = []
    configs = stream.configs()
    config_redis = any(c.settings("litellm_settings").get("cache_params", {}).get("type") == "redis"
                       or any(k.startswith("redis") for k in c.settings("router_settings"))
                       for c in configs if isinstance(c.settings("litellm_settings").get("cache_params", {}), dict))
    for container in stream.proxy_containers():
        owner = container.owner
        replicas = owner.get("spec", "replicas", default=1)
        if not isinstance(replicas, int) or replicas <= 1:
            findings.append((Status.PASS, Evidence(f"{owner.label()} replicas {replicas}", owner.source,
                                                    owner.line("spec", "replicas"))))
            continue
        env = _env(container)
        named = [n for n in ("REDIS_URL", "REDIS_HOST") if n in env]
        where = Evidence(f"{owner.label()} replicas {replicas}", owner.source, owner.line("spec", "replicas"))
        if not named:
            findings.append((Status.FAIL, Evidence(
                f"{owner.label()} replicas {replicas} and no REDIS_URL/REDIS_HOST on {container.spec.get('name')}",
                owner.source, owner.line("spec", "replicas"))))
        elif configs and not config_redis:
            findings.append((Status.FAIL, Evidence(f"{where.text}, but the config uses no Redis cache", owner.source,
                                                    where.line)))
        else:
            findings.append((Status.PASS, Evidence(f"{where.text} with {named[0]}", owner.source, where.line)))
    if not findings:
        return warned(stream.first_evidence("no LiteLLM proxy workload"))
    return worst(findings)


def disruption_and_network(stream: Stream) -> Result:
    """A PodDisruptionBudget and a NetworkPolicy exist for the proxy's pods."""
    findings = []
    proxies = {c.owner.label(): c for c in stream.proxy_containers()}
    for label, container in proxies.items():
        pod_labels = container.owner.get("spec", "template", "metadata", "labels", default={}) or {}
        for kind, path in (("PodDisruptionBudget", ("spec", "selector", "matchLabels")),
                           ("NetworkPolicy", ("spec", "podSelector", "matchLabels"))):
            matching = [m for m in stream.of_kind(kind)
                        if isinstance(m.get(*path), dict) and m.get(*path)
                        and all(pod_labels.get(k) == v for k, v in m.get(*path).items())]
            if matching:
                findings.append((Status.PASS, Evidence(f"{matching[0].label()} selects {label}", matching[0].source,
                                                        matching[0].line(*path))))
            else:
                findings.append((Status.WARN, Evidence(f"no {kind} selects {label}'s pods", container.owner.source,
                                                        container.owner.line("spec", "template", "metadata", "labels"))))
    if not findings:
        return warned(stream.first_evidence("no LiteLLM proxy workload"))
    return worst(findings)


def _check(check_id: str, section: str, runbook: str, fix: str, func: Callable[[Stream], Result]) -> Check:
    return Check(check_id, section, runbook, fix, Needs.FILES, func)


CHECKS = (
    _check("k8s-service-exposure", "Boundaries", "Proxy reachable only through your ingress (ClusterIP).",
           "use type ClusterIP and no externalIPs; expose through an Ingress/Gateway", service_exposure),
    _check("k8s-no-plain-secrets", "Boundaries", "Secrets only from the secret store, never in files.",
           "move the value into a Secret created out of band and use valueFrom.secretKeyRef", secrets_in_plain_sight),
    _check("k8s-security-context", "Boundaries", "Non-root, no privilege escalation, capabilities dropped.",
           "set runAsNonRoot, allowPrivilegeEscalation: false, capabilities.drop [ALL], "
           "readOnlyRootFilesystem, seccompProfile RuntimeDefault, resource limits", security_context),
    _check("k8s-config-settings", "Logging/Privacy", "master_key from the environment; admin-only UI; no error logs in DB; JSON logs.",
           "set these in the config.yaml of the ConfigMap (opsctl init --target k8s renders them)", config_settings),
    _check("k8s-proxy-env", "DB / Config", "DISABLE_SCHEMA_UPDATE=true and LITELLM_MODE=PRODUCTION on the proxy.",
           "add DISABLE_SCHEMA_UPDATE=\"true\" and LITELLM_MODE=PRODUCTION to the proxy container's env", proxy_environment),
    _check("k8s-migrations-job", "DB / Config", "Migrations run apart from the proxy (a Job).",
           "add a Job running `python -m litellm.proxy.prisma_migration`", migrations_job),
    _check("k8s-replicas-redis", "Routing & Availability", "Several replicas share rate-limit and router state in Redis.",
           "give the proxy REDIS_URL from a Secret and a redis cache in the config, or run one replica", replicas_need_redis),
    _check("k8s-pdb-networkpolicy", "Routing & Availability", "A PodDisruptionBudget and a NetworkPolicy for the proxy.",
           "add a PodDisruptionBudget and a NetworkPolicy selecting the proxy's pod labels", disruption_and_network),
)


def audit_stream(manifests: list[Manifest], source: str) -> Report:
    stream = Stream(source, manifests)
    return Report(Path(source), tuple(Finding(c, c.func(stream)) for c in CHECKS))


def audit_manifests(path: str) -> Report:
    """Audit FILE (or `-`, stdin)."""
    manifests = read_manifests(path)
    return audit_stream(manifests, manifests[0].source if manifests else ("<stdin>" if path == "-" else path))
