"""Reading and creating a VideoJob's children through the Kubernetes API (create-if-absent, adopted)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import kopf
from kubernetes import client
from kubernetes.client.rest import ApiException

_api: client.ApiClient | None = None


def api() -> client.ApiClient:
    global _api
    if _api is None:
        from kubernetes import config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        _api = client.ApiClient()
    return _api


def as_dict(obj: Any) -> dict[str, Any]:
    return api().sanitize_for_serialization(obj)  # type: ignore[no-any-return]


def read_pod(namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return as_dict(client.CoreV1Api(api()).read_namespaced_pod(name, namespace))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def read_job(namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return as_dict(client.BatchV1Api(api()).read_namespaced_job(name, namespace))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def list_pods(namespace: str, selector: str) -> list[dict[str, Any]]:
    return [as_dict(p) for p in client.CoreV1Api(api()).list_namespaced_pod(namespace, label_selector=selector).items]


def create(manifest: dict[str, Any], owner: dict[str, Any]) -> bool:
    """Adopt and create; False when it already exists (a restart, or a retry of this tick)."""
    kopf.adopt(manifest, owner=owner)
    namespace = manifest["metadata"]["namespace"]
    try:
        if manifest["kind"] == "Pod":
            client.CoreV1Api(api()).create_namespaced_pod(namespace, manifest)
        else:
            client.BatchV1Api(api()).create_namespaced_job(namespace, manifest)
    except ApiException as exc:
        if exc.status == 409:
            return False
        if exc.status in (400, 403, 422):
            raise kopf.PermanentError(f"cannot create {manifest['kind']} {manifest['metadata']['name']}: "
                                      f"{exc.reason}: {_api_message(exc)}") from exc
        raise kopf.TemporaryError(f"creating {manifest['metadata']['name']} failed: {exc.reason}", delay=5) from exc
    return True


def patch_job_suspend(namespace: str, name: str, suspend: bool) -> None:
    client.BatchV1Api(api()).patch_namespaced_job(name, namespace, {"spec": {"suspend": suspend}})


def delete_pod(namespace: str, name: str) -> None:
    try:
        client.CoreV1Api(api()).delete_namespaced_pod(name, namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise


def delete_videojob(group: str, version: str, plural: str, namespace: str, name: str) -> None:
    try:
        client.CustomObjectsApi(api()).delete_namespaced_custom_object(group, version, namespace, plural, name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (_parse(end) - _parse(start)).total_seconds()


def _parse(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _api_message(exc: ApiException) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message", ""))[:300]
    except (ValueError, TypeError, AttributeError):
        return ""
