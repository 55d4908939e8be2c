"""The few API calls the controller makes, returning plain dicts (the same shape as the builders' manifests)."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from . import api

TIMEOUT = (5, 30)  # connect, read seconds: never hang a handler on a dead API server


def configure() -> None:
    """In-cluster credentials in a pod, else the kubeconfig (KUBECONFIG) like kubectl."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()


def _json(response: Any) -> dict[str, Any]:
    return json.loads(response.data)


class Kube:
    def __init__(self) -> None:
        client = kubernetes.client.ApiClient()
        self.core = kubernetes.client.CoreV1Api(client)
        self.batch = kubernetes.client.BatchV1Api(client)
        self.custom = kubernetes.client.CustomObjectsApi(client)

    def create(self, manifest: dict[str, Any]) -> bool:
        """Create a child; False when it exists already (a previous attempt or another replica made it)."""
        ns = manifest["metadata"]["namespace"]
        try:
            if manifest["kind"] == "Pod":
                self.core.create_namespaced_pod(ns, manifest, _request_timeout=TIMEOUT)  # type: ignore[arg-type]
            elif manifest["kind"] == "Job":
                self.batch.create_namespaced_job(ns, manifest, _request_timeout=TIMEOUT)  # type: ignore[arg-type]
            elif manifest["kind"] == "Secret":
                # RBAC grants `create` only, never get/list: an existing one (409) is left as it is.
                self.core.create_namespaced_secret(ns, manifest, _request_timeout=TIMEOUT)  # type: ignore[arg-type]
            else:
                raise ValueError(f"cannot create a {manifest['kind']}")
        except ApiException as e:
            if e.status == 409:
                return False
            raise
        return True

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _json(
                self.core.read_namespaced_pod(name, namespace, _preload_content=False, _request_timeout=TIMEOUT)
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        data = _json(
            self.core.list_namespaced_pod(
                namespace, label_selector=selector, _preload_content=False, _request_timeout=TIMEOUT
            )
        )
        return list(data.get("items") or [])

    def delete_pod(self, namespace: str, name: str, uid: str | None = None, grace_seconds: int | None = None) -> bool:
        """Delete a pod so that a fresh one can replace it; uid guards against a newer pod of the same name.
        grace_seconds None: the pod's own terminationGracePeriodSeconds (a finished pod goes at once in any case).
        False when it was gone already or is another pod now."""
        body = kubernetes.client.V1DeleteOptions(
            # In the body: with a body, the API server ignores the gracePeriodSeconds query parameter.
            grace_period_seconds=grace_seconds,
            preconditions=kubernetes.client.V1Preconditions(uid=uid),
        )
        try:
            self.core.delete_namespaced_pod(name, namespace, body=body, _request_timeout=TIMEOUT)
        except ApiException as e:
            if e.status not in (404, 409):
                raise
            return False
        return True

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _json(
                self.batch.read_namespaced_job(name, namespace, _preload_content=False, _request_timeout=TIMEOUT)
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def set_job_suspend(self, namespace: str, name: str, suspend: bool) -> None:
        self.batch.patch_namespaced_job(name, namespace, {"spec": {"suspend": suspend}}, _request_timeout=TIMEOUT)

    def delete_children(self, namespace: str, job_name: str, selector: str, names: list[str]) -> None:
        """Stop a deleted VideoJob's work now instead of waiting for the garbage collector to get round to it."""
        try:
            self.batch.delete_namespaced_job(
                job_name, namespace, propagation_policy="Background", _request_timeout=TIMEOUT
            )
        except ApiException as e:
            if e.status != 404:
                raise
        for name in names:
            self.delete_pod(namespace, name)
        self.core.delete_collection_namespaced_pod(namespace, label_selector=selector, _request_timeout=TIMEOUT)

    def delete_videojob(self, namespace: str, name: str, uid: str) -> None:
        body = kubernetes.client.V1DeleteOptions(
            propagation_policy="Background", preconditions=kubernetes.client.V1Preconditions(uid=uid)
        )
        try:
            self.custom.delete_namespaced_custom_object(
                api.GROUP, api.VERSION, namespace, api.PLURAL, name, body=body, _request_timeout=TIMEOUT
            )
        except ApiException as e:
            if e.status not in (404, 409):
                raise
