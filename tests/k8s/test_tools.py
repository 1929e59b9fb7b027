"""kubectl's kustomize and helm from the cache, with no server behind them."""

import re

import yaml

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gateway
spec:
  replicas: 2
  selector:
    matchLabels: {app: gateway}
  template:
    metadata:
      labels: {app: gateway}
    spec:
      containers:
      - name: litellm
        image: litellm
        envFrom:
        - configMapRef: {name: gateway-env}
"""

KUSTOMIZATION = """\
namespace: llm
namePrefix: opsctl-
labels:
- pairs: {app.kubernetes.io/part-of: opsctl}
  includeSelectors: true
resources: [deployment.yaml]
configMapGenerator:
- name: gateway-env
  literals: [LITELLM_MODE=PRODUCTION]
images:
- name: litellm
  newName: localhost/litellm
  newTag: "1.108.7"
"""


def test_tool_versions(kube_tools):
    assert "Client Version: v1.31.9" in kube_tools.kubectl("version", "--client").stdout
    assert kube_tools.helm("version", "--short").stdout.startswith("v3.17.3+")


def test_kustomize_builds(kube_tools, tmp_path):
    (tmp_path / "deployment.yaml").write_text(DEPLOYMENT)
    (tmp_path / "kustomization.yaml").write_text(KUSTOMIZATION)
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(kube_tools.kubectl("kustomize", str(tmp_path)).stdout)}
    assert set(docs) == {"ConfigMap", "Deployment"}
    config_map, deployment = docs["ConfigMap"], docs["Deployment"]
    # The generated name carries a content hash, and the reference to it is rewritten.
    assert re.fullmatch(r"opsctl-gateway-env-[a-z0-9]{10}", config_map["metadata"]["name"])
    assert config_map["data"] == {"LITELLM_MODE": "PRODUCTION"}
    assert deployment["metadata"]["name"] == "opsctl-gateway"
    assert deployment["metadata"]["namespace"] == config_map["metadata"]["namespace"] == "llm"
    pod = deployment["spec"]["template"]
    assert pod["spec"]["containers"][0]["image"] == "localhost/litellm:1.108.7"
    assert pod["spec"]["containers"][0]["envFrom"] == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "gateway", "app.kubernetes.io/part-of": "opsctl"}
    assert pod["metadata"]["labels"] == {"app": "gateway", "app.kubernetes.io/part-of": "opsctl"}


def test_kustomize_missing_resource_fails(kube_tools, tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: [absent.yaml]\n")
    result = kube_tools.kubectl("kustomize", str(tmp_path), check=False)
    assert result.returncode != 0
    assert "absent.yaml" in result.stderr


def write_chart(root):
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: gateway\nversion: 0.1.0\nappVersion: \"1.108.7\"\n")
    (root / "values.yaml").write_text("replicas: 2\nimage:\n  repository: localhost/litellm\nmasterKeySecret: \"\"\n")
    (root / "templates" / "deployment.yaml").write_text("""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
  namespace: {{ .Release.Namespace }}
  labels:
    helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: litellm
        image: "{{ .Values.image.repository }}:{{ .Chart.AppVersion }}"
        env:
        - name: LITELLM_MASTER_KEY
          valueFrom:
            secretKeyRef:
              name: {{ required "masterKeySecret is required" .Values.masterKeySecret }}
              key: master-key
""")
    return root


def test_helm_template_renders(kube_tools, tmp_path):
    chart = write_chart(tmp_path / "gateway")
    kube_tools.helm("lint", str(chart), "--set", "masterKeySecret=gw-keys")
    out = kube_tools.helm("template", "edge", str(chart), "--namespace", "llm",
                          "--set", "replicas=3", "--set", "masterKeySecret=gw-keys").stdout
    (deployment,) = [doc for doc in yaml.safe_load_all(out) if doc]
    assert deployment["metadata"] == {"name": "edge-gateway", "namespace": "llm",
                                      "labels": {"helm.sh/chart": "gateway-0.1.0"}}
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "localhost/litellm:1.108.7"
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "gw-keys", "key": "master-key"}


def test_helm_template_required_value(kube_tools, tmp_path):
    chart = write_chart(tmp_path / "gateway")
    result = kube_tools.helm("template", "edge", str(chart), check=False)
    assert result.returncode == 1
    assert "masterKeySecret is required" in result.stderr
