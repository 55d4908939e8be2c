"""The rendered chart applied as admin to the harness's real API server (tests/cluster): CRDs, RBAC and the
Deployment are accepted, the operator's pod passes the namespace's restricted Pod Security admission, and the
operator's ServiceAccount can do exactly what deploy/manifests/rbac.yaml grants, nothing else."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster.fixtures import KubeCluster

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "videojob-operator"
# What every authenticated identity may do (system:basic-user, system:discovery): not the chart's doing.
BUILTIN = {
    "selfsubjectreviews.authentication.k8s.io",
    "selfsubjectaccessreviews.authorization.k8s.io",
    "selfsubjectrulesreviews.authorization.k8s.io",
}


def helm_template(kube: KubeCluster, release: str, namespace: str, *sets: str) -> list[dict[str, Any]]:
    args = [str(kube.helm), "template", release, str(CHART), "-n", namespace, "--include-crds"]
    for s in ("replicaCount=0", "tests.enabled=false", *sets):  # no operator (nor helm test) pod runs here
        args += ["--set", s]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def rbac_rules() -> list[dict[str, Any]]:
    docs = yaml.safe_load_all((REPO / "deploy" / "manifests" / "rbac.yaml").read_text())
    return next(d for d in docs if d and d["kind"] == "ClusterRole")["rules"]


def expected_grants() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule in rbac_rules():
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                # kubectl's spelling: videojobs.videojob.dev/status
                base, _, sub = res.partition("/")
                name = (f"{base}.{group}" if group else base) + (f"/{sub}" if sub else "")
                out.setdefault(name, set()).update(rule["verbs"])
    return out


def can_i_list(kube: KubeCluster, sa: str, namespace: str) -> dict[str, set[str]]:
    """`kubectl auth can-i --list` as the ServiceAccount (admin impersonating it), as {resource: verbs}."""
    out = kube.kubectl("auth", "can-i", "--list", f"--as={sa}", "-n", namespace).stdout
    grants: dict[str, set[str]] = {}
    for line in out.splitlines()[1:]:
        cols = line.split()
        if not cols or cols[0].startswith("[") or cols[0].startswith("/"):
            continue  # non-resource URLs (/healthz, /version...)
        resource, verbs = cols[0], line[line.rindex("[") + 1 : line.rindex("]")].split()
        if resource not in BUILTIN:
            grants.setdefault(resource, set()).update(verbs)
    return grants


def can_i(kube: KubeCluster, sa: str, namespace: str, *what: str) -> bool:
    out = kube.kubectl("auth", "can-i", *what, f"--as={sa}", "-n", namespace, check=False)
    return out.stdout.strip() == "yes"


@pytest.fixture
def cleanup(kube: KubeCluster) -> Iterator[list[str]]:
    cluster_scoped: list[str] = []
    yield cluster_scoped
    for ref in cluster_scoped:
        kube.kubectl("delete", ref, "--ignore-not-found", check=False)


def apply(kube: KubeCluster, objs: list[dict[str, Any]], tmp: Path, *flags: str) -> str:
    path = tmp / f"objs-{len(list(tmp.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    return kube.kubectl("apply", "--server-side", "--force-conflicts", *flags, "-f", str(path)).stdout


def test_cluster_wide_chart_applies_and_grants_exactly_rbac_yaml(
    kube: KubeCluster, namespace: str, tmp_path: Path, cleanup: list[str]
) -> None:
    release = f"r{namespace[2:]}"
    # Cluster-wide rights are opt-in and need the list of namespaces the operator handles.
    objs = helm_template(kube, release, namespace, "clusterWide=true", f"watchNamespaces={{{namespace}}}")
    crds = [o for o in objs if o["kind"] == "CustomResourceDefinition"]
    assert [c["metadata"]["name"] for c in crds] == ["videojobs.videojob.dev"]
    apply(kube, crds, tmp_path)
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/videojobs.videojob.dev")
    rest = [o for o in objs if o["kind"] != "CustomResourceDefinition"]
    cleanup += [f"{o['kind'].lower()}/{o['metadata']['name']}" for o in rest if o["kind"].startswith("Cluster")]
    out = apply(kube, rest, tmp_path)
    for o in rest:
        assert f"{o['metadata']['name']} serverside-applied" in out, out

    fullname = f"{release}-videojob-operator"
    dep = yaml.safe_load(kube.kubectl("get", "deployment", fullname, "-n", namespace, "-o", "yaml").stdout)
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == fullname
    # The operator's pod as the ReplicaSet would create it: accepted by the namespace's restricted Pod Security
    # admission (enforced on Pods, so try the Pod itself, server-side dry run).
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": namespace},
        "spec": dep["spec"]["template"]["spec"],
    }
    dry = apply(kube, [pod], tmp_path, "--dry-run=server")
    assert "serverside-applied (server dry run)" in dry, dry

    sa = f"system:serviceaccount:{namespace}:{fullname}"
    assert can_i_list(kube, sa, namespace) == expected_grants()
    assert can_i_list(kube, sa, "default") == expected_grants()  # cluster-wide: every namespace
    assert can_i(kube, sa, namespace, "create", "jobs.batch")  # detect, segments and finalize are Jobs
    assert can_i(kube, sa, namespace, "patch", "videojobs.videojob.dev/status")
    assert can_i(kube, sa, namespace, "create", "secrets")  # each VideoJob's progress Secret
    assert can_i(kube, sa, namespace, "get", "secrets")  # the one spec.redis.urlSecretRef names; nothing more:
    assert can_i(kube, sa, namespace, "create", "leases.coordination.k8s.io")  # one writer per output
    for verb, resource in [
        ("delete", "nodes"),
        ("list", "secrets"),
        ("watch", "secrets"),
        ("update", "secrets"),
        ("patch", "secrets"),
        ("delete", "secrets"),
        ("create", "deployments"),
        ("update", "videojobs.videojob.dev"),
        ("get", "configmaps"),
    ]:
        assert not can_i(kube, sa, namespace, verb, resource), (verb, resource)
    assert not can_i(kube, sa, namespace, "create", "pods", "--subresource=exec")
    assert not can_i(kube, sa, namespace, "get", "pods", "--subresource=log")

    # The sample job NOTES.txt shows is a valid VideoJob for this CRD (server-side dry run).
    notes = subprocess.run(
        [str(kube.helm), "install", release, str(CHART), "--dry-run=client", "-n", namespace],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split("NOTES:", 1)[1]
    sample = yaml.safe_load(textwrap.dedent(notes.split("apply -f -\n", 1)[1].split("     YAML", 1)[0]))
    sample["metadata"]["namespace"] = namespace
    assert "serverside-applied (server dry run)" in apply(kube, [sample], tmp_path, "--dry-run=server")


def test_namespaced_chart_grants_only_the_watched_namespace(
    kube: KubeCluster, namespace: str, tmp_path: Path, cleanup: list[str]
) -> None:
    release = f"r{namespace[2:]}"
    objs = helm_template(kube, release, namespace, "clusterWide=false")
    rest = [o for o in objs if o["kind"] != "CustomResourceDefinition"]
    assert not [o for o in rest if o["kind"].startswith("Cluster")]
    apply(kube, rest, tmp_path)
    sa = f"system:serviceaccount:{namespace}:{release}-videojob-operator"
    assert can_i_list(kube, sa, namespace) == expected_grants()
    assert can_i_list(kube, sa, "default") == {}
    assert not can_i(kube, sa, "default", "create", "jobs.batch")
    assert can_i(kube, sa, namespace, "create", "jobs.batch")
