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
    # Liveness from kopf; readiness from operator/readiness.py (the API server answers), on the port it is told.
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ready"}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"health": 8080, "ready": 8081, "metrics": 9090}  # Dockerfile.operator: --liveness on 8080
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in c["env"]}
    assert env["VIDEOJOB_WORKER_IMAGE"]["value"] == "ghcr.io/videojob/videojob-worker:0.1.0"
    assert env["VIDEOJOB_METRICS_PORT"]["value"] == "9090"
    assert env["VIDEOJOB_READY_PORT"]["value"] == str(ports["ready"])
    # The Redis password comes from the Secret and is declared before the URL that expands it.
    names = [e["name"] for e in c["env"]]
    assert names.index("VIDEOJOB_REDIS_PASSWORD") < names.index("VIDEOJOB_REDIS_URL")
    assert env["VIDEOJOB_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "vj-videojob-redis",
        "key": "redis-password",
    }
    assert env["VIDEOJOB_REDIS_URL"]["value"] == (
        "redis://:$(VIDEOJOB_REDIS_PASSWORD)@vj-videojob-redis.videojob-system.svc:6379/0"
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


def test_notes_name_no_file_of_the_repository(helm: Path) -> None:
    out = subprocess.run(
        [
            str(helm),
            "install",
            "videojob",
            str(CHART),
            "--dry-run=client",
            "-n",
            "media",
            "--set",
            "redis.enabled=true",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    notes = out.stdout.split("NOTES:", 1)[1]
    for path in ("deploy/", "charts/", "crds/", ".yaml"):
        assert path not in notes, path
    assert "rollout status deployment/videojob-operator" in notes and "helm test videojob" in notes


def names(objs: list[dict[str, Any]]) -> dict[str, set[str]]:
    return {kind: {o["metadata"]["name"] for o in items} for kind, items in kinds(objs).items()}


@pytest.mark.parametrize(
    ("release", "sets", "operator", "redis"),
    [
        ("videojob", (), "videojob-operator", "videojob-redis"),
        ("videojob-operator", (), "videojob-operator", "videojob-operator-redis"),
        ("media", (), "media-videojob-operator", "media-videojob-redis"),
        ("media", ("fullnameOverride=vj",), "vj-operator", "vj-redis"),
        ("media", ("nameOverride=frames",), "media-frames-operator", "media-frames-redis"),
    ],
)
def test_names_are_sane(render: Render, release: str, sets: tuple[str, ...], operator: str, redis: str) -> None:
    """Release `videojob` must not give videojob-videojob-operator-*; overrides name every object."""
    n = names(render("redis.enabled=true", *sets, release=release))
    assert n["Deployment"] == n["ServiceAccount"] == n["Role"] == n["RoleBinding"] == {operator}
    assert n["StatefulSet"] == n["NetworkPolicy"] == {redis}
    assert all("videojob-videojob" not in name for ns in n.values() for name in ns), n
    long = names(render("redis.enabled=true", release="a-long-release-name-for-the-media-team-in-prod"))
    assert all(len(name) <= 63 for ns in long.values() for name in ns), long
    assert max(len(x) for x in long["StatefulSet"]) <= 52  # its pods' controller-revision-hash label fits 63


def worker_image(render: Render, *sets: str) -> str:
    (dep,) = kinds(render(*sets))["Deployment"]
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    return str(env["VIDEOJOB_WORKER_IMAGE"])


def test_worker_image_tag_follows_app_version(render: Render, helm: Path) -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert worker_image(render) == f"ghcr.io/videojob/videojob-worker:{app_version}"
    assert worker_image(render, "worker.image.tag=1.2.3") == "ghcr.io/videojob/videojob-worker:1.2.3"
    assert worker_image(render, "worker.image.repository=reg.local/w") == f"reg.local/w:{app_version}"
    assert worker_image(render, "worker.image=reg.local/w@sha256:abc") == "reg.local/w@sha256:abc"  # 0.1's form
    assert lint(helm, "worker.image.tag=latest").returncode != 0


def test_extra_env_overrides_a_chart_set_variable(render: Render) -> None:
    (dep,) = kinds(
        render(
            "redis.enabled=true",
            "operator.extraEnv[0].name=VIDEOJOB_RESYNC_SECONDS",
            "operator.extraEnv[0].value=2",
            "operator.extraEnv[1].name=HTTPS_PROXY",
            "operator.extraEnv[1].value=http://proxy:3128",
            "operator.extraEnv[2].name=VIDEOJOB_WORKER_IMAGE",
            "operator.extraEnv[2].valueFrom.configMapKeyRef.name=images",
            "operator.extraEnv[2].valueFrom.configMapKeyRef.key=worker",
        )
    )["Deployment"]
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    order = [e["name"] for e in env]
    assert len(order) == len(set(order)), order  # one entry per name: server-side apply refuses duplicates
    by = {e["name"]: e for e in env}
    assert by["VIDEOJOB_RESYNC_SECONDS"] == {"name": "VIDEOJOB_RESYNC_SECONDS", "value": "2"}  # a string
    assert by["VIDEOJOB_WORKER_IMAGE"] == {
        "name": "VIDEOJOB_WORKER_IMAGE",
        "valueFrom": {"configMapKeyRef": {"name": "images", "key": "worker"}},
    }
    assert order[-1] == "HTTPS_PROXY"
    assert order.index("VIDEOJOB_REDIS_PASSWORD") < order.index("VIDEOJOB_REDIS_URL")


def test_redis_network_policy_admits_the_operator_and_segment_pods_only(render: Render) -> None:
    from videojob.operator.naming import labels

    k = kinds(render("redis.enabled=true", "watchNamespaces={media,team-b}"))
    (policy,) = k["NetworkPolicy"]
    (sts,) = k["StatefulSet"]
    (dep,) = k["Deployment"]
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["podSelector"]["matchLabels"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": "redis", "protocol": "TCP"}]
    operator_peer, *worker_peers = rule["from"]
    assert set(operator_peer) == {"podSelector"}  # the release namespace
    assert operator_peer["podSelector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert [p["namespaceSelector"]["matchLabels"] for p in worker_peers] == [
        {"kubernetes.io/metadata.name": "media"},
        {"kubernetes.io/metadata.name": "team-b"},
    ]
    for peer in worker_peers:
        wanted = peer["podSelector"]["matchLabels"].items()
        assert wanted <= labels("street", "segments").items()  # what the builders put on segment pods
        assert not wanted <= labels("street", "detect").items() and not wanted <= labels("street", "finalize").items()
    assert "NetworkPolicy" not in kinds(render("redis.enabled=true", "redis.networkPolicy.enabled=false"))
    assert "NetworkPolicy" not in kinds(render())


def test_helm_test_pod_asks_the_operator_service(render: Render) -> None:
    k = kinds(render())
    (pod,) = k["Pod"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (operator_svc,) = [s for s in k["Service"] if s["metadata"]["name"] == "vj-videojob-operator"]
    assert operator_svc["spec"]["ports"] == [{"name": "ready", "port": 8081, "targetPort": "ready", "protocol": "TCP"}]
    script = pod["spec"]["containers"][0]["args"][0]
    assert "http://vj-videojob-operator.videojob-system.svc:8081/readyz" in script
    assert "/apis/videojob.dev/v1alpha1" in script
    assert "Pod" not in kinds(render("tests.enabled=false"))


def test_artifact_hub_metadata_and_readme() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["icon"].endswith("icon.svg") and (CHART / "icon.svg").is_file()
    assert chart["sources"] and chart["maintainers"] and chart["home"]
    notes = chart["annotations"]
    crds = yaml.safe_load(notes["artifacthub.io/crds"])
    generated = yaml.safe_load((CHART / "crds" / "videojob.yaml").read_text())
    assert crds[0]["name"] == generated["metadata"]["name"] and crds[0]["kind"] == generated["spec"]["names"]["kind"]
    example = yaml.safe_load(notes["artifacthub.io/crdsExamples"])[0]
    assert example["apiVersion"] == f"{generated['spec']['group']}/{generated['spec']['versions'][0]['name']}"
    images = [i["image"] for i in yaml.safe_load(notes["artifacthub.io/images"])]
    assert all(i.endswith(f":{chart['appVersion']}") for i in images), images
    for key in ("artifacthub.io/changes", "artifacthub.io/links"):
        assert yaml.safe_load(notes[key])
    # The README's values table names every value (leaves of values.yaml; maps documented as a whole).
    readme = (CHART / "README.md").read_text()
    assert "kubectl apply --server-side -f videojob-operator/crds/" in readme and "Upgrade notes" in readme

    def leaves(x: Any, path: str = "") -> list[str]:
        if isinstance(x, dict) and x and path not in ("resources", "redis.resources", "dashboard.labels"):
            return [leaf for k, v in x.items() for leaf in leaves(v, f"{path}.{k}" if path else k)]
        return [path]

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [leaf for leaf in leaves(values) if f"| `{leaf}` |" not in readme]
    assert missing == []
