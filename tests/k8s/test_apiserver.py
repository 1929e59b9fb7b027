"""The real kube-apiserver 1.20 behind kubectl 1.31 and helm 3.17: what is served,
server-side apply, validation, RBAC, helm releases. No kubelet and no
kube-controller-manager: objects are stored and validated, nothing runs."""

import ipaddress
import json

import pytest

from tests.k8s.test_tools import write_chart
from tests.support.kube import SERVICE_CIDR

GATEWAY = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: gateway-env}
data: {LITELLM_MODE: PRODUCTION}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: gateway}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: gateway}}
  template:
    metadata: {labels: {app: gateway}}
    spec:
      automountServiceAccountToken: false
      containers:
      - name: litellm
        image: localhost/litellm:1.108.7
        envFrom: [{configMapRef: {name: gateway-env}}]
        ports: [{containerPort: 4000}]
---
apiVersion: v1
kind: Service
metadata: {name: gateway}
spec:
  selector: {app: gateway}
  ports: [{port: 4000, targetPort: 4000, protocol: TCP}]  # see test_service_port_protocol_is_required
"""


def gateway(replicas="2"):
    return GATEWAY.replace("REPLICAS", replicas)


def resources(kube, group_version):
    path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    listing = json.loads(kube.kubectl("get", "--raw", path).stdout)
    return sorted(r["kind"] for r in listing["resources"] if "/" not in r["name"])  # no subresources


def test_versions(kube_apiserver):
    versions = json.loads(kube_apiserver.kubectl("version", "-o", "json").stdout)
    assert versions["serverVersion"]["gitVersion"] == "v1.20.2"
    assert versions["clientVersion"]["gitVersion"] == "v1.31.9"


@pytest.mark.parametrize("group_version, kinds", [
    ("apps/v1", ["ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet"]),
    ("batch/v1", ["Job"]),  # CronJob is batch/v1beta1 only (batch/v1 CronJob came in 1.21)
    ("batch/v1beta1", ["CronJob"]),
    ("policy/v1beta1", ["PodDisruptionBudget", "PodSecurityPolicy"]),
    ("networking.k8s.io/v1", ["Ingress", "IngressClass", "NetworkPolicy"]),
    ("autoscaling/v2beta2", ["HorizontalPodAutoscaler"]),  # autoscaling/v2 came in 1.23
])
def test_served_kinds(kube_apiserver, group_version, kinds):
    assert resources(kube_apiserver, group_version) == kinds


def test_not_served_before_1_21(kube_apiserver):
    served = set(kube_apiserver.kubectl("api-versions").stdout.split())
    assert {"apps/v1", "batch/v1", "policy/v1beta1", "networking.k8s.io/v1"} <= served
    assert not served & {"policy/v1", "autoscaling/v2", "discovery.k8s.io/v1"}
    result = kube_apiserver.kubectl("apply", "--server-side", "-f", "-", check=False, input="""\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: gateway}
