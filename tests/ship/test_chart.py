"""The Helm chart: lint, schema, rendered objects validated offline against Kubernetes' schemas, and what the
objects say (RBAC identical to deploy/manifests/rbac.yaml, restricted pods, probes, Redis auth, dashboard)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "videojob-operator"
Render = Callable[..., list[dict[str, Any]]]
KUBE_VERSION = "1.35.0"  # the harness's API server (tests/cluster/build-controlplane.sh)
VALIDATE = Path(sys.executable).with_name("kubernetes-validate")


def kinds(objs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for o in objs:
        out.setdefault(o["kind"], []).append(o)
    return out


def rbac_source() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((REPO / "deploy" / "manifests" / "rbac.yaml").read_text()) if d]
    return next(d for d in docs if d["kind"] == "ClusterRole")


def lint(helm: Path, *sets: str) -> subprocess.CompletedProcess[str]:
    args = [str(helm), "lint", str(CHART), "--strict"]
    for s in sets:
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_helm_lint(helm: Path) -> None:
    for sets in [
        (),
        ("redis.enabled=true", "storage.pvc.create=true"),
        ("clusterWide=false", "watchNamespaces={a,b}"),
        ("clusterWide=true", "watchNamespaces={a,b}"),
    ]:
        out = lint(helm, *sets)
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    "bad",
    ["image.tag=latest", "replicaCount=2", "metrics.port=8080", "redis.externalUrl=http://x", "surprise=1"],
)
def test_values_schema_rejects(helm: Path, bad: str) -> None:
    out = lint(helm, bad)
    assert out.returncode != 0 and "schema" in (out.stdout + out.stderr), out.stdout


VALUE_SETS = [
    (),
    ("redis.enabled=true", "storage.pvc.create=true", "storage.pvc.storageClassName=nfs-client"),
    ("clusterWide=false", "watchNamespaces={media,team-b}", "redis.externalUrlSecret.name=redis-ext"),
    ("clusterWide=true", "watchNamespaces={media,team-b}"),
    ("metrics.enabled=false", "dashboard.enabled=false", "serviceAccount.create=false", "serviceAccount.name=sa"),
]


@pytest.mark.parametrize("sets", VALUE_SETS, ids=lambda s: ",".join(s) or "defaults")
def test_rendered_chart_is_valid_kubernetes(render: Render, tmp_path: Path, sets: tuple[str, ...]) -> None:
    objs = render(*sets)
    path = tmp_path / "chart.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    out = subprocess.run(
        [str(VALIDATE), "--strict", "-k", KUBE_VERSION, str(path)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    passed = [ln for ln in out.stdout.splitlines() if " passed for resource " in ln]
    assert len(passed) == len(objs), out.stdout


def test_crd_in_chart_is_the_generated_one() -> None:
    assert (CHART / "crds" / "videojob.yaml").read_bytes() == (REPO / "crds" / "videojob.yaml").read_bytes()


def render_error(helm: Path, *sets: str) -> str:
    """What `helm template` says when it refuses the values (it must refuse them)."""
    args = [str(helm), "template", "vj", str(CHART), "--namespace", "videojob-system"]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0, out.stdout
    return out.stderr


def test_cluster_role_has_exactly_the_rules_of_rbac_yaml(render: Render) -> None:
    k = kinds(render("clusterWide=true", "watchNamespaces={media,team-b}"))
    (role,) = k["ClusterRole"]
    assert role["rules"] == rbac_source()["rules"]
    (binding,) = k["ClusterRoleBinding"]
    (sa,) = k["ServiceAccount"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "videojob-system"}
    ]
    assert "Role" not in k and "RoleBinding" not in k
    (dep,) = k["Deployment"]
    # Cluster-wide rights, but the operator handles VideoJobs in the listed namespaces only.
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"] == ["--namespace=media", "--namespace=team-b"]


def test_default_rbac_is_namespaced_to_the_release_namespace(render: Render) -> None:
    """D8: by default the operator gets a Role in its own namespace, nothing cluster-wide (no pods or Secrets in
    kube-system)."""
    k = kinds(render(namespace="vj-ops"))
    assert "ClusterRole" not in k and "ClusterRoleBinding" not in k
    (role,) = k["Role"]
    (binding,) = k["RoleBinding"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "vj-ops"
    assert role["rules"] == rbac_source()["rules"]
    (dep,) = k["Deployment"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"] == ["--namespace=vj-ops"]


def test_cluster_wide_mode_needs_an_explicit_list_of_namespaces(helm: Path) -> None:
    """D8: clusterWide: true never means every namespace: without watchNamespaces the render fails, saying why."""
    err = render_error(helm, "clusterWide=true")
    assert "clusterWide" in err and "watchNamespaces" in err, err


def test_external_redis_url_comes_from_a_secret(render: Render, helm: Path) -> None:
    """D7: the external Redis URL (password included) is never plain text in the operator's Deployment."""
    (dep,) = kinds(render("redis.externalUrlSecret.name=redis-ext", "redis.externalUrlSecret.key=url"))["Deployment"]
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VIDEOJOB_REDIS_URL"] == {
        "name": "VIDEOJOB_REDIS_URL",
        "valueFrom": {"secretKeyRef": {"name": "redis-ext", "key": "url"}},
    }
    (dep,) = kinds(render("redis.externalUrlSecret.name=redis-ext"))["Deployment"]
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VIDEOJOB_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "redis-ext", "key": "redis-url"}
    # A plain URL is refused, naming the way to give it.
    err = render_error(helm, "redis.externalUrl=redis://:pw@redis.example:6379/0")
    assert "redis.externalUrlSecret" in err and "plain text" in err, err
    assert "pw@" not in err


