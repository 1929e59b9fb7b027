"""`opsctl init --target k8s` and `opsctl audit --manifests`: the base built by
kubectl's kustomize, accepted by a real kube-apiserver 1.20 (server-side apply),
its object graph, and the audit on it and on broken variants of it."""

import json
import re

import pytest
import yaml
from click.testing import CliRunner

from opsctl.cli import cli
from opsctl.k8s.manifests import MAX_BYTES
from opsctl.policy import load_policy
from opsctl.stack.render import CONFIG, render_config, template_files

SECRETS = {"litellm-secrets", "litellm-upstreams"}


def opsctl(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def gateway(tmp_path):
    result = opsctl("init", str(tmp_path / "gw"), "--target", "k8s", "--replicas", "3")
    assert result.exit_code == 0, result.output
    return tmp_path / "gw"


@pytest.fixture
def built(kube_tools, gateway):
    return kube_tools.kubectl("kustomize", str(gateway / "base")).stdout


def by_kind(text):
    return {(d["kind"], d["metadata"]["name"].split("-")[0] if d["kind"] == "ConfigMap" else d["metadata"]["name"]): d
            for d in yaml.safe_load_all(text) if d}


def audit(text, *extra):
    result = opsctl("audit", "--manifests", "-", "--json", *extra, input=text)
    report = json.loads(result.stdout)
    return result.exit_code, {c["check"]: c for c in report["checks"]}


def test_init_writes_no_secret_and_the_compose_config(gateway):
    files = {p.relative_to(gateway).as_posix(): p.read_text() for p in gateway.rglob("*") if p.is_file()}
    assert {"base/kustomization.yaml", "base/deployment.yaml", "base/job-migrations.yaml", "base/pdb.yaml",
            "overlays/k8s-1.20/kustomization.yaml", "overlays/in-cluster-data/data.yaml"} <= set(files)
    assert files["base/config.yaml"] == render_config(template_files()[CONFIG], load_policy(None))
    assert "kind: Secret\n" not in "".join(files.values())
    assert "kubectl -n llm create secret generic litellm-secrets" in files["base/kustomization.yaml"]
    assert "count: 3" in files["base/kustomization.yaml"]


def test_init_refuses_to_overwrite_and_keeps_identical_files(gateway):
    (gateway / "base" / "service.yaml").write_text("edited\n")
    result = CliRunner().invoke(cli, ["init", str(gateway), "--target", "k8s", "--replicas", "3"])
    assert result.exit_code == 9 and "base/service.yaml" in result.output
    result = opsctl("init", str(gateway), "--target", "k8s", "--replicas", "3", "--force", "--dry-run")
    assert "would overwrite: " in result.output and "would keep: " in result.output
    assert (gateway / "base" / "service.yaml").read_text() == "edited\n"


def test_kustomize_builds_the_base(built):
    objects = by_kind(built)
    assert set(objects) == {("ServiceAccount", "litellm"), ("ConfigMap", "litellm"), ("Deployment", "litellm"),
                            ("Job", "litellm-migrations"), ("Service", "litellm"), ("NetworkPolicy", "litellm"),
                            ("PodDisruptionBudget", "litellm")}
    deployment = objects["Deployment", "litellm"]
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    proxy = pod["containers"][0]
    assert proxy["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert proxy["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    assert proxy["securityContext"] == {"allowPrivilegeEscalation": False, "privileged": False,
                                        "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                                        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    env = {e["name"]: e for e in proxy["env"]}
    assert env["DISABLE_SCHEMA_UPDATE"]["value"] == "true" and env["LITELLM_MODE"]["value"] == "PRODUCTION"
    assert all("valueFrom" in env[n] for n in ("LITELLM_MASTER_KEY", "LITELLM_SALT_KEY", "DATABASE_URL", "REDIS_URL"))
    job = objects["Job", "litellm-migrations"]["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["python", "-m", "litellm.proxy.prisma_migration"]
    assert objects["Service", "litellm"]["spec"]["type"] == "ClusterIP"
    assert objects["PodDisruptionBudget", "litellm"]["apiVersion"] == "policy/v1"


def test_the_object_graph_holds(built):
    objects = by_kind(built)
    deployment = objects["Deployment", "litellm"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    def selects(selector):
        return selector and all(pod_labels.get(k) == v for k, v in selector.items())

    assert selects(deployment["spec"]["selector"]["matchLabels"])
    assert selects(objects["Service", "litellm"]["spec"]["selector"])
    assert selects(objects["NetworkPolicy", "litellm"]["spec"]["podSelector"]["matchLabels"])
    assert selects(objects["PodDisruptionBudget", "litellm"]["spec"]["selector"]["matchLabels"])
    job_labels = objects["Job", "litellm-migrations"]["spec"]["template"]["metadata"]["labels"]
    assert not all(job_labels.get(k) == v for k, v in objects["Service", "litellm"]["spec"]["selector"].items())
    # Every ConfigMap a pod names is in the build (kustomize's hashed name); every Secret is documented.
    config_map = objects["ConfigMap", "litellm"]
    assert set(config_map["data"]) == {"config.yaml", "custom_callbacks.py"}
    for owner in (deployment, objects["Job", "litellm-migrations"]):
        spec = owner["spec"]["template"]["spec"]
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] == config_map["metadata"]["name"]
        assert spec["serviceAccountName"] == "litellm"
        named = {e["valueFrom"]["secretKeyRef"]["name"] for c in spec["containers"] for e in c.get("env", [])
                 if "valueFrom" in e}
        named |= {s["secretRef"]["name"] for c in spec["containers"] for s in c.get("envFrom", [])}
        assert named <= SECRETS


def test_the_apiserver_accepts_the_1_20_overlay(kube_apiserver, kube_namespace, gateway):
    overlay = kube_apiserver.kubectl("kustomize", str(gateway / "overlays" / "k8s-1.20")).stdout
    result = kube_apiserver.kubectl("apply", "--server-side", "--field-manager", "opsctl-test", "-n", kube_namespace,
                                    "-f", "-", input=overlay)
    assert result.stdout.count("serverside-applied") == 7, result.stdout
    pdb = kube_apiserver.kubectl_json("get", "poddisruptionbudgets.v1beta1.policy", "litellm", "-n", kube_namespace)
    assert pdb["spec"]["maxUnavailable"] == 1
    deployment = kube_apiserver.kubectl_json("get", "deployment", "litellm", "-n", kube_namespace)
    assert deployment["spec"]["replicas"] == 3
    # The server's defaults keep our hardening (nothing dropped or rewritten).
    stored = deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert stored["readOnlyRootFilesystem"] is True and stored["capabilities"] == {"drop": ["ALL"]}
    service = kube_apiserver.kubectl_json("get", "service", "litellm", "-n", kube_namespace)
    assert service["spec"]["type"] == "ClusterIP" and re.fullmatch(r"10\.\d+\.\d+\.\d+", service["spec"]["clusterIP"])
    # A re-apply is idempotent: the same objects, no conflict.
    again = kube_apiserver.kubectl("apply", "--server-side", "--field-manager", "opsctl-test", "-n", kube_namespace,
                                   "-f", "-", input=overlay)
    assert again.stdout.count("serverside-applied") == 7


def test_the_base_needs_the_overlay_on_1_20(kube_apiserver, kube_namespace, built):
    result = kube_apiserver.kubectl("apply", "--server-side", "-n", kube_namespace, "-f", "-", input=built, check=False)
    assert result.returncode != 0
    assert 'no matches for kind "PodDisruptionBudget" in version "policy/v1"' in result.stderr


def test_audit_passes_the_base(built):
    code, checks = audit(built)
    assert code == 0
    assert {c["status"] for c in checks.values()} == {"PASS"}, [c for c in checks.values() if c["status"] != "PASS"]
    assert len(checks) == 8


def mutate(text, change):
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        change(doc)
    return yaml.safe_dump_all(docs, sort_keys=False)


def proxy_container(doc):
    if doc["kind"] == "Deployment":
        return doc["spec"]["template"]["spec"]["containers"][0]
    return None


def load_balancer(doc):
    if doc["kind"] == "Service":
        doc["spec"]["type"] = "LoadBalancer"


def plaintext_master_key(doc):
    if (c := proxy_container(doc)):
        c["env"] = [e for e in c["env"] if e["name"] != "LITELLM_MASTER_KEY"]
        c["env"].append({"name": "LITELLM_MASTER_KEY", "value": "sk-1234"})


def no_schema_flag(doc):
    if (c := proxy_container(doc)):
        c["env"] = [e for e in c["env"] if e["name"] != "DISABLE_SCHEMA_UPDATE"]


def privileged(doc):
    if (c := proxy_container(doc)):
        c["securityContext"]["privileged"] = True


def three_replicas_without_redis(doc):
    if (c := proxy_container(doc)):
        doc["spec"]["replicas"] = 3
        c["env"] = [e for e in c["env"] if e["name"] != "REDIS_URL"]


@pytest.mark.parametrize("change, check_id, line_text", [
    (load_balancer, "k8s-service-exposure", "type: LoadBalancer"),
    (plaintext_master_key, "k8s-no-plain-secrets", "value: sk-1234"),
    (no_schema_flag, "k8s-proxy-env", "env:"),
    (privileged, "k8s-security-context", "privileged: true"),
    (three_replicas_without_redis, "k8s-replicas-redis", "replicas: 3"),
])
def test_audit_fails_each_break(built, change, check_id, line_text):
    text = mutate(built, change)
    code, checks = audit(text)
    assert code == 1
    assert checks[check_id]["status"] == "FAIL"
    assert [c for c, f in checks.items() if f["status"] == "FAIL"] == [check_id]
    evidence = checks[check_id]["evidence"][0]
    assert evidence["path"] == "<stdin>"
    assert text.splitlines()[evidence["line"] - 1].strip().lstrip("- ") == line_text.lstrip("- ")


def test_config_evidence_points_into_the_configmap(built):
    text = built.replace("master_key: os.environ/LITELLM_MASTER_KEY", "master_key: sk-literal")
    code, checks = audit(text)
    assert code == 1 and checks["k8s-no-plain-secrets"]["status"] == "FAIL"
    evidence = [e for e in checks["k8s-config-settings"]["evidence"] if "master_key" in e["text"]][0]
    assert "sk-literal" not in json.dumps(checks)  # a literal key is never echoed
    assert text.splitlines()[evidence["line"] - 1].strip() == "master_key: sk-literal"


def test_sarif_and_a_file(built, tmp_path):
    path = tmp_path / "rendered.yaml"
    path.write_text(mutate(built, load_balancer))
    result = opsctl("audit", "--manifests", str(path), "--format", "sarif", "--sarif", str(tmp_path / "out.sarif"))
    assert result.exit_code == 1
    sarif = json.loads(result.stdout)
    assert json.loads((tmp_path / "out.sarif").read_text()) == sarif
    [finding] = sarif["runs"][0]["results"]
    location = finding["locations"][0]["physicalLocation"]
    assert finding["ruleId"] == "k8s-service-exposure" and finding["level"] == "error"
    assert location["artifactLocation"]["uri"] == str(path)
    assert path.read_text().splitlines()[location["region"]["startLine"] - 1].strip() == "type: LoadBalancer"


@pytest.mark.parametrize("text, message", [
    ("a: &x [1]\nb: *x\n", "<stdin>:2: YAML aliases are not accepted in manifests"),
    ("kind: Service\n---\n- a\n", "<stdin>:3: not a Kubernetes object (a mapping)"),
    ("kind: Service\nspec: {type: [\n", "<stdin>:3: not valid YAML"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", "<stdin>:1: nested deeper than 64 levels"),
])
def test_bad_streams_are_one_line_errors(text, message):
    result = CliRunner().invoke(cli, ["audit", "--manifests", "-"], input=text)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {message}") and result.output.count("\n") == 1


def test_oversized_stream_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_BYTES + 1))
    result = CliRunner().invoke(cli, ["audit", "--manifests", str(path)])
    assert result.exit_code == 2 and f"manifests file {path} is larger than {MAX_BYTES} bytes" in result.output


CHART_VALUES = """\
replicaCount: 1
masterkey: sk-1234
image: {repository: ghcr.io/berriai/litellm-database, pullPolicy: Always, tag: ""}
service: {type: ClusterIP, port: 4000}
securityContext: {}
migrationJob: {enabled: true}
"""

CHART_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}-litellm}
spec:
  replicas: {{ .Values.replicaCount }}
  selector: {matchLabels: {app: litellm}}
  template:
    metadata: {labels: {app: litellm}}
    spec:
      containers:
        - name: litellm
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          securityContext: {{ toJson .Values.securityContext }}
          env:
            - name: PROXY_MASTER_KEY
              value: {{ .Values.masterkey | quote }}
---
apiVersion: v1
kind: Service
metadata: {name: {{ .Release.Name }}-litellm}
spec:
  type: {{ .Values.service.type }}
  selector: {app: litellm}
  ports: [{port: {{ .Values.service.port }}, protocol: TCP}]
"""


def test_a_chart_shaped_like_the_community_defaults_fails(kube_tools, tmp_path):
    """Not LiteLLM's chart (it cannot be fetched here): its default shape, master key in values."""
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text('apiVersion: v2\nname: litellm-helm\nversion: 0.1.0\nappVersion: "main-v1.108.7"\n')
    (chart / "values.yaml").write_text(CHART_VALUES)
    (chart / "templates" / "deployment.yaml").write_text(CHART_DEPLOYMENT)
    rendered = kube_tools.helm("template", "gw", str(chart)).stdout
    code, checks = audit(rendered)
    assert code == 1
    failing = {c for c, f in checks.items() if f["status"] == "FAIL"}
    assert failing == {"k8s-no-plain-secrets", "k8s-security-context", "k8s-proxy-env", "k8s-migrations-job"}
    assert "PROXY_MASTER_KEY set as a plain value" in checks["k8s-no-plain-secrets"]["evidence"][0]["text"]


def test_the_config_reaches_redis_through_redis_url_alone(monkeypatch, gateway):
    """The base's Secret has REDIS_URL and no REDIS_HOST/PORT/PASSWORD: LiteLLM (1.108.7) resolves the
    config's cache_params as proxy_server.py does (get_secret) and then falls back to REDIS_URL."""
    from litellm._redis import _get_redis_client_logic
    from litellm.secret_managers.main import get_secret

    monkeypatch.setenv("REDIS_URL", "rediss://:pw@redis.example:6380/0")
    for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    params = yaml.safe_load((gateway / "base" / "config.yaml").read_text())["litellm_settings"]["cache_params"]
    assert params["type"] == "redis"
    resolved = {k: get_secret(v[len("os.environ/"):]) if isinstance(v, str) and v.startswith("os.environ/") else v
                for k, v in params.items() if k in ("host", "port", "password")}
    assert resolved == {"host": None, "port": None, "password": None}
    assert _get_redis_client_logic(**resolved)["url"] == "rediss://:pw@redis.example:6380/0"


@pytest.mark.parametrize("value, plain", [
    ("sk-1234", True),
    ("$(DATABASE_PASSWORD)", False),
    ("postgresql://$(DATABASE_USERNAME):$(DATABASE_PASSWORD)@$(DATABASE_HOST)/$(DATABASE_NAME)", False),
    ("postgresql://litellm:NoTaGrEaTpAsSwOrD@gw-postgresql/litellm", True),
    ("redis://redis:6379/0", False),
    ("", False),
])
def test_a_url_is_a_secret_only_with_a_literal_password(built, value, plain):
    def database_url_value(doc):
        if (c := proxy_container(doc)):
            c["env"] = [e for e in c["env"] if e["name"] != "DATABASE_URL"] + [{"name": "DATABASE_URL", "value": value}]
    _, checks = audit(mutate(built, database_url_value))
    assert checks["k8s-no-plain-secrets"]["status"] == ("FAIL" if plain else "PASS")


def test_a_literal_upstream_key_in_the_config_fails(built):
    text = built.replace("api_key: os.environ/OPENAI_API_KEY", "api_key: eXaMpLeOnLy", 1)
    _, checks = audit(text)
    [evidence] = [e for e in checks["k8s-no-plain-secrets"]["evidence"] if "api_key" in e["text"]]
    assert checks["k8s-no-plain-secrets"]["status"] == "FAIL"
    assert text.splitlines()[evidence["line"] - 1].strip() == "api_key: eXaMpLeOnLy"
    assert "eXaMpLeOnLy" not in evidence["text"]


def test_the_in_cluster_data_overlay_builds_and_passes(kube_tools, gateway):
    text = kube_tools.kubectl("kustomize", str(gateway / "overlays" / "in-cluster-data")).stdout
    objects = by_kind(text)
    assert {("StatefulSet", "litellm-postgres"), ("Deployment", "litellm-redis"), ("Service", "litellm-postgres"),
            ("Service", "litellm-redis"), ("NetworkPolicy", "litellm-data")} <= set(objects)
    policy = objects["NetworkPolicy", "litellm-data"]["spec"]
    admitted = policy["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"]
    proxy_labels = objects["Deployment", "litellm"]["spec"]["template"]["metadata"]["labels"]
    job_labels = objects["Job", "litellm-migrations"]["spec"]["template"]["metadata"]["labels"]
    assert {proxy_labels["app.kubernetes.io/component"], job_labels["app.kubernetes.io/component"]} == set(admitted)
    code, checks = audit(text)
    assert code == 0 and {c["status"] for c in checks.values()} == {"PASS"}


def test_manifests_excludes_a_stack_dir(tmp_path):
    result = CliRunner().invoke(cli, ["audit", str(tmp_path), "--manifests", "-"], input="")
    assert result.exit_code == 2 and "--manifests excludes DIR and --live" in result.output


def test_init_k8s_json_and_no_diff(tmp_path):
    result = opsctl("init", str(tmp_path / "gw"), "--target", "k8s", "--json", "--dry-run")
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and not (tmp_path / "gw").exists()
    assert {f["action"] for f in report["files"]} == {"create"}
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "gw"), "--target", "k8s", "--diff"])
    assert result.exit_code == 2 and "work with --target compose only" in result.output