spec: {minAvailable: 1, selector: {matchLabels: {app: gateway}}}
""")
    assert result.returncode == 1
    assert 'no matches for kind "PodDisruptionBudget" in version "policy/v1"' in result.stderr


def test_server_side_apply_round_trip(kube_apiserver, kube_namespace):
    kube = kube_apiserver
    applied = kube.kubectl("apply", "--server-side", "--field-manager", "opsctl-test", "-n", kube_namespace,
                           "-f", "-", input=gateway()).stdout
    assert applied.split("\n")[:3] == ["configmap/gateway-env serverside-applied",
                                       "deployment.apps/gateway serverside-applied",
                                       "service/gateway serverside-applied"]
    deploy = kube.kubectl_json("get", "deploy", "gateway", "-n", kube_namespace, "--show-managed-fields")
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted by the server
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "localhost/litellm:1.108.7"
    assert container["envFrom"] == [{"configMapRef": {"name": "gateway-env"}}]
    assert [(f["manager"], f["operation"]) for f in deploy["metadata"]["managedFields"]] == [("opsctl-test", "Apply")]
    assert deploy["metadata"]["generation"] == 1
    assert deploy.get("status", {}) == {}  # no controller-manager: nobody reconciles it

    service = kube.kubectl_json("get", "service", "gateway", "-n", kube_namespace)
    assert ipaddress.ip_address(service["spec"]["clusterIP"]) in ipaddress.ip_network(SERVICE_CIDR)
    assert service["spec"]["ports"] == [{"port": 4000, "protocol": "TCP", "targetPort": 4000}]
    config_map = kube.kubectl_json("get", "configmap", "gateway-env", "-n", kube_namespace)
    assert config_map["data"] == {"LITELLM_MODE": "PRODUCTION"}

    # A change is a new generation; another manager taking the field is a conflict unless forced.
    kube.kubectl("apply", "--server-side", "--field-manager", "opsctl-test", "-n", kube_namespace, "-f", "-",
                 input=gateway("3"))
    deploy = kube.kubectl_json("get", "deploy", "gateway", "-n", kube_namespace)
    assert (deploy["spec"]["replicas"], deploy["metadata"]["generation"]) == (3, 2)
    other = ["apply", "--server-side", "--field-manager", "someone-else", "-n", kube_namespace, "-f", "-"]
    conflict = kube.kubectl(*other, input=gateway("1"), check=False)
    assert conflict.returncode == 1
    assert 'conflict with "opsctl-test": .spec.replicas' in conflict.stderr
    kube.kubectl(*other, "--force-conflicts", input=gateway("1"))
    assert kube.kubectl_json("get", "deploy", "gateway", "-n", kube_namespace)["spec"]["replicas"] == 1


def test_service_port_protocol_is_required(kube_apiserver, kube_namespace):
    """A 1.20 pitfall (fixed in later servers): server-side apply of a Service port without
    `protocol` is refused, though the server would default it to TCP."""
    service = gateway().split("---\n")[2].replace(", protocol: TCP", "")
    result = kube_apiserver.kubectl("apply", "--server-side", "-n", kube_namespace, "-f", "-", input=service, check=False)
    assert result.returncode == 1
    assert ('.spec.ports: element 0: associative list with keys has an element that omits key field "protocol"'
            in result.stderr)
    kube_apiserver.kubectl("apply", "-n", kube_namespace, "-f", "-", input=service)  # client-side apply takes it
    assert kube_apiserver.kubectl_json("get", "service", "gateway", "-n", kube_namespace)["spec"]["ports"][0]["protocol"] == "TCP"


def test_unknown_field_refused(kube_apiserver, kube_namespace):
    manifest = gateway().replace("  replicas: 2\n", "  replicas: 2\n  replicaz: 2\n")
    apply = ["apply", "--server-side", "-n", kube_namespace, "-f", "-"]
    by_kubectl = kube_apiserver.kubectl(*apply, input=manifest, check=False)
    assert by_kubectl.returncode == 1
    assert 'unknown field "replicaz" in io.k8s.api.apps.v1.DeploymentSpec' in by_kubectl.stderr
    by_server = kube_apiserver.kubectl(*apply, "--validate=false", input=manifest, check=False)
    assert by_server.returncode == 1
    assert "Error from server: failed to create typed patch object: .spec.replicaz: field not declared in schema" \
        in by_server.stderr
    assert kube_apiserver.kubectl("get", "deploy", "-n", kube_namespace, "-o", "name").stdout == ""


def test_invalid_value_refused_by_server(kube_apiserver, kube_namespace):
    result = kube_apiserver.kubectl("apply", "--server-side", "-n", kube_namespace, "-f", "-",
                                    input=gateway("-1"), check=False)
    assert result.returncode == 1
    assert '"gateway" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0' in result.stderr
    assert kube_apiserver.kubectl("get", "deploy", "-n", kube_namespace, "-o", "name").stdout == ""


def test_rbac_is_enforced(kube_apiserver, kube_namespace):
    kube, ns = kube_apiserver, kube_namespace
    robot = f"system:serviceaccount:{ns}:deployer"
    can_i = ["auth", "can-i", "patch", "deployments.apps", "-n", ns]
    assert kube.kubectl(*can_i).stdout.strip() == "yes"  # the admin: system:masters
    denied = kube.kubectl(*can_i, "--as", robot, check=False)
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")
    kube.kubectl("create", "role", "deployer", "-n", ns, "--verb=get,list,patch", "--resource=deployments.apps")
    kube.kubectl("create", "rolebinding", "deployer", "-n", ns, "--role=deployer", f"--serviceaccount={ns}:deployer")
    assert kube.kubectl(*can_i, "--as", robot).stdout.strip() == "yes"
    assert kube.kubectl("auth", "can-i", "delete", "deployments.apps", "-n", ns, "--as", robot,
                        check=False).stdout.strip() == "no"
    forbidden = kube.kubectl("get", "secrets", "-n", ns, "--as", robot, check=False)
    assert forbidden.returncode == 1
    assert f'User "{robot}" cannot list resource "secrets" in API group "" in the namespace "{ns}"' in forbidden.stderr


def test_pods_are_accepted_and_stay_pending(kube_apiserver, kube_namespace):
    kube, ns = kube_apiserver, kube_namespace
    # ServiceAccount admission needs the account; a token is only needed when it is mounted
    # (no controller-manager creates either here).
    refused = kube.kubectl("run", "p", "-n", ns, "--image=localhost/x:1", check=False)
    assert f'error looking up service account {ns}/default: serviceaccount "default" not found' in refused.stderr
    kube.kubectl("create", "serviceaccount", "default", "-n", ns)
    kube.kubectl("run", "p", "-n", ns, "--image=localhost/x:1",
                 "--overrides", '{"spec": {"automountServiceAccountToken": false}}')
    pod = kube.kubectl_json("get", "pod", "p", "-n", ns)
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"]


def test_helm_install_stores_a_release(kube_apiserver, kube_namespace, tmp_path):
    kube, ns = kube_apiserver, kube_namespace
    chart = write_chart(tmp_path / "gateway")
    kube.helm("install", "edge", str(chart), "-n", ns, "--set", "masterKeySecret=gw-keys")  # no --wait: nothing runs
    (release,) = json.loads(kube.helm("list", "-n", ns, "-o", "json").stdout)
    assert (release["name"], release["status"], release["chart"], release["app_version"]) == \
        ("edge", "deployed", "gateway-0.1.0", "1.108.7")
    deploy = kube.kubectl_json("get", "deploy", "edge-gateway", "-n", ns)
    assert deploy["spec"]["replicas"] == 2
    assert kube.kubectl("get", "secret", "-n", ns, "-o", "name").stdout.split() == ["secret/sh.helm.release.v1.edge.v1"]