def test_namespaced_mode_gets_a_role_per_watched_namespace(render: Render) -> None:
    k = kinds(render("clusterWide=false", "watchNamespaces={media,team-b}"))
    assert "ClusterRole" not in k and "ClusterRoleBinding" not in k
    assert sorted(r["metadata"]["namespace"] for r in k["Role"]) == ["media", "team-b"]
    for role in k["Role"]:
        assert role["rules"] == rbac_source()["rules"]
    for rb in k["RoleBinding"]:
        assert rb["roleRef"]["kind"] == "Role"
        assert rb["subjects"][0]["namespace"] == "videojob-system"
    (dep,) = k["Deployment"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"] == ["--namespace=media", "--namespace=team-b"]
    # No list: the release namespace only.
    k = kinds(render("clusterWide=false", namespace="vj-ops"))
    assert [r["metadata"]["namespace"] for r in k["Role"]] == ["vj-ops"]


def test_operator_pod_is_restricted_probed_and_configured(render: Render) -> None:
    (dep,) = kinds(render("redis.enabled=true"))["Deployment"]
    spec = dep["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfiles' USER
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert c["image"] == "ghcr.io/videojob/videojob-operator:0.1.0"  # appVersion, never latest
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}  # Dockerfile.operator: --liveness on 8080, metrics on 9090
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in c["env"]}
    assert env["VIDEOJOB_WORKER_IMAGE"]["value"] == "ghcr.io/videojob/videojob-worker:0.1.0"
    assert env["VIDEOJOB_METRICS_PORT"]["value"] == "9090"
    # The Redis password comes from the Secret and is declared before the URL that expands it.
    names = [e["name"] for e in c["env"]]
    assert names.index("VIDEOJOB_REDIS_PASSWORD") < names.index("VIDEOJOB_REDIS_URL")
    assert env["VIDEOJOB_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "vj-videojob-operator-redis",
        "key": "redis-password",
    }
    assert env["VIDEOJOB_REDIS_URL"]["value"] == (
        "redis://:$(VIDEOJOB_REDIS_PASSWORD)@vj-videojob-operator-redis.videojob-system.svc:6379/0"
    )
    (off,) = kinds(render("metrics.enabled=false"))["Deployment"]
    env_off = {e["name"]: e.get("value") for e in off["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env_off["VIDEOJOB_METRICS_PORT"] == "0" and "VIDEOJOB_REDIS_URL" not in env_off


def test_redis_statefulset_auth_from_secret(render: Render) -> None:
    k = kinds(render("redis.enabled=true"))
    (secret,) = k["Secret"]
    assert set(secret["data"]) == {"redis-password"}
    (sts,) = k["StatefulSet"]
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    assert ":" in c["image"] and not c["image"].endswith(":latest")
    assert "requirepass $REDIS_PASSWORD" in c["args"][0]  # as config on stdin, not in argv
    assert "--save ''" in c["args"][0]
    assert c["env"][0]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    # An existing Secret instead: the chart creates none.
    k = kinds(render("redis.enabled=true", "redis.auth.existingSecret=mine"))
    assert "Secret" not in k
    assert (
        k["StatefulSet"][0]["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"]
        == "mine"
    )


def test_services_select_only_their_pods(render: Render) -> None:
    k = kinds(render("redis.enabled=true", "metrics.serviceMonitor.enabled=true"))
    pods = {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"] for o in k["Deployment"] + k["StatefulSet"]
    }
    for svc in k["Service"]:
        selected = [n for n, labels in pods.items() if svc["spec"]["selector"].items() <= labels.items()]
        assert len(selected) == 1, (svc["metadata"]["name"], selected)
    (metrics_svc,) = [s for s in k["Service"] if s["metadata"]["name"].endswith("-metrics")]
    (sm,) = k["ServiceMonitor"]
    assert sm["spec"]["selector"]["matchLabels"].items() <= metrics_svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == metrics_svc["spec"]["ports"][0]["name"]


def test_dashboard_configmap_for_the_grafana_sidecar(render: Render) -> None:
    (cm,) = kinds(render())["ConfigMap"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["videojob.json"])
    assert dashboard == json.loads((CHART / "dashboards" / "videojob.json").read_text())
    assert dashboard["panels"]


def test_pvc_create_or_reuse(render: Render) -> None:
    assert "PersistentVolumeClaim" not in kinds(render())
    (pvc,) = kinds(render("storage.pvc.create=true", "storage.pvc.storageClassName=longhorn"))["PersistentVolumeClaim"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["storageClassName"] == "longhorn"
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_notes_tell_how_to_submit_the_sample_job(helm: Path, tmp_path: Path) -> None:
    # `helm install --dry-run=client` renders NOTES.txt without a cluster.
    out = subprocess.run(
        [str(helm), "install", "vj", str(CHART), "--dry-run=client", "-n", "media", "--set", "storage.pvc.create=true"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    notes = out.stdout.split("NOTES:", 1)[1]
    assert "kind: VideoJob" in notes and "claimName: media" in notes and "videojob submit" in notes
    job = yaml.safe_load(textwrap.dedent(notes.split("apply -f -\n", 1)[1].split("     YAML", 1)[0]))
    assert job["kind"] == "VideoJob" and job["spec"]["input"] == {"claimName": "media", "path": "in/street.mp4"}
    assert job["spec"]["resources"]["gpuResourceName"] == "nvidia.com/gpu"
    assert job["spec"]["runtimeClassName"] == "nvidia"
