"""The few API calls the controller makes, returning plain dicts (the same shape as the builders' manifests)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from . import api
from .jobcache import JobCache, PodCache, matches_selector, pod_labels

TIMEOUT = (5, 30)  # connect, read seconds: never hang a handler on a dead API server


def configure() -> None:
    """In-cluster credentials in a pod, else the kubeconfig (KUBECONFIG) like kubectl."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()


def _json(response: Any) -> dict[str, Any]:
    return json.loads(response.data)


class ChildRefusedError(Exception):
    """The API server refused a child as invalid (400/422): retrying the same manifest can never succeed.
    str(e) is the server's message, which names the field (`spec.template.spec.tolerations[0].operator: ...`)."""


def _refusal(e: ApiException) -> str:
    try:
        return str(json.loads(e.body or "{}").get("message") or e.reason)
    except (TypeError, ValueError):
        return str(e.reason)


class Kube:
    def __init__(self, jobs: JobCache | None = None, pods: PodCache | None = None) -> None:
        self.jobs = jobs
        self.pods = pods
        client = kubernetes.client.ApiClient()
        self.core = kubernetes.client.CoreV1Api(client)
        self.batch = kubernetes.client.BatchV1Api(client)
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.coordination = kubernetes.client.CoordinationV1Api(client)

    def create(self, manifest: dict[str, Any]) -> bool:
        """Create a child; False when it exists already (a previous attempt or another replica made it)."""
        ns = manifest["metadata"]["namespace"]
        try:
            if manifest["kind"] == "Pod":
                self.core.create_namespaced_pod(ns, manifest, _request_timeout=TIMEOUT)  # type: ignore[arg-type]
            elif manifest["kind"] == "Job":
                started = time.monotonic()
                created = self.batch.create_namespaced_job(
                    ns,
                    manifest,  # type: ignore[arg-type]
                    _preload_content=False,
                    _request_timeout=TIMEOUT,
                )
                if self.jobs is not None:  # the next round reads it from here, before the watch delivers it
                    self.jobs.refresh(ns, manifest["metadata"]["name"], _json(created), started)
            elif manifest["kind"] == "Secret":
                # RBAC grants `create` only, never get/list: an existing one (409) is left as it is.
                self.core.create_namespaced_secret(ns, manifest, _request_timeout=TIMEOUT)  # type: ignore[arg-type]
            else:
                raise ValueError(f"cannot create a {manifest['kind']}")
        except ApiException as e:
            if e.status == 409:
                return False
            if e.status in (400, 422):
                raise ChildRefusedError(_refusal(e)) from None
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
        """From the pod watch's cache once a LIST seeded it (handlers/children.py), else a LIST: of every pod the
        watch covers in the namespace when there is a cache (it seeds every selector there), else of `selector`."""
        if self.pods is not None and (cached := self.pods.get(namespace, selector)) is not None:
            return cached
        listing = self.pods.covering if self.pods is not None and self.pods.covering else selector
        listed_at = time.monotonic()
        data = _json(
            self.core.list_namespaced_pod(
                namespace, label_selector=listing, _preload_content=False, _request_timeout=TIMEOUT
            )
        )
        items = list(data.get("items") or [])
        if self.pods is None:
            return items
        self.pods.seed(namespace, listing, items, listed_at)
        seeded = self.pods.get(namespace, selector)  # the LIST, and what the watch delivered since it began
        return [pod for pod in items if matches_selector(pod_labels(pod), selector)] if seeded is None else seeded

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

    def job_seen(self, namespace: str, name: str) -> bool:
        """Whether the Job watch (or a read) ever delivered this Job: one not seen is mostly one not made yet."""
        return self.jobs is not None and self.jobs.seen(namespace, name)

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """From the watch's cache when it has a fresh copy (handlers/children.py), else from the API server."""
        if self.jobs is not None and (cached := self.jobs.get(namespace, name)) is not None:
            return cached
        started = time.monotonic()
        try:
            job = _json(
                self.batch.read_namespaced_job(name, namespace, _preload_content=False, _request_timeout=TIMEOUT)
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        if self.jobs is not None:
            self.jobs.refresh(namespace, name, job, started)
        return job

    def patch_job_spec(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        """`suspend` and `parallelism`: the two fields of a running Job that a VideoJob's spec may change."""
        self.batch.patch_namespaced_job(name, namespace, {"spec": spec}, _request_timeout=TIMEOUT)

    def delete_job(self, namespace: str, name: str) -> bool:
        """Delete a Job and its pods (background propagation). False when it was gone already."""
        try:
            self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background", _request_timeout=TIMEOUT)
        except ApiException as e:
            if e.status != 404:
                raise
            return False
        return True

    def delete_children(self, namespace: str, job_name: str, selector: str, names: list[str]) -> None:
        """Stop a deleted VideoJob's work now instead of waiting for the garbage collector to get round to it."""
        for name in (job_name, *names):
            self.delete_job(namespace, name)
        self.core.delete_collection_namespaced_pod(namespace, label_selector=selector, _request_timeout=TIMEOUT)

    def patch_status(self, namespace: str, name: str, uid: str, status: dict[str, Any]) -> None:
        """A merge patch of the VideoJob's status subresource, for the VideoJob of this uid only. Raises when the
        API server refuses it, so that the caller keeps the old status as the truth and writes again."""
        body = {"metadata": {"uid": uid}, "status": status}  # a uid mismatch is a 409: never a newer namesake's
        self.custom.patch_namespaced_custom_object_status(
            api.GROUP, api.VERSION, namespace, api.PLURAL, name, body, _request_timeout=TIMEOUT
        )

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

    # ---- the output Lease (outputlock.py) and the Secret a VideoJob names for its Redis URL --------------------
    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _json(
                self.coordination.read_namespaced_lease(
                    name, namespace, _preload_content=False, _request_timeout=TIMEOUT
                )
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def create_lease(self, lease: dict[str, Any]) -> bool:
        """False when a Lease of that name exists already (409)."""
        try:
            ns = lease["metadata"]["namespace"]
            self.coordination.create_namespaced_lease(ns, lease, _request_timeout=TIMEOUT)  # type: ignore[arg-type]
        except ApiException as e:
            if e.status == 409:
                return False
            raise
        return True

    def replace_lease(self, lease: dict[str, Any]) -> bool:
        """An update guarded by metadata.resourceVersion: False when someone changed the Lease first (409)."""
        meta = lease["metadata"]
        try:
            name, ns = meta["name"], meta["namespace"]
            self.coordination.replace_namespaced_lease(name, ns, lease, _request_timeout=TIMEOUT)  # type: ignore[arg-type]
        except ApiException as e:
            if e.status in (404, 409):
                return False
            raise
        return True

    def delete_lease(self, namespace: str, name: str, resource_version: str) -> bool:
        """Delete the Lease only as it was read (precondition): never one another job has taken since."""
        body = kubernetes.client.V1DeleteOptions(
            preconditions=kubernetes.client.V1Preconditions(resource_version=resource_version)
        )
        try:
            self.coordination.delete_namespaced_lease(name, namespace, body=body, _request_timeout=TIMEOUT)
        except ApiException as e:
            if e.status in (404, 409):
                return False
            raise
        return True

    def get_videojob(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            group, version, plural = api.GROUP, api.VERSION, api.PLURAL
            found = self.custom.get_namespaced_custom_object(
                group, version, namespace, plural, name, _preload_content=False, _request_timeout=TIMEOUT
            )
            return _json(found)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def read_secret_key(self, namespace: str, name: str, key: str) -> str | None:
        """One key of a Secret, decoded; None when the Secret or the key is missing (or not readable as text)."""
        try:
            secret = _json(
                self.core.read_namespaced_secret(name, namespace, _preload_content=False, _request_timeout=TIMEOUT)
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        raw = (secret.get("data") or {}).get(key)
        try:
            return base64.b64decode(raw).decode() if raw else None
        except ValueError:  # not base64 of UTF-8 text: no URL
            return None
